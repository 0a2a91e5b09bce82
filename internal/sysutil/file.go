package sysutil

import "os"

// Create creates the file at path for reading and writing with mode 0o644,
// failing if it already exists (O_RDWR|O_CREATE|O_EXCL), so a segment is never
// silently reused.
func Create(path string) (*os.File, error) {
	if err := fault(OpCreate, path); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
}

// OpenFile opens the existing file at path, read-write if writable is set and
// read-only otherwise.
func OpenFile(path string, writable bool) (*os.File, error) {
	if err := fault(OpOpen, path); err != nil {
		return nil, err
	}
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR
	}
	return os.OpenFile(path, flag, 0)
}

// Rename renames oldpath to newpath, replacing newpath if it exists, as
// os.Rename does. The rename is durable only after [SyncDir] on the
// directories involved.
func Rename(oldpath, newpath string) error {
	if err := fault(OpRename, oldpath); err != nil {
		return err
	}
	return os.Rename(oldpath, newpath)
}

// Remove removes the file or empty directory at path, as os.Remove does. The
// removal is durable only after [SyncDir] on its directory.
func Remove(path string) error {
	if err := fault(OpRemove, path); err != nil {
		return err
	}
	return os.Remove(path)
}
