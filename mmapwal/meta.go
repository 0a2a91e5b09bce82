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
)

// META layout (FORMAT.md §4), 64 bytes:
//
//	0 magic "mmapwalM" | 8 version u16 | 10 reserved u16 | 12 back offset u32 |
//	16 log identity [16] | 32 first seq u64 | 40 back segment u64 |
//	48 floor seq u64 | 56 reserved u32 | 60 CRC-32C of 0..59 u32
const (
	metaName    = "META"
	metaTmpName = "META.tmp"
	lockName    = "LOCK"
	metaSize    = 64
	metaVersion = 1
)

var metaMagic = [8]byte{'m', 'm', 'a', 'p', 'w', 'a', 'l', 'M'}

// meta is the log's identity and truncation state.
type meta struct {
	logID    [16]byte
	firstSeq uint64 // TruncateFront point: records below it are gone
	backSeg  uint64 // TruncateBack redo record: segment (0 = none) …
	backOff  uint32 // … and offset of the first byte to drop
	floor    uint64 // LastSeq is at least this (set by TruncateBack)
}

func (m meta) encode() []byte {
	b := make([]byte, metaSize)
	copy(b, metaMagic[:])
	binary.LittleEndian.PutUint16(b[8:], metaVersion)
	copy(b[16:32], m.logID[:])
	binary.LittleEndian.PutUint64(b[32:], m.firstSeq)
	binary.LittleEndian.PutUint32(b[12:], m.backOff)
	binary.LittleEndian.PutUint64(b[40:], m.backSeg)
	binary.LittleEndian.PutUint64(b[48:], m.floor)
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
	if binary.LittleEndian.Uint16(b[8:]) != metaVersion || !crcframe.IsZero(b[10:12]) || !crcframe.IsZero(b[56:60]) {
		return meta{}, fmt.Errorf("%w: META version %d", ErrUnsupportedVersion, binary.LittleEndian.Uint16(b[8:]))
	}
	return meta{
		logID:    [16]byte(b[16:32]),
		firstSeq: binary.LittleEndian.Uint64(b[32:]),
		backSeg:  binary.LittleEndian.Uint64(b[40:]),
		backOff:  binary.LittleEndian.Uint32(b[12:]),
		floor:    binary.LittleEndian.Uint64(b[48:]),
	}, nil
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
