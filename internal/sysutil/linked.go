package sysutil

import "os"

// Linked reports whether the open file f still has a name in the file
// system: false once every link to it was removed (its mapping and
// descriptor keep working, but a file created under the same name since is
// another file). It is fstat's link count, without the fault hook: a
// reader's check, not a write. Where the OS has no link count it returns
// true.
//
// It uses f's descriptor directly (f.Fd), without allocating: the caller
// must keep f open for the call.
func Linked(f *os.File) (bool, error) {
	n, err := linkCount(f)
	if err != nil {
		return false, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return n > 0, nil
}

// FileID returns a description of the file at path that changes when the
// file is replaced (another inode under the name) or written to (size,
// modification and change times), for a reader that must tell whether a
// writer changed a directory while it read it. Where the OS has no inode
// numbers it describes size and modification time only.
func FileID(path string) (string, error) { return statID(path) }
