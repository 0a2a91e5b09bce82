package raftstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// The stable file (dir/stable) holds raft's StableStore keys (CurrentTerm,
// LastVoteTerm, LastVoteCand and any others). It is small and rewritten
// whole on every Set: written as stable.tmp, fsynced, renamed over stable,
// and the directory fsynced, so that a crash leaves the old file or the new
// one. It is not inside the log, which truncations would drop.
//
//	+------------+---------+-------+----------------------------------------------+--------+
//	| magic      | version | count | count × (u32 len(key), key, u32 len(val), val) | CRC    |
//	| "mmapwalS" | u32 = 1 | u32   | keys in ascending byte order, no duplicate     | u32    |
//	+------------+---------+-------+----------------------------------------------+--------+
//
// Little endian; the CRC is CRC-32C (Castagnoli) of every byte before it.
const (
	stableName    = "stable"
	stableTmpName = "stable.tmp"
	stableVersion = 1
)

var stableMagic = []byte("mmapwalS")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeStable(kv map[string][]byte) []byte {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := append([]byte(nil), stableMagic...)
	b = binary.LittleEndian.AppendUint32(b, stableVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv[k])))
		b = append(b, kv[k]...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeStable(b []byte) (map[string][]byte, error) {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrStableCorrupt, why) }
	if len(b) < len(stableMagic)+12 || !bytes.Equal(b[:len(stableMagic)], stableMagic) {
		return nil, bad("bad magic or short file")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, bad("checksum mismatch")
	}
	p := len(stableMagic)
	if v := binary.LittleEndian.Uint32(body[p:]); v != stableVersion {
		return nil, bad(fmt.Sprintf("version %d (a newer raftstore wrote it)", v))
	}
	n := binary.LittleEndian.Uint32(body[p+4:])
	p += 8
	field := func() ([]byte, bool) {
		if len(body)-p < 4 {
			return nil, false
		}
		l := binary.LittleEndian.Uint32(body[p:])
		p += 4
		if uint64(l) > uint64(len(body)-p) {
			return nil, false
		}
		f := body[p : p+int(l)]
		p += int(l)
		return f, true
	}
	kv := make(map[string][]byte, min(n, 64))
	prev := ""
	for i := uint32(0); i < n; i++ {
		k, ok1 := field()
		v, ok2 := field()
		if !ok1 || !ok2 {
			return nil, bad("truncated entry")
		}
		if i > 0 && string(k) <= prev {
			return nil, bad("keys out of order")
		}
		prev = string(k)
		kv[prev] = bytes.Clone(v)
	}
	if p != len(body) {
		return nil, bad("bytes after the last entry")
	}
	return kv, nil
}

// readStable reads dir/stable; fs.ErrNotExist when there is none.
func readStable(dir string) (map[string][]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, stableName))
	if err != nil {
		return nil, err
	}
	return decodeStable(b)
}

// writeStable replaces dir/stable atomically and durably.
func writeStable(dir string, kv map[string][]byte) error {
	tmp := filepath.Join(dir, stableTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	stableStep(stepCreate, nil)
	b := encodeStable(kv)
	_, err = f.Write(b)
	if err == nil {
		stableStep(stepWrite, b)
		err = f.Sync()
	}
	if err == nil {
		stableStep(stepSync, nil)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, stableName))
	}
	if err == nil {
		stableStep(stepRename, nil)
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("raftstore: write the stable file: %w", err)
	}
	stableStep(stepSyncDir, nil)
	return nil
}

// The steps of writeStable that decide what a power cut leaves: stable.tmp
// created (truncated), written with the new contents, fsynced, renamed over
// stable, and the directory fsynced.
type writeStep int

const (
	stepCreate writeStep = iota + 1
	stepWrite
	stepSync
	stepRename
	stepSyncDir
)

// testHookStableStep, when set by a test, is called after each step of
// writeStable that succeeded (with the bytes written, for stepWrite): the
// power-cut test rebuilds from them every directory a crash at that point
// may leave. Nil in production.
var testHookStableStep func(step writeStep, written []byte)

func stableStep(step writeStep, written []byte) {
	if testHookStableStep != nil {
		testHookStableStep(step, written)
	}
}

// syncDir fsyncs a directory, so that a rename or a new entry in it is
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// openStable loads dir/stable, creating an empty one for a new store.
// logExists says whether dir/log is there: then a missing stable file is
// an error, not a new store.
func openStable(dir string, logExists, readOnly bool) (map[string][]byte, error) {
	if !readOnly {
		os.Remove(filepath.Join(dir, stableTmpName)) // a write a crash interrupted
	}
	kv, err := readStable(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && logExists:
		return nil, fmt.Errorf("%w: %s is missing beside an existing log", ErrStableCorrupt, filepath.Join(dir, stableName))
	case errors.Is(err, fs.ErrNotExist) && readOnly:
		return map[string][]byte{}, nil
	case errors.Is(err, fs.ErrNotExist):
		kv = map[string][]byte{}
		if err := writeStable(dir, kv); err != nil {
			return nil, err
		}
		return kv, nil
	case err != nil:
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stableName), err)
	}
	return kv, nil
}
