package mmapwal

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mmapwal/mmapwal/crcframe"
	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// META layout (FORMAT.md §4 and §9), 64 bytes in every version (a v1
// reader takes any other size for a damaged META, and must answer
// "unsupported version" instead):
//
//	0      8       10      12       16              32          40            48          56       60    64
//	+------+-------+-------+--------+---------------+-----------+-------------+-----------+--------+-----+
//	|magic |version| resvd | back:  | log identity  | first seq | back: seg   | floor seq | features| CRC |
//	| 8 B  | u16   | u16   | offset |    16 B       |   u64     |    u64      |   u64     | u32 (v2)| u32 |
//	+------+-------+-------+--------+---------------+-----------+-------------+-----------+--------+-----+
//
// With the v2 feature metaCleanClose, the back fields hold the place of the
// durable mark of a clean Close (segment at 40, offset at 12); there is no
// TruncateBack redo record then. With the v2 feature metaReset, the u64 at
// 40 is the segment number of a Reset's redo record (FORMAT.md §9.5), and
// the offset at 12 is zero.
const (
	metaName    = "META"
	metaTmpName = "META.tmp"
	lockName    = "LOCK"
	metaSize    = 64
	metaVersion = 2 // written by this version; 1 is still read
)

// META feature bits (the u32 at 56 of a version 2 META; FORMAT.md §9.1).
const (
	// metaCleanClose: the log was closed cleanly; the record says where
	// the mark is.
	metaCleanClose uint32 = 1 << 0
	// metaReset: a Reset is under way; the record names the segment it
	// creates (FORMAT.md §9.5).
	metaReset uint32 = 1 << 2
	// metaRecycled: the log may hold recycled segments (FORMAT.md §9.7),
	// whose bytes after the end of their frames are stale; set before the
	// first file is reused, never cleared.
	metaRecycled uint32 = 1 << 1
	// Reserved for later issues; refused by this version.
	metaLiveReader uint32 = 1 << 3

	metaKnown = metaCleanClose | metaReset | metaRecycled
)

var metaMagic = [8]byte{'m', 'm', 'a', 'p', 'w', 'a', 'l', 'M'}

// meta is the log's identity and truncation state.
type meta struct {
	version  uint16 // format version of the META on disk (1 or 2)
	logID    [16]byte
	firstSeq uint64 // TruncateFront point: records below it are gone
	backSeg  uint64 // TruncateBack redo record: segment (0 = none) …
	backOff  uint32 // … and offset of the first byte to drop
	floor    uint64 // LastSeq is at least this (set by TruncateBack and Reset)
	clean    cleanClose
	// reset is a Reset's redo record: the number of the segment it
	// creates (0 = none). Every segment file below it is no longer part of
	// the log; firstSeq is the sequence the log restarts at and floor
	// firstSeq−1. It shares the u64 at 40 with backSeg and clean.seg and
	// never coexists with them: Reset clears both first.
	reset uint64
	// recycled is feature metaRecycled: set once a writer is about to
	// reuse a file as a segment, kept by every later META.
	recycled bool
}

// cleanClose is the clean-close record of a version 2 META: where Close
// wrote its durable mark. Zero = none. (The mark's sequence is in the mark
// itself; a 64-byte META has no room for it beside the other fields.)
type cleanClose struct {
	seg uint64 // the segment holding the mark (0 = no record)
	off uint32 // the mark's offset
}

func (m meta) encode() []byte {
	b := make([]byte, metaSize)
	copy(b, metaMagic[:])
	binary.LittleEndian.PutUint16(b[8:], max(m.version, 1))
	copy(b[16:32], m.logID[:])
	binary.LittleEndian.PutUint64(b[32:], m.firstSeq)
	binary.LittleEndian.PutUint32(b[12:], m.backOff)
	binary.LittleEndian.PutUint64(b[40:], m.backSeg)
	binary.LittleEndian.PutUint64(b[48:], m.floor)
	// The two share their fields and never coexist: a TruncateBack redo
	// record means a writer had the log open, so no clean-close record
	// can describe it.
	if m.clean.seg != 0 && m.version >= 2 && m.backSeg == 0 {
		binary.LittleEndian.PutUint32(b[12:], m.clean.off)
		binary.LittleEndian.PutUint64(b[40:], m.clean.seg)
		binary.LittleEndian.PutUint32(b[56:], metaCleanClose)
	}
	if m.reset != 0 && m.version >= 2 && m.backSeg == 0 && m.clean.seg == 0 {
		binary.LittleEndian.PutUint32(b[12:], 0)
		binary.LittleEndian.PutUint64(b[40:], m.reset)
		binary.LittleEndian.PutUint32(b[56:], metaReset)
	}
	if m.recycled && m.version >= 2 {
		binary.LittleEndian.PutUint32(b[56:], binary.LittleEndian.Uint32(b[56:])|metaRecycled)
	}
	binary.LittleEndian.PutUint32(b[60:], crcframe.Checksum(0, b[:60]))
	return b
}

