package mmapwal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// Segment recycling (Options.RecycleSegments, FORMAT.md §9.7). A segment
// that TruncateFront removes is renamed into a pool instead of deleted,
// and rotation reuses a pool file as the next segment: its extents are
// written already, so its pages fault in without allocation and
// fdatasync converts no extent. The rules that keep stale bytes from
// ever being read as records:
//
//   - Only TruncateFront's files are pooled: their numbers are below the
//     first segment, and new segments are numbered above the newest, so a
//     file only ever gets a number above every number it held (its stale
//     frames, seeded by those numbers, never validate under the new one).
//     A pool file is taken only for a number above the one its name
//     records; TruncateBack and Reset delete their files, as before.
//   - A pool file becomes a segment by a complete header (first seq, the
//     previous segment's seal, FlagRecycled) and a zero frame header after
//     it, synced, then a rename and a directory sync (segment.Recycle):
//     never by an in-place activation whose torn header would stand in
//     front of stale bytes.
//   - The writer keeps a zero frame header after the last frame of a
//     recycled segment (segment.File.EndHeader) and flushes it with the
//     frames (EndHeaderEnd): the clean end, in front of the stale bytes.
//   - META records (feature bit metaRecycled) that the log may hold
//     recycled segments before the first one is renamed into place.

// poolPrefix and poolSuffix frame the name of a pool file:
// "recycle-" + the 16 hex digits of the segment number the file last held
// + ".wal" (FORMAT.md §1). No segment has such a name.
const (
	poolPrefix = "recycle-"
	poolSuffix = ".wal"
)

// poolName is the name of the pool file that last held segment num.
func poolName(num uint64) string { return fmt.Sprintf("%s%016x%s", poolPrefix, num, poolSuffix) }

// parsePoolName returns the segment number a pool file's name records.
func parsePoolName(name string) (uint64, bool) {
	hex, ok := strings.CutPrefix(name, poolPrefix)
	if !ok {
		return 0, false
	}
	hex, ok = strings.CutSuffix(hex, poolSuffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	return n, err == nil && n > 0 && poolName(n) == name
}

// openPool adopts the pool files a previous writer left, at a writable
// Open after recovery: it keeps at most Options.RecycleSegments of them
// (the most recently pooled, with the highest numbers), each a regular
// file of the current SegmentSize whose number is below the next segment's,
// with its header zeroed again, and deletes the others. A failed deletion only leaves a file no one
// reuses. Writer only.
func (l *Log) openPool() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	removed := false
	// ReadDir sorts by name, so by number: the newest last.
	var keep []uint64
	for i := len(ents) - 1; i >= 0; i-- {
		e := ents[i]
		num, ok := parsePoolName(e.Name())
		if !ok {
			continue
		}
		info, err := e.Info()
		good := err == nil && info.Mode().IsRegular() && info.Size() == l.opts.SegmentSize && num < l.nextNum
		// A crash between poolOrRemove's rename and its PoolHeader left
		// the file's segment header in place: a reader elsewhere that
		// still maps it would take it for the segment until it is
		// reused. Zero it again; a file that cannot be zeroed is not kept.
		if good && len(keep) < l.opts.RecycleSegments && segment.PoolHeader(filepath.Join(l.dir, e.Name())) == nil {
			keep = append(keep, num)
			continue
		}
		if err := sysutil.Remove(filepath.Join(l.dir, e.Name())); err == nil {
			removed = true
		}
	}
	for i, j := 0, len(keep)-1; i < j; i, j = i+1, j-1 {
		keep[i], keep[j] = keep[j], keep[i]
	}
	l.pool = keep
	l.st.pooled.Store(int64(len(l.pool)))
	if removed {
		return sysutil.SyncDir(l.dir)
	}
	return nil
}

// poolOrRemove takes s, a segment TruncateFront dropped and retired, out
// of the directory: into the pool when there is room, it has the current
// SegmentSize and nothing of this Log pinned it when it was retired (idle),
// else deleted. The directory is synced after it, in either case. Writer
// only.
func (l *Log) poolOrRemove(s *seg, idle bool) error {
	if !idle || len(l.pool) >= l.opts.RecycleSegments || s.size != l.opts.SegmentSize || s.num >= l.nextNum {
		if err := sysutil.Remove(s.path); err != nil {
			return err
		}
		return sysutil.SyncDir(l.dir)
	}
	to := filepath.Join(l.dir, poolName(s.num))
	if err := sysutil.Rename(s.path, to); err != nil {
		return err
	}
	if err := sysutil.SyncDir(l.dir); err != nil {
		return err
	}
	// A reader elsewhere that still maps the file must find it no longer
	// the segment (segment.File.Linked); if that fails, the file is not
	// pooled.
	if err := segment.PoolHeader(to); err != nil {
		sysutil.Remove(to)
		return nil
	}
	l.pool = append(l.pool, s.num)
	l.st.pooled.Store(int64(len(l.pool)))
	return nil
}

