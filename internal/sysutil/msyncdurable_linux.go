package sysutil

// MsyncIsDurable reports whether a successful msync(MS_SYNC) alone makes the
// range durable. On Linux it calls vfs_fsync_range with datasync on the
// mapped file, the same write-back and flush as fdatasync.
const MsyncIsDurable = true
