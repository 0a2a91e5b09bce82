package sysutil

// LockHolders returns the ids of the processes that hold a flock(2) lock on
// the file at path, as the kernel lists them (/proc/locks on Linux), without
// taking the lock: trying it would make a writer that is starting at that
// moment fail to get it. known is false where the OS has no such list; an
// id is 0 when the holder is in a process namespace the caller cannot see.
// A missing file is held by nobody.
func LockHolders(path string) (pids []int, known bool, err error) {
	return lockHolders(path)
}
