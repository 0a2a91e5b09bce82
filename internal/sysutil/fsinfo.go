package sysutil

import "os"

// Copy-on-write filesystems (btrfs, and xfs or btrfs files whose extents a
// reflink copy or a snapshot shares) may need new space for a store into
// space that fallocate already reserved: the shared block is copied first.
// On a full disk the page fault of such a store fails with SIGBUS. The calls
// below let a caller find out where it is and rule that out: [FSType] names
// the filesystem, [SetNoCOW] and [HasNoCOW] set and read the flag that makes
// btrfs overwrite in place, and [SharedExtents] finds extents shared with
// another file.

// FSType returns the name of the filesystem holding path: "ext4", "xfs",
// "btrfs", "tmpfs", "zfs", "bcachefs", "f2fs", "nfs", "overlay", … or
// "0x" and the hexadecimal magic number for one it does not know. Where
// there is no implementation it returns an error wrapping [ErrUnsupported].
func FSType(path string) (string, error) {
	if err := fault(OpStatfs, path); err != nil {
		return "", err
	}
	return fsType(path)
}

// SetNoCOW sets the no-copy-on-write attribute (FS_NOCOW_FL, chattr +C) on
// the file or directory at path, unless it is set already; a directory
// passes it to the files created in it afterwards. btrfs honours it only on
// an empty file, so set it on the directory before creating the files. On a
// filesystem without file attributes the error wraps [ErrUnsupported], as it
// does on an OS without an implementation.
func SetNoCOW(path string) error {
	if err := fault(OpSetFlags, path); err != nil {
		return err
	}
	return setNoCOW(path)
}

// HasNoCOW reports whether the file or directory at path has the
// no-copy-on-write attribute. On a filesystem without file attributes the
// error wraps [ErrUnsupported], as it does on an OS without an
// implementation.
func HasNoCOW(path string) (bool, error) {
	if err := fault(OpGetFlags, path); err != nil {
		return false, err
	}
	return hasNoCOW(path)
}

// SharedExtents reports whether any extent of f is shared with another file
// or a snapshot (FIEMAP_EXTENT_SHARED), so that overwriting it would need new
// space. Where the filesystem cannot map extents, or there is no
// implementation, the error wraps [ErrUnsupported].
func SharedExtents(f *os.File) (bool, error) {
	if err := fault(OpFiemap, f.Name()); err != nil {
		return false, err
	}
	return sharedExtents(f)
}

// Unshare gives f blocks of its own for bytes [0, size): it copies every
// extent shared with another file or a snapshot (fallocate(2) with
// FALLOC_FL_UNSHARE_RANGE), so that later stores overwrite in place again.
// On a full disk the error wraps ENOSPC. Where the filesystem cannot
// (btrfs, tmpfs) or there is no implementation, it wraps [ErrUnsupported].
func Unshare(f *os.File, size int64) error {
	if err := fault(OpUnshare, f.Name()); err != nil {
		return err
	}
	return unshare(f, size)
}
