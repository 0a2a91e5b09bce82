package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// File is one open, mapped segment file.
//
// The mapping is returned by [File.Data]; the engine copies frames into it
// and readers slice it. A File does no locking of its own.
type File struct {
	path     string
	f        *os.File
	data     []byte
	hdr      Header
	seed     uint32
	writable bool
	// fileSize is the file's size when it was opened: more than hdr.Size
	// when something extended the file past its segment (those bytes are
	// no segment's; a removal must quarantine them).
	fileSize int64
	prefault *prefaulter // the background population under way (see PrefaultAsync), or nil
	asked    bool        // Prefault or PrefaultAsync was called (see Prefaulted)
}

// Create makes a new segment file at path, ready to take frames: it creates
// the file (failing if it exists), preallocates its full size with fallocate
// (never sparse: a store into a hole of a mapped file on a full disk raises
// SIGBUS), writes the header, syncs the file and its directory, and maps it
// read-write. h.Size is the file size.
//
// On any error nothing is left behind: the partial file is removed, so a
// full disk (an error wrapping ENOSPC) never leaves a segment that would
// break a later Open.
func Create(path string, h Header) (_ *File, err error) {
	if h.Size < MinSize || h.Size > MaxSize || h.Size%Alignment != 0 {
		return nil, fmt.Errorf("segment: size %d out of range [%d, %d]", h.Size, MinSize, MaxSize)
	}
	f, err := sysutil.Create(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if err := sysutil.Fallocate(f, h.Size); err != nil {
		return nil, fmt.Errorf("segment: preallocate %s: %w", path, err)
	}
	var hb [HeaderSize]byte
	EncodeHeader(hb[:], h)
	if _, err := f.WriteAt(hb[:], 0); err != nil {
		return nil, fmt.Errorf("segment: write header %s: %w", path, err)
	}
	if err := sysutil.Fdatasync(f); err != nil {
		return nil, fmt.Errorf("segment: sync %s: %w", path, err)
	}
	if err := sysutil.SyncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("segment: sync directory of %s: %w", path, err)
	}
	return mapFile(path, f, h, true)
}

// Alignment is the alignment segment sizes must have (that of frames).
const Alignment = crcframe.Alignment

