package segment

import "github.com/mmapwal/mmapwal/internal/sysutil"

// SharedExtents reports whether an extent of the file is shared with another
// file or a snapshot (a reflink copy on xfs or btrfs), so that a store into
// the mapping may need new space and, on a full disk, fault. Where the
// filesystem maps no extents (tmpfs) the error wraps errors.ErrUnsupported.
func (s *File) SharedExtents() (bool, error) { return sysutil.SharedExtents(s.f) }

// Unshare gives the file blocks of its own where a reflink copy or a
// snapshot shares them (see sysutil.Unshare): xfs can, btrfs cannot (the
// error wraps errors.ErrUnsupported). On a full disk the error wraps ENOSPC.
// It then syncs the file, so that the new extents are durable before a
// store lands in them.
func (s *File) Unshare() error {
	if err := sysutil.Unshare(s.f, s.hdr.Size); err != nil {
		return err
	}
	return sysutil.Fdatasync(s.f)
}
