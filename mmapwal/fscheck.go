package mmapwal

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/mmapwal/mmapwal/internal/sysutil"
	"github.com/mmapwal/mmapwal/segment"
)

// Copy-on-write filesystems. A segment is preallocated (fallocate) so that a
// store into its mapping never needs space the disk may not have: on a full
// disk the page fault of such a store cannot fail with ENOSPC, it kills the
// process with SIGBUS. On a copy-on-write filesystem, and on any file whose
// extents are shared with a reflink copy or a snapshot, overwriting a
// preallocated block allocates a new one, and the guarantee is gone. So a
// writable Open
//
//   - refuses zfs and bcachefs, which copy on every write;
//   - on btrfs, sets the NOCOW attribute (chattr +C) on a directory that
//     holds no log yet, before the first segment is created (new files
//     inherit it; btrfs ignores it on a file that has data), and refuses a
//     directory or a segment file without it;
//   - on btrfs and xfs (where cp --reflink shares extents; coreutils 9 cp
//     and Go's io.Copy do it by default), finds segments whose extents are
//     shared (FIEMAP) — at Open every segment, at rotation the prepared one
//     it activates — and gives them blocks of their own
//     (FALLOC_FL_UNSHARE_RANGE, which xfs has), or refuses them where the
//     filesystem cannot (btrfs).
//
// The errors are *FilesystemError, which matches errors.ErrUnsupported. A
// ReadOnly Open stores nothing and checks nothing.

// fsTypeOf is sysutil.FSType; tests play zfs and bcachefs with it.
var fsTypeOf = sysutil.FSType

// checkFilesystem checks dir, and every segment file in it, before a
// writable Open recovers or creates the log; creating says that dir holds
// no log yet.
func checkFilesystem(dir string, creating bool) error {
	fs, err := fsTypeOf(dir)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return nil // no statfs on this OS: nothing is known
	case err != nil:
		return err
	}
	switch fs {
	case "zfs", "bcachefs":
		return &FilesystemError{FS: fs, Path: dir, Why: "copy-on-write for every block: a store into a preallocated segment may need new space"}
	case "btrfs":
		if err := checkNoCOW(fs, dir, creating); err != nil {
			return err
		}
	case "xfs":
	default:
		return nil // no shared extents (ext4, tmpfs, …)
	}
	nums, err := listSegments(dir)
	if err != nil {
		return err
	}
	for _, n := range nums {
		path := filepath.Join(dir, segment.Name(n))
		if fs == "btrfs" {
			if err := checkNoCOW(fs, path, false); err != nil {
				return err
			}
		}
		if err := checkShared(fs, path); err != nil {
			return err
		}
	}
	return nil
}

// checkNoCOW sets (when set is true) and checks the NOCOW attribute of path.
func checkNoCOW(fs, path string, set bool) error {
	if set {
		if err := sysutil.SetNoCOW(path); err != nil {
			return &FilesystemError{FS: fs, Path: path, Why: "cannot set NOCOW (chattr +C) on the new log directory", Err: err}
		}
	}
	has, err := sysutil.HasNoCOW(path)
	if err != nil {
		return &FilesystemError{FS: fs, Path: path, Why: "cannot read the NOCOW attribute", Err: err}
	}
	if !has {
		return &FilesystemError{FS: fs, Path: path, Why: "copy-on-write (no NOCOW attribute): a store into a preallocated segment may need new space; " +
			"copy the log into a new directory made with chattr +C"}
	}
	return nil
}

// checkShared makes sure no extent of the segment file at path is shared.
func checkShared(fs, path string) error {
	f, err := sysutil.OpenFile(path, false)
	if err != nil {
		return err
	}
	defer f.Close()
	shared, err := sysutil.SharedExtents(f)
	if err != nil || !shared {
		return extentsError(path, err)
	}
	w, err := sysutil.OpenFile(path, true)
	if err != nil {
		return err
	}
	defer w.Close()
	fi, err := w.Stat()
	if err != nil {
		return err
	}
	err = sysutil.Unshare(w, fi.Size())
	if err == nil {
		err = sysutil.Fdatasync(w) // the new extents are durable before a store lands in them
	}
	return unshared(fs, path, err, func() (bool, error) { return sysutil.SharedExtents(f) })
}

// checkSegment makes sure no extent of a prepared segment about to be
// activated is shared (a reflink copy made since its creation). It costs one
// FIEMAP call (1.5 µs on xfs and ext4, 7 µs on btrfs, for a fallocated
// segment); where the filesystem maps no extents it returns at once.
func checkSegment(f *segment.File) error {
	shared, err := f.SharedExtents()
	if err != nil || !shared {
		return extentsError(f.Path(), err)
	}
	return unshared("", f.Path(), f.Unshare(), f.SharedExtents)
}

// extentsError is the error of a failed FIEMAP: none where the filesystem
// maps no extents (tmpfs), since it shares none either.
func extentsError(path string, err error) error {
	if err == nil || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return fmt.Errorf("mmapwal: check the extents of %s: %w", path, err)
}

// unshared judges the unsharing of a segment whose extents were shared: an
// error if it failed (a full disk is ErrNoSpace) or if shared still finds a
// shared extent.
func unshared(fs, path string, err error, shared func() (bool, error)) error {
	if fs == "" {
		fs, _ = fsTypeOf(filepath.Dir(path))
	}
	why := "extents shared with a reflink copy or a snapshot, which a store into the segment would have to copy; copy the log with cp --reflink=never"
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return &FilesystemError{FS: fs, Path: path, Why: why, Err: err}
	case err != nil:
		return mapNoSpace(fmt.Errorf("mmapwal: unshare the extents of %s: %w", path, err))
	}
	if still, err := shared(); err != nil || still {
		return &FilesystemError{FS: fs, Path: path, Why: why + " (still shared after unsharing)", Err: err}
	}
	return nil
}
