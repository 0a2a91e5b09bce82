// Package mmapwal is a memory-mapped, zero-copy write-ahead log.
//
// A [Log] is a directory of preallocated segment files mapped MAP_SHARED.
// An append frames the record (length, sequence, CRC-32C) and copies it
// straight into the mapping with a plain slice copy: no system call, no
// allocation. [Log.Sync] makes everything appended so far durable with
// msync (plus F_FULLFSYNC on macOS), and concurrent appenders share one flush
// (group commit). [Open] scans the log, finds the last valid record, and cuts
// a torn tail — or refuses to open, as [Options.Repair] says. Corruption is
// reported with the segment, the offset and the reason.
//
// # Basics
//
//	l, err := mmapwal.Open("/var/lib/app/wal", nil) // nil: SyncAlways, 64 MiB segments
//	if err != nil { … }
//	defer l.Close()
//
//	seq, err := l.Append([]byte("record"))       // durable when it returns (SyncAlways)
//	first, err := l.AppendBatch(records)          // all or nothing after a crash
//	err = l.AppendSeq(100, []byte("at 100"))      // caller-chosen sequences, gaps allowed
//
//	r, err := l.Reserve(n)                        // zero copy: write into the mapping
//	fill(r.Bytes())
//	seq, err = r.Commit()
//
//	b, err := l.Read(seq)                         // a copy
//	err = l.View(seq, func(b []byte) error { … }) // no copy
//	it, err := l.NewIterator(l.FirstSeq())        // replay
//	for it.Next() { apply(it.Seq(), it.Value()) }
//
//	err = l.TruncateFront(seq)                    // drop records < seq (compaction)
//	err = l.TruncateBack(seq)                     // drop records > seq (Raft conflicts)
//	err = l.Reset(next)                           // drop every record; the next takes next (Raft snapshot install)
//
// Sequences start at 1 and increase; Append takes LastSeq()+1. Under
// [SyncManual] and [SyncInterval] an append returns as soon as the record is
// in the mapping; [Log.Sync] or [Log.WaitDurable] make it durable. A record
// is acknowledged once a call that covers it returned nil: a SyncAlways
// append, Sync, WaitDurable or Close.
//
// # Durability
//
// An acknowledged record survives a process crash, a kernel crash and a
// power cut, byte for byte, provided the disk honours flushes and writes a
// 512-byte sector that holds synced bytes atomically (old or new, never
// garbage: the powersafe-overwrite assumption). Recovery never invents,
// reorders or leaves holes in records: it returns a prefix of what was
// appended. A batch is all or nothing.
//
// Recovery tells a torn tail from corruption: every frame carries the offset
// up to which its segment was durable when it was written, and Close writes a
// durable mark. Invalid bytes are a torn tail only when nothing after them
// proves them durable; then they held no acknowledged record, and
// [TruncatePartial] copies them to a quarantine file and cuts them. Anything
// else is [ErrCorrupt] under every policy: an acknowledged record is never
// silently dropped. What cannot be detected: without a clean Close, damage to
// the newest synced records that no later frame proves durable looks exactly
// like a torn write (and is cut); a frame replaced by another valid frame of
// the same log, segment and position.
//
// Open does not read everything. In a format version 2 log each sealed
// segment ends with a seal whose place the next segment's header records,
// so a writable Open checks only those headers and seals, and scans the
// newest segment (up to the durable mark of a clean Close); the frames of
// the sealed segments are checked (checksums, sequences, nothing after the
// seal) when a read, an iterator or a truncation first needs them, or by
// [Log.Verify]; an iterator checks them a few hundred KiB at a time ahead
// of the records it returns, so that a replay reads each byte once while
// it is in the CPU's cache. Damage found then is a [*CorruptionError]
// (Durable) from that call: the damaged record and the ones after it in
// its segment are never returned, and an iterator stops there. [RecoveryReport.Deferred]
// counts the segments left so; a ReadOnly open (salvage) scans them all,
// and so does Open of a version 1 log. Non-zero bytes after a clean Close's
// durable mark are found by Verify only.
//
// A failed msync or fdatasync poisons the log: the kernel may already have
// marked the pages clean, so a retry could "succeed" without the data on the
// disk. Every later write fails with [ErrPoisoned]; reads keep working; Close
// releases. Reopening in the same process evicts the segments' cached pages
// first, so what is read back is what the disk holds.
//
// # Live readers
//
// An iterator can follow the log as it grows. [Iterator.NextWait] is Next,
// but blocks until a record is appended (or ctx is done, the log is closed,
// or a truncation ends the iterator):
//
//	it, err := l.NewIteratorWith(applied+1, &mmapwal.IteratorOptions{DurableOnly: true})
//	defer it.Close()
//	for it.NextWait(ctx) {
//		apply(it.Seq(), it.Value())
//	}
//	if errors.Is(it.Err(), mmapwal.ErrTruncated) { … } // records it returned were cut
//
// [IteratorOptions.DurableOnly] stops at DurableSeq: such an iterator never
// returns a record a crash could take back. No goroutine runs per waiting
// iterator; with none, an append pays one atomic load for them. The errors
// that end an iterator are sticky; a ctx error is not (the next NextWait
// waits again).
//
// Another process follows the same log with [OpenFollower]: it takes no
// lock and never blocks the writer. Its iterators (the same [Iterator]
// type) map the segments read-only and return checked copies, because the
// writer may zero or rewrite bytes under them: every record is copied into
// a buffer the iterator owns and its checksum verified on the copy. The
// writer tells followers what changed, and wakes them, through the control
// area, a small file (CONTROL) it rebuilds at every Open and never syncs
// (FORMAT.md §9.6): truncations (an epoch), DurableSeq, a futex word. A
// follower re-validates the last record it returned whenever the epoch or
// the writer changes, so a record later cut — by TruncateBack, Reset or the
// torn-tail repair of the next writer's recovery — ends it with
// [ErrTruncated], never with a different record at the same sequence; a
// DurableOnly follower never sees a record recovery can cut. Without a
// control area it can trust (none, or one the lock holder does not
// maintain: an older writer) a follower reads the frames alone and polls
// every [FollowerOptions.PollInterval]. Followers survive the writer's
// restarts, rotation and every truncation, and read a log no writer has
// open. A writer without a control area (an older version, or one that
// could not lock CONTROL) that cuts and rewrites records between two
// writers of this one, or after a clean Close, does not hide its cut
// either: the area's fingerprint of what it last published no longer
// matches the log, and the follower checks the records it returned by
// checksum (FORMAT.md §9.6 says what remains unseen).
//
// # Files
//
// The directory holds LOCK (the writer's flock), META (the log's identity and
// truncation state), CONTROL (the live readers' control area), segment files named by number (0000000000000001.wal,
// 0000000000000002.wal, …) and, after a repair, quarantine files
// (0000000000000007.wal.torn-0000000000001a40 holds the bytes cut from
// segment 7 at offset 0x1a40). With [Options.RecycleSegments], files that
// TruncateFront removed wait in a pool for reuse as later segments, named
// by the number they last held (recycle-0000000000000003.wal); a recycled
// segment's bytes after its frames are stale frames of older numbers,
// which never validate under its own. FORMAT.md at the repository root
// documents the on-disk format and its versioning.
//
// # Caveats
//
// Slices returned by [Log.View] and [Iterator.Value] point into the mapping.
// They are read-only, valid only inside the View callback or until the
// iterator's next Next or Close, and must not be kept: after a truncation or
// Close unmaps the segment, touching them faults (a crash, not a recoverable
// panic). The library's own reads of the mapping are guarded: a segment file
// truncated by another program yields [ErrCorrupt] with [ReasonIOFault], not a
// crash.
//
// Readers see every appended record, durable or not.
//
// Segments are preallocated with fallocate, so a full disk is an [ErrNoSpace]
// error when a new segment is prepared, never a SIGBUS. Supported and tested
// filesystems: ext4, xfs and tmpfs on Linux, and btrfs with NOCOW, which Open
// sets on a new log directory. Where a store into preallocated space may
// still need new space — zfs, bcachefs, a btrfs directory or segment without
// NOCOW, a segment whose extents a reflink copy or a snapshot shares and the
// filesystem cannot unshare — a writable Open (or the rotation that would
// activate the segment) fails with a [*FilesystemError], which matches
// errors.ErrUnsupported.
package mmapwal
