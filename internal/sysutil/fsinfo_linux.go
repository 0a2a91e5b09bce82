package sysutil

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fsNames maps statfs(2) f_type magic numbers to names.
var fsNames = map[int64]string{
	unix.EXT4_SUPER_MAGIC:      "ext4", // ext2 and ext3 share it
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.BCACHEFS_SUPER_MAGIC:  "bcachefs",
	0x2fc12fc1:                 "zfs", // ZFS_SUPER_MAGIC, out of tree
	unix.F2FS_SUPER_MAGIC:      "f2fs",
	unix.NFS_SUPER_MAGIC:       "nfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlay",
	unix.RAMFS_MAGIC:           "ramfs",
	unix.FUSE_SUPER_MAGIC:      "fuse",
}

func fsType(path string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "", &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	magic := int64(uint32(st.Type)) // f_type is signed on some architectures
	if name, ok := fsNames[magic]; ok {
		return name, nil
	}
	return fmt.Sprintf("0x%x", magic), nil
}

// fsNoCOWFL is FS_NOCOW_FL of linux/fs.h (chattr +C).
const fsNoCOWFL = 0x00800000

// flagsCall runs fn on a read-only descriptor of path, which FS_IOC_GETFLAGS
// and FS_IOC_SETFLAGS accept for files and directories alike. ENOTTY and
// EOPNOTSUPP (no attributes on this filesystem) become ErrUnsupported.
func flagsCall(op, path string, fn func(fd int) error) error {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	err = control(f, fn)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		err = fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return pathError(op, f, err)
}

func hasNoCOW(path string) (bool, error) {
	var flags uint32
	err := flagsCall("FS_IOC_GETFLAGS", path, func(fd int) (err error) {
		flags, err = unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
		return err
	})
	return flags&fsNoCOWFL != 0, err
}

func setNoCOW(path string) error {
	return flagsCall("FS_IOC_SETFLAGS", path, func(fd int) error {
		flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
		if err != nil || flags&fsNoCOWFL != 0 {
			return err
		}
		return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsNoCOWFL))
	})
}

// The FIEMAP interface of linux/fiemap.h.
const (
	fiemapExtentLast   = 0x0001 // FIEMAP_EXTENT_LAST
	fiemapExtentShared = 0x2000 // FIEMAP_EXTENT_SHARED
	fiemapBatch        = 32     // extents asked for per call
)

// fiemapReq is FS_IOC_FIEMAP, _IOWR('f', 11, struct fiemap): the read and
// write direction bits are taken from FS_IOC_GETFLAGS (_IOR) and
// FS_IOC_SETFLAGS (_IOW) so that the number is right on every architecture's
// ioctl encoding; the size is struct fiemap's 32 bytes.
const fiemapReq = (unix.FS_IOC_GETFLAGS|unix.FS_IOC_SETFLAGS)&^0x1fffffff | 32<<16 | 'f'<<8 | 11

// fiemapExtent is struct fiemap_extent.
type fiemapExtent struct {
	logical, physical, length uint64
	_                         [2]uint64
	flags                     uint32
	_                         [3]uint32
}

// fiemap is struct fiemap with room for fiemapBatch extents.
type fiemap struct {
	start, length                  uint64
	flags, mapped, count, reserved uint32
	extents                        [fiemapBatch]fiemapExtent
}

func sharedExtents(f *os.File) (bool, error) {
	var m fiemap
	shared := false
	err := control(f, func(fd int) error {
		for next := uint64(0); ; {
			m = fiemap{start: next, length: ^uint64(0) - next, count: fiemapBatch}
			_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), fiemapReq, uintptr(unsafe.Pointer(&m)))
			if e != 0 {
				return e
			}
			if m.mapped == 0 {
				return nil
			}
			for _, x := range m.extents[:min(m.mapped, fiemapBatch)] {
				if x.flags&fiemapExtentShared != 0 {
					shared = true
					return nil
				}
				if x.flags&fiemapExtentLast != 0 || x.logical+x.length <= next {
					return nil
				}
				next = x.logical + x.length
			}
		}
	})
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) {
		err = fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return shared, pathError("FIEMAP", f, err)
}

func unshare(f *os.File, size int64) error {
	if size <= 0 {
		return nil
	}
	err := control(f, func(fd int) error { return unix.Fallocate(fd, unix.FALLOC_FL_UNSHARE_RANGE, 0, size) })
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		err = fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return pathError("FALLOC_FL_UNSHARE_RANGE", f, err)
}
