package sysutil

import "os"

// Fdatasync makes f's written data durable, together with the metadata needed
// to read it back (its size, its allocation), but not timestamps. On linux it
// is fdatasync(2). On darwin, where fsync(2) stops at the drive's volatile
// cache, it is fcntl(F_FULLFSYNC), falling back to f.Sync when the filesystem
// rejects that. Elsewhere it is f.Sync.
func Fdatasync(f *os.File) error {
	if err := fault(OpFdatasync, f.Name()); err != nil {
		return err
	}
	return fdatasync(f)
}