// usablePool drops from the pool, deleting them, the files that may not
// become segment num: a file is never reused under a number at or below
// one it held (its name records the highest). It reports whether one is
// left. Writer only.
func (l *Log) usablePool(num uint64) bool {
	for len(l.pool) > 0 && l.pool[len(l.pool)-1] >= num {
		sysutil.Remove(filepath.Join(l.dir, poolName(l.pool[len(l.pool)-1])))
		l.pool = l.pool[:len(l.pool)-1]
	}
	l.st.pooled.Store(int64(len(l.pool)))
	return len(l.pool) > 0
}

// takePool takes the most recently pooled file out of the pool and returns
// its path; usablePool said it may become the next segment. Writer only.
func (l *Log) takePool() string {
	p := l.pool[len(l.pool)-1]
	l.pool = l.pool[:len(l.pool)-1]
	l.st.pooled.Store(int64(len(l.pool)))
	return filepath.Join(l.dir, poolName(p))
}

// canRecycle reports whether rotation reuses a pool file for the next
// segment: the pool has one, the log is at format version 2 (a version 1
// log that Close rotates stays version 1, FORMAT.md §9.4), and no segment
// was prepared for it in the background (that one is used first). Writer
// only.
func (l *Log) canRecycle() bool {
	return l.meta.version >= metaVersion && !l.prep.has(l.nextNum) && l.usablePool(l.nextNum)
}

// prepareNext starts preparing the next segment in the background, unless
// rotation will reuse a pool file for it. Writer only.
func (l *Log) prepareNext() {
	if len(l.pool) == 0 {
		l.prep.start(l.nextNum)
	}
}

// markRecycled makes META record, durably, that the log may hold recycled
// segments, before the first one is renamed into place: a reader that
// does not implement them refuses the log from then on. A replacement in
// doubt poisons the log (as TruncateFront's): this process no longer
// knows which META a reopen reads. Writer only.
func (l *Log) markRecycled() error {
	if l.meta.recycled {
		return nil
	}
	m := l.meta
	m.recycled = true
	if err := writeMeta(l.dir, m); err != nil {
		if errors.Is(err, errMetaInDoubt) {
			return l.setPoison(err)
		}
		return mapNoSpace(err)
	}
	l.meta = m
	return nil
}

// rotateRecycled is rotate with a pool file as the next segment: seal and
// sync the active segment, then make the pool file the next segment whole
// (segment.Recycle: header, zero frame header, sync, rename, directory
// sync) before it takes a record. A failure before the rename leaves the
// log usable (the sealed segment rotates again at the next write) and the
// pool file deleted; one after it poisons the log (a segment file is in
// place that this Log does not hold). Writer only.
func (l *Log) rotateRecycled() error {
	if err := l.markRecycled(); err != nil {
		return err
	}
	old := l.active
	if err := l.writeSealLocked(old); err != nil {
		return err
	}
	if err := l.syncSegLocked(old); err != nil {
		return err
	}
	num, last := l.nextNum, l.last.Load()
	from := l.takePool()
	path := filepath.Join(l.dir, segment.Name(num))
	h := segment.Header{Version: segment.Version, Flags: segment.FlagRecycled, LogID: l.meta.logID,
		Number: num, FirstSeq: last + 1, Size: l.opts.SegmentSize}
	if old.seal != 0 {
		h.Flags |= segment.FlagPrevSealed
		h.PrevSeal = uint32(old.seal)
	}
	f, err := segment.Recycle(from, path, h)
	if err != nil {
		if _, serr := os.Lstat(path); !errors.Is(serr, fs.ErrNotExist) {
			return l.setPoison(err)
		}
		sysutil.Remove(from)
		return mapNoSpace(err)
	}
	if testHookCreated != nil {
		testHookCreated(path)
	}
	if l.prep.cfg.smallPages {
		f.SmallPages() // a failure only costs large folios
	}
	f.PrefaultAsync(segment.HeaderSize, h.Size, segment.HeaderSize+prefaultAhead)
	l.rotated(old, l.segFromFile(f))
	l.st.recycled.Add(1)
	return nil
}