func decodeMeta(b []byte) (meta, error) {
	corrupt := &CorruptionError{Segment: metaName, Reason: ReasonMissingMeta}
	if len(b) != metaSize || [8]byte(b[:8]) != metaMagic {
		return meta{}, corrupt
	}
	if binary.LittleEndian.Uint32(b[60:]) != crcframe.Checksum(0, b[:60]) {
		corrupt.Reason = ReasonHeaderChecksumMismatch
		return meta{}, corrupt
	}
	v, features := binary.LittleEndian.Uint16(b[8:]), binary.LittleEndian.Uint32(b[56:])
	if v < 1 || v > metaVersion || !crcframe.IsZero(b[10:12]) || v == 1 && features != 0 || features&^metaKnown != 0 {
		return meta{}, fmt.Errorf("%w: META version %d, features %#x", ErrUnsupportedVersion, v, features)
	}
	m := meta{
		version:  v,
		logID:    [16]byte(b[16:32]),
		firstSeq: binary.LittleEndian.Uint64(b[32:]),
		backSeg:  binary.LittleEndian.Uint64(b[40:]),
		backOff:  binary.LittleEndian.Uint32(b[12:]),
		floor:    binary.LittleEndian.Uint64(b[48:]),
		recycled: features&metaRecycled != 0,
	}
	if features&metaCleanClose != 0 {
		m.clean = cleanClose{seg: m.backSeg, off: m.backOff}
		m.backSeg, m.backOff = 0, 0
		if m.clean.seg == 0 || m.clean.off < segment.HeaderSize || features&metaReset != 0 {
			return meta{}, corrupt // a record no writer produces
		}
	}
	if features&metaReset != 0 {
		m.reset = m.backSeg
		if m.reset == 0 || m.backOff != 0 || m.firstSeq == 0 || m.floor != m.firstSeq-1 {
			return meta{}, corrupt // a record no writer produces
		}
		m.backSeg = 0
	}
	return m, nil
}

// readMeta reads dir/META; it returns fs.ErrNotExist when there is none.
func readMeta(dir string) (meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaName))
	if err != nil {
		return meta{}, err
	}
	return decodeMeta(b)
}

// writeMeta replaces dir/META atomically and durably: write a temporary
// file, fsync it, rename it over META, fsync the directory.
func writeMeta(dir string, m meta) error {
	tmp := filepath.Join(dir, metaTmpName)
	if err := sysutil.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := sysutil.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(m.encode())
	if err == nil {
		err = sysutil.Fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = sysutil.Rename(tmp, filepath.Join(dir, metaName))
	}
	if err == nil {
		if err = sysutil.SyncDir(dir); err != nil {
			// The rename happened: the new META is in place, durable or not.
			err = fmt.Errorf("%w: %w", errMetaInDoubt, err)
		}
	}
	if err != nil {
		return fmt.Errorf("mmapwal: write META: %w", err)
	}
	return nil
}

// errMetaInDoubt marks a writeMeta failure after the rename: the new META
// is in place (a reopen may read it) though not known durable, so the old
// one no longer describes the disk.
var errMetaInDoubt = errors.New("META replaced but the directory sync failed")

// mkdirAll creates dir and its missing parents, as os.MkdirAll does, and
// makes each new directory's name durable: it fsyncs the parent of every
// directory it creates (the log's own files are synced into dir as they are
// created). Without it a power cut could take the new log directory, and
// everything acknowledged in it, away.
func mkdirAll(dir string) error {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil && !st.IsDir() {
			return os.MkdirAll(dir, 0o755) // its error says what is in the way
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := sysutil.SyncDir(filepath.Dir(missing[i])); err != nil {
			return fmt.Errorf("mmapwal: sync the parent of the new directory %s: %w", missing[i], err)
		}
	}
	return nil
}

// newLogID returns a random log identity.
func newLogID() ([16]byte, error) {
	var id [16]byte
	_, err := rand.Read(id[:])
	return id, err
}