// Open maps an existing segment file and checks its header: the magic, the
// version, the header CRC, that it belongs to the log logID, that its number
// is number, and that the file is as long as the header says. Errors that
// concern the file's content are crcframe reasons (errors.Is works) wrapped
// with the path.
func Open(path string, number uint64, logID [16]byte, writable bool) (_ *File, err error) {
	f, err := sysutil.OpenFile(path, writable)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	var hb [HeaderSize]byte
	n, _ := f.ReadAt(hb[:], 0)
	h, err := DecodeHeader(hb[:n])
	if err != nil {
		return nil, &Error{Path: path, Offset: 0, Reason: reasonOf(err)}
	}
	switch {
	case h.LogID != logID:
		return nil, &Error{Path: path, Reason: crcframe.ForeignSegment}
	case h.Number != number:
		return nil, &Error{Path: path, Reason: crcframe.SegmentNumberMismatch}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < h.Size {
		return nil, &Error{Path: path, Offset: st.Size(), Reason: crcframe.SegmentShort}
	}
	s, err := mapFile(path, f, h, writable)
	if s != nil {
		s.fileSize = st.Size()
	}
	return s, err
}

func mapFile(path string, f *os.File, h Header, writable bool) (*File, error) {
	data, err := sysutil.Mmap(f, int(h.Size), writable)
	if err != nil {
		return nil, fmt.Errorf("segment: map %s: %w", path, err)
	}
	return &File{
		path:     path,
		f:        f,
		data:     data,
		hdr:      h,
		seed:     crcframe.Seed(h.LogID, h.Number),
		writable: writable,
		fileSize: h.Size,
	}, nil
}

// Error is a problem with a segment's content, at an offset.
type Error struct {
	Path   string
	Offset int64
	Reason crcframe.Reason
}

func (e *Error) Error() string {
	return fmt.Sprintf("segment %s: offset %d: %s", e.Path, e.Offset, e.Reason)
}

// Unwrap returns the Reason, so errors.Is(err, crcframe.BadMagic) works.
func (e *Error) Unwrap() error { return e.Reason }

func reasonOf(err error) crcframe.Reason {
	var r crcframe.Reason
	if errors.As(err, &r) {
		return r
	}
	return crcframe.IOFault
}

// Path returns the file's path.
func (s *File) Path() string { return s.path }

// Header returns the segment's header as it was opened or last activated.
func (s *File) Header() Header { return s.hdr }

// Seed returns the checksum seed of the segment's frames.
func (s *File) Seed() uint32 { return s.seed }

// Size returns the segment's size in bytes.
func (s *File) Size() int64 { return s.hdr.Size }

// FileSize returns the file's size when it was opened or created: more than
// Size when the file was extended past its segment.
func (s *File) FileSize() int64 { return s.fileSize }

// Data returns the whole mapping. It is valid until Close; writes to it go
// to the file (MAP_SHARED) and are durable after Sync.
func (s *File) Data() []byte { return s.data }

// Activate rewrites the header with the first sequence the segment will
// hold. The header reaches the disk with the segment's next Sync.
func (s *File) Activate(firstSeq uint64) {
	s.hdr.FirstSeq = firstSeq
	EncodeHeader(s.data[:HeaderSize], s.hdr)
}

// ActivateAfterSeal is Activate for a segment that follows a sealed one
// (format version 2): it rewrites the header as version 2 with first seq
// firstSeq and, when seal is not 0, FlagPrevSealed and the offset of the
// previous segment's seal frame. The caller syncs the header
// before any frame enters the segment (Sync(0, HeaderSize)), so that the record that the
// previous segment must end with its seal is durable before this segment
// holds a byte.
func (s *File) ActivateAfterSeal(firstSeq uint64, seal int64) {
	s.hdr.Version, s.hdr.FirstSeq = 2, firstSeq
	s.hdr.Flags &^= FlagPrevSealed
	s.hdr.PrevSeal = 0
	if seal != 0 {
		s.hdr.Flags |= FlagPrevSealed
		s.hdr.PrevSeal = uint32(seal)
	}
	EncodeHeader(s.data[:HeaderSize], s.hdr)
}

// WriteFrame encodes a frame at offset off and returns its size. It fails
// with crcframe.LengthOutOfBounds when the frame does not fit before the end
// of the segment.
func (s *File) WriteFrame(off int64, h crcframe.Header, payload []byte) (int, error) {
	if off < HeaderSize || off > s.hdr.Size || int64(crcframe.Size(len(payload))) > s.hdr.Size-off {
		return 0, crcframe.LengthOutOfBounds
	}
	return crcframe.Encode(s.data[off:], s.seed, h, payload)
}

// Payload returns the n bytes of the mapping where the payload of a frame
// at off goes, for a writer that fills it in place before [File.CommitFrame]
// (a reservation). It returns nil when the frame does not fit.
func (s *File) Payload(off int64, n int) []byte {
	if off < HeaderSize || !s.Fits(off, n) {
		return nil
	}
	start := off + crcframe.HeaderSize
	return s.data[start : start+int64(n) : start+int64(n)]
}

// CommitFrame writes the header of the frame at off whose n-byte payload is
// already in place (see [File.Payload]) and returns the frame's size.
func (s *File) CommitFrame(off int64, h crcframe.Header, n int) (int, error) {
	if off < HeaderSize || !s.Fits(off, n) {
		return 0, crcframe.LengthOutOfBounds
	}
	return crcframe.EncodeHeader(s.data[off:], s.seed, h, n)
}

// Fits reports whether a frame with an n-byte payload fits at offset off.
func (s *File) Fits(off int64, n int) bool {
	return n >= 0 && int64(crcframe.Size(n)) <= s.hdr.Size-off
}

// Sync makes the bytes [from, to) of the mapping durable: msync(MS_SYNC) of
// the range, then fdatasync where msync alone does not reach the disk
// (darwin, where only F_FULLFSYNC flushes the drive's cache).
func (s *File) Sync(from, to int64) error {
	if from >= to {
		return nil
	}
	if err := sysutil.Msync(s.data[from:to], false); err != nil {
		return fmt.Errorf("segment: msync %s: %w", s.path, err)
	}
	if !sysutil.MsyncIsDurable {
		if err := sysutil.Fdatasync(s.f); err != nil {
			return fmt.Errorf("segment: fdatasync %s: %w", s.path, err)
		}
	}
	return nil
}

// Detach ends the file's share of [from, to) of the mapping: the pages
// under it (whole pages) become private copies, so that stores into them —
// by a writer that still holds a slice of them, such as a reservation left
// open when its log closed — never reach the file. They read the file's
// bytes until they are stored to. The file's bytes there can then be changed
// only with [File.WriteFrameThrough], and made durable with [File.SyncFile].
func (s *File) Detach(from, to int64) error {
	if from < HeaderSize || to > s.hdr.Size || from > to {
		return fmt.Errorf("segment: detach [%d, %d) out of range", from, to)
	}
	s.stopPrefault() // it would copy the private pages it populated
	if err := sysutil.Privatize(s.f, s.data[from:to], from); err != nil {
		return fmt.Errorf("segment: detach %s: %w", s.path, err)
	}
	return nil
}

// WriteFrameThrough encodes the frame (h, payload) at off and zeros the
// bytes after it up to clearTo, writing through the file descriptor rather
// than the mapping (for pages [File.Detach] made private). It does not make
// them durable: [File.SyncFile] does.
func (s *File) WriteFrameThrough(off int64, h crcframe.Header, payload []byte, clearTo int64) error {
	n := int64(crcframe.Size(len(payload)))
	if off < HeaderSize || clearTo < off+n || clearTo > s.hdr.Size {
		return fmt.Errorf("segment: write [%d, %d) out of range", off, clearTo)
	}
	b := make([]byte, clearTo-off)
	if _, err := crcframe.Encode(b, s.seed, h, payload); err != nil {
		return err
	}
	if _, err := s.f.WriteAt(b, off); err != nil {
		return fmt.Errorf("segment: write %s: %w", s.path, err)
	}
	return nil
}

// ClearThrough zeros [from, to) through the file descriptor (see
// [File.WriteFrameThrough]).
func (s *File) ClearThrough(from, to int64) error {
	if from < HeaderSize || to > s.hdr.Size || from > to {
		return fmt.Errorf("segment: clear [%d, %d) out of range", from, to)
	}
	if _, err := s.f.WriteAt(make([]byte, to-from), from); err != nil {
		return fmt.Errorf("segment: write %s: %w", s.path, err)
	}
	return nil
}

// SyncFile makes every byte written to the file durable (fdatasync), those
// written through the descriptor included, which an msync of the mapping
// does not reach once [File.Detach] made their pages private.
func (s *File) SyncFile() error {
	if err := sysutil.Fdatasync(s.f); err != nil {
		return fmt.Errorf("segment: fdatasync %s: %w", s.path, err)
	}
	return nil
}

// StartWriteback asks the kernel to start writing [from, to) back without
// waiting, so that a later Sync has less to do. It promises nothing.
//
// It is meant for bytes the writer is done with: it first takes the whole
// pages of [from, to) out of this process's page tables
// ([sysutil.DropPages]; they stay in the page cache, dirty), so that
// write-back cleans them without a TLB shootdown of every CPU running the
// process — on Linux one inter-processor interrupt per 4 KiB page, taken by
// the appender, which cost it more than the copy of a small record did.
// Readers map the pages again on their next access (a minor fault). Never
// call it on a range [File.Detach] made private.
func (s *File) StartWriteback(from, to int64) error {
	if from < 0 || to > s.hdr.Size || from >= to {
		return nil
	}
	sysutil.DropPages(s.data[from:to]) // advisory, like the write-back itself
	return sysutil.StartWriteback(s.f, from, to-from)
}

// Zero clears [from, to) of the mapping and makes it durable: the durable
// way to cut frames off the end.
func (s *File) Zero(from, to int64) error {
	if err := s.Clear(from, to); err != nil {
		return err
	}
	return s.Sync(from, to)
}

// Clear zeroes [from, to) of the frame area in the mapping, without making
// it durable (the caller flushes it).
func (s *File) Clear(from, to int64) error {
	if from < HeaderSize || to > s.hdr.Size || from > to {
		return fmt.Errorf("segment: zero [%d, %d) out of range", from, to)
	}
	clear(s.data[from:to])
	return nil
}

// Prefault populates the page tables of [from, to) for writing
// (MADV_POPULATE_WRITE), so that the first store to each page does not
// fault on the append path. It is a no-op where the OS lacks it.
func (s *File) Prefault(from, to int64) error {
	from, to = max(from, 0), min(to, int64(len(s.data)))
	if from >= to {
		return nil
	}
	s.asked = true
	err := sysutil.Madvise(s.data[from:to], sysutil.AdvicePopulateWrite)
	if errors.Is(err, sysutil.ErrUnsupported) {
		return nil
	}
	return err
}

// PrefaultAsync is [File.Prefault] of [from, to) in the background, one
// prefaultStep at a time from from upwards, but never past limit until
// [File.PrefaultLimit] raises it. A writer that starts at from meanwhile
// finds the pages ahead of it ready rather than waiting for the whole range
// (populating a fresh 64 MiB segment costs about 15 ms of CPU: the kernel
// zeroes every page and attaches its blocks; much more on a busy machine),
// and a limit that follows the writer populates only what it is about to
// use: a populated page is dirty, zeroes the kernel writes back if nothing
// else does. A store that overtakes the population faults the page in
// itself, as it would without it; a failure stops the population quietly
// (it is advice). [File.Close] and [File.Detach] stop it first and wait
// for the step under way; so does a second call. Like the rest of File it
// is for one owner at a time.
func (s *File) PrefaultAsync(from, to, limit int64) {
	s.stopPrefault()
	from, to = max(from, 0), min(to, int64(len(s.data)))
	if from >= to {
		return
	}
	p := &prefaulter{wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	p.limit.Store(limit)
	s.prefault, s.asked = p, true
	go p.run(s.data, from, to)
}

// PrefaultLimit lets the population PrefaultAsync started go on up to
// limit (a lower limit than the current one changes nothing). It costs an
// atomic load, and a store and a wake-up when the limit rises; without a
// population under way it does nothing.
func (s *File) PrefaultLimit(limit int64) {
	if p := s.prefault; p != nil && limit > p.limit.Load() {
		p.limit.Store(limit)
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Prefaulted reports whether [File.Prefault] or [File.PrefaultAsync] was
// called on this File: false for a segment opened rather than created by
// its owner, until it asks.
func (s *File) Prefaulted() bool { return s.asked }

// prefaultStep is what PrefaultAsync populates per madvise call: the most
// it makes Close wait, and the granularity at which a writer catches up.
const prefaultStep = 1 << 20

// prefaulter is a background population of a mapping (PrefaultAsync).
type prefaulter struct {
	limit atomic.Int64  // populate below this (raised by PrefaultLimit)
	wake  chan struct{} // a raised limit (buffered: one pending wake-up)
	quit  chan struct{} // closed by stopPrefault
	done  chan struct{} // closed when run returned
}

func (p *prefaulter) run(data []byte, from, to int64) {
	defer close(p.done)
	for off := from; off < to; {
		select {
		case <-p.quit:
			return
		default:
		}
		end := min(off+prefaultStep, to, p.limit.Load())
		if end <= off {
			select { // at the limit: wait for the writer
			case <-p.wake:
			case <-p.quit:
				return
			}
			continue
		}
		if err := sysutil.Madvise(data[off:end], sysutil.AdvicePopulateWrite); err != nil {
			return // unsupported, or failed: the writer faults the pages in itself
		}
		off = end
	}
}

// stopPrefault stops a PrefaultAsync under way and waits for it.
func (s *File) stopPrefault() {
	if p := s.prefault; p != nil {
		close(p.quit)
		<-p.done
		s.prefault = nil
	}
}

// SmallPages asks the kernel to keep the segment's page cache in 4 KiB pages
// (MADV_RANDOM, before any page is faulted in). Recent kernels cache ext4
// files in folios of up to 2 MiB when pages are faulted in through a
// mapping, and a store marks the whole folio dirty: a durable commit of one
// small record would then write up to 2 MiB. Small pages keep each commit at
// the pages it touched. A no-op where the OS lacks it.
func (s *File) SmallPages() error {
	err := sysutil.Madvise(s.data, sysutil.AdviceRandom)
	if errors.Is(err, sysutil.ErrUnsupported) {
		return nil
	}
	return err
}

// QuarantineName returns the name of the file that holds the bytes cut from
// segment file name at offset off.
func QuarantineName(name string, off int64) string {
	return fmt.Sprintf("%s.torn-%016x", name, off)
}

// Quarantine copies [from, to) of the mapping to a new file beside the
// segment, named by [QuarantineName], and makes it durable. It returns the
// file's path.
func (s *File) Quarantine(from, to int64) (string, error) {
	path := QuarantineName(s.path, from)
	f, err := sysutil.Create(path)
	if err != nil {
		return "", err
	}
	_, err = f.Write(s.data[from:to])
	if err == nil {
		err = sysutil.Fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = sysutil.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("segment: quarantine %s: %w", path, err)
	}
	return path, nil
}

// Close unmaps the segment and closes its file. The mapping must no longer
// be used.
func (s *File) Close() error {
	if s.data == nil {
		return nil
	}
	s.stopPrefault()
	err := sysutil.Munmap(s.data)
	s.data = nil
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Remove closes the segment and deletes its file (the caller syncs the
// directory).
func (s *File) Remove() error {
	err := s.Close()
	if rerr := sysutil.Remove(s.path); err == nil {
		err = rerr
	}
	return err
}

// DirtyEnd returns the end of the last non-zero 8-byte word at or after
// from, or from when every byte from there on is zero: the extent a
// truncation must zero. A fault while reading the mapping (a file truncated
// under it, an I/O error) is an *Error with Reason crcframe.IOFault.
func (s *File) DirtyEnd(from int64) (end int64, err error) {
	defer guard(func() { end, err = from, s.fault(from) })()
	end = s.hdr.Size
	for end > from {
		lo := max(from, end-4096)
		if !crcframe.IsZero(s.data[lo:end]) {
			for end > lo && crcframe.IsZero(s.data[end-8:end]) {
				end -= 8
			}
			return end, nil
		}
		end = lo
	}
	return from, nil
}

// fault is the error of a memory fault while reading the mapping near off.
func (s *File) fault(off int64) error {
	return &Error{Path: s.path, Offset: off, Reason: crcframe.IOFault}
}

// Linked reports whether the segment's file is still this segment: false
// once it was removed, even if a new file was created under the same name
// since, and false once a writer that recycles segments took it out of the
// log (FORMAT.md §9.7): a file moved to the pool keeps a link, so the check
// is also that the header in the mapping still names this segment's
// number, which the writer overwrites when it pools the file and again
// before a frame of the file's next number enters it. A reader that must
// not trust a mapping another process may have replaced (a ReadOnly log
// beside a live writer) checks it after reading. The File must stay open
// for the call.
func (s *File) Linked() (bool, error) {
	linked, err := sysutil.Linked(s.f)
	if err != nil || !linked {
		return linked, err
	}
	return s.sameNumber(), nil
}

// sameNumber reports whether the header in the mapping still names the
// segment's number (a fault reads as not).
func (s *File) sameNumber() (same bool) {
	old := debug.SetPanicOnFault(true)
	defer unguardBool(old, &same) // no closure: a follower calls it per record
	return binary.LittleEndian.Uint64(s.data[32:40]) == s.hdr.Number
}

// unguardBool is [guard] for a check without a closure: it restores the
// fault setting and turns a memory fault into *b = false.
func unguardBool(old bool, b *bool) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if _, ok := r.(interface{ Addr() uintptr }); !ok {
			panic(r)
		}
		*b = false
	}
}

// Recycled reports whether the segment reuses a removed segment's file
// (FlagRecycled): stale bytes, not zeros, follow the end of its frames.
func (s *File) Recycled() bool { return s.hdr.Flags&FlagRecycled != 0 }

// EndHeader stores a zero frame header at off, the end of the frames of a
// recycled segment (FORMAT.md §9.7), when a header fits there: the clean
// end, in front of the stale bytes. A no-op in other segments, whose bytes
// after the end are zero already.
func (s *File) EndHeader(off int64) {
	if s.hdr.Flags&FlagRecycled != 0 && off >= HeaderSize && off+crcframe.HeaderSize <= s.hdr.Size {
		clear(s.data[off : off+crcframe.HeaderSize])
	}
}

// ZeroAt reports whether the n bytes at off are zero (a fault reads as
// not).
func (s *File) ZeroAt(off int64, n int) (zero bool) {
	defer guard(func() { zero = false })()
	return crcframe.IsZero(s.data[off : off+int64(n)])
}

// EndHeaderEnd is where the bytes a flush of frames ending at off must
// cover end: off, or in a recycled segment the end of the zero header
// after them (EndHeader), so that the clean end is durable with them.
func (s *File) EndHeaderEnd(off int64) int64 {
	if s.hdr.Flags&FlagRecycled != 0 {
		return min(off+crcframe.HeaderSize, s.hdr.Size)
	}
	return off
}

// LiveEnd is what a truncation from off must zero: DirtyEnd in a fresh
// segment; in a recycled one, the end of the last frame valid under the
// segment's seed that starts at or after off, at least a frame header
// (the zero header at the new end), so that the stale bytes stay as they
// are (FORMAT.md §9.7). A fault is an *Error with IOFault.
func (s *File) LiveEnd(from int64, maxPayload int) (end int64, err error) {
	if s.hdr.Flags&FlagRecycled == 0 {
		return s.DirtyEnd(from)
	}
	defer guard(func() { end, err = from, s.fault(from) })()
	end = min(from+crcframe.HeaderSize, s.hdr.Size)
	q := s.newSeedSearch(from, maxPayload)
	for off := from; off+crcframe.HeaderSize <= s.hdr.Size; off += crcframe.Alignment {
		if _, _, n, ok := q.frame(off); ok {
			end = max(end, off+int64(n))
		}
	}
	return end, nil
}

// PoolHeader is what a writer stores over the header of a segment file it
// moved to its pool of files for reuse (FORMAT.md §9.7), through the
// descriptor, once the file is no longer the segment: a header that does
// not check, so that a reader in another process that still maps the file
// finds it no longer the segment ([File.Linked]). It is not synced: a pool
// file's bytes mean nothing.
func PoolHeader(path string) error {
	f, err := sysutil.OpenFile(path, true)
	if err != nil {
		return err
	}
	var hb [HeaderSize]byte
	_, err = f.WriteAt(hb[:], 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Recycle makes the pool file at from the segment h (h.Flags must have
// FlagRecycled) at path, ready to take frames, without the in-place
// activation of a prepared segment: it checks the file is h.Size bytes
// long, writes the complete header and a zero frame header after it (the
// end of the segment's frames: the rest is stale), syncs the file, renames
// it to path and syncs the directory, then maps it. Only then does it hold
// a name a reader takes for a segment, with a header on the disk that
// checks. On an error before the rename the file stays at from (the caller
// removes it); after it the segment is at path, unmapped.
func Recycle(from, path string, h Header) (*File, error) {
	if h.Flags&FlagRecycled == 0 || h.Size < MinSize || h.Size > MaxSize || h.Size%Alignment != 0 {
		return nil, fmt.Errorf("segment: recycle %s as %+v: not a recycled segment header", from, h)
	}
	f, err := sysutil.OpenFile(from, true)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Size() != h.Size {
		err = fmt.Errorf("segment: recycle %s: %d bytes, want %d", from, st.Size(), h.Size)
	}
	var b [HeaderSize + crcframe.HeaderSize]byte
	EncodeHeader(b[:HeaderSize], h)
	if err == nil {
		_, err = f.WriteAt(b[:], 0)
	}
	if err == nil {
		err = sysutil.Fdatasync(f)
	}
	if err == nil {
		err = sysutil.Rename(from, path)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("segment: recycle %s: %w", from, err)
	}
	if err := sysutil.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("segment: sync directory of %s: %w", path, err)
	}
	s, err := mapFile(path, f, h, true)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}
