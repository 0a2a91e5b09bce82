package sysutil

// SyncDir makes the entries of directory dir durable: the names of files just
// created, renamed or removed in it. It opens dir, fsyncs it and closes it.
// On windows it only checks that dir exists (see syncdir_windows.go).
func SyncDir(dir string) error {
	if err := fault(OpSyncDir, dir); err != nil {
		return err
	}
	return syncDir(dir)
}
