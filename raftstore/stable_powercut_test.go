package raftstore

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// powerCutModel is what a file system promises across a power cut about the
// steps of writeStable (the rules ext4 and xfs keep, and that every crash-safe
// replace relies on): a file's contents are on the disk as of its last fsync,
// and anything written after it may be there whole, in part, as zeros or not
// at all; a name operation (create, rename) is on the disk once the directory
// was fsynced after it, and before that the directory holds the effect of
// some prefix of the name operations since the last fsync of it (rename is
// atomic: a name holds the old file or the new one).
type powerCutModel struct {
	old, next *modelFile
	// dirs are the directories a power cut may leave, in the order of the
	// name operations since the directory's last fsync; dirs[0] is the
	// durable one.
	dirs []modelDir
}

type modelFile struct{ durable, cur []byte }

// modelDir says which file each name holds; nil: none.
type modelDir struct{ stable, tmp *modelFile }

func (m *powerCutModel) step(s writeStep, written []byte) {
	last := m.dirs[len(m.dirs)-1]
	switch s {
	case stepCreate:
		m.next = &modelFile{}
		m.dirs = append(m.dirs, modelDir{stable: last.stable, tmp: m.next})
	case stepWrite:
		m.next.cur = bytes.Clone(written)
	case stepSync:
		m.next.durable = m.next.cur
	case stepRename:
		m.dirs = append(m.dirs, modelDir{stable: last.tmp})
	case stepSyncDir:
		m.dirs = m.dirs[len(m.dirs)-1:]
	}
}

// contents are what a power cut may leave in f.
func (f *modelFile) contents() [][]byte {
	if bytes.Equal(f.durable, f.cur) {
		return [][]byte{f.durable}
	}
	return [][]byte{f.durable, f.cur, f.cur[:len(f.cur)/2], make([]byte, len(f.cur))}
}

// states writes into fresh directories every state a power cut at this point
// may leave, and calls check on each.
func (m *powerCutModel) states(t *testing.T, check func(dir string)) {
	t.Helper()
	for _, d := range m.dirs {
		stables, tmps := [][]byte{nil}, [][]byte{nil}
		if d.stable != nil {
			stables = d.stable.contents()
		}
		if d.tmp != nil {
			tmps = d.tmp.contents()
		}
		for _, sc := range stables {
			for _, tc := range tmps {
				dir := t.TempDir()
				if d.stable != nil {
					writeTestFile(t, filepath.Join(dir, stableName), sc)
				}
				if d.tmp != nil {
					writeTestFile(t, filepath.Join(dir, stableTmpName), tc)
				}
				check(dir)
			}
		}
	}
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStablePowerCut cuts the power after every step of a Set's write of the
// stable file, in every way the file system allows (powerCutModel), and
// opens what is left: the stable keys are those before the Set or those
// after it, never a mix, never a damaged file, and those after it once Set
// returned. It fails if writeStable renamed before the fsync of the new
// file, or returned before the fsync of the directory.
func TestStablePowerCut(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new map[string][]byte
		exists   bool // a log beside the stable file: a missing one is corruption
	}{
		{"set", map[string][]byte{"CurrentTerm": {5}}, map[string][]byte{"CurrentTerm": {6}, "LastVoteCand": []byte("node2")}, true},
		{"first", nil, map[string][]byte{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m := &powerCutModel{dirs: []modelDir{{}}}
			if tc.old != nil {
				if err := writeStable(dir, tc.old); err != nil {
					t.Fatal(err)
				}
				b := encodeStable(tc.old)
				m.old = &modelFile{durable: b, cur: b}
				m.dirs = []modelDir{{stable: m.old}}
			}
			var steps []writeStep
			var hook func(writeStep, []byte)
			hook = func(s writeStep, written []byte) {
				testHookStableStep = nil // openStable below may write a stable file of its own
				defer func() { testHookStableStep = hook }()
				m.step(s, written)
				steps = append(steps, s)
				done := s == stepSyncDir
				m.states(t, func(d string) {
					for _, ro := range []bool{false, true} {
						kv, err := openStable(d, tc.exists, ro)
						if err != nil {
							if tc.old == nil && !tc.exists && errors.Is(err, fs.ErrNotExist) {
								continue
							}
							t.Fatalf("power cut after step %d (readOnly %v): openStable: %v", s, ro, err)
						}
						isNew := maps.EqualFunc(kv, tc.new, bytes.Equal)
						isOld := tc.old == nil && len(kv) == 0 || tc.old != nil && maps.EqualFunc(kv, tc.old, bytes.Equal)
						if !isNew && (done || !isOld) {
							t.Fatalf("power cut after step %d (readOnly %v, Set returned: %v): stable keys %q, want %q (or, before Set returned, %q)", s, ro, done, kv, tc.new, tc.old)
						}
					}
				})
			}
			testHookStableStep = hook
			t.Cleanup(func() { testHookStableStep = nil })
			if err := writeStable(dir, tc.new); err != nil {
				t.Fatal(err)
			}
			if len(steps) != 5 {
				t.Fatalf("writeStable reported steps %v, want the five of create, write, sync, rename, directory sync", steps)
			}
		})
	}
}
