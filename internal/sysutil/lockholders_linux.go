package sysutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func lockHolders(path string) ([]int, bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, true, nil
		}
		return nil, false, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return nil, false, nil // no procfs: unknown, not an error
	}
	defer f.Close()
	// The kernel prints the device of the inode's superblock as
	// major:minor in hex (fs/locks.c, lock_get_status).
	dev := uint64(st.Dev)
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), st.Ino)
	pids, err := parseLocks(f, want)
	return pids, err == nil, err
}

// parseLocks returns the pids of the FLOCK entries of r (/proc/locks) on the
// file whose "major:minor:inode" field is file, skipping the waiters ("->").
// A line reads:
//
//	1: FLOCK  ADVISORY  WRITE 1234 fe:00:9977880 0 EOF
func parseLocks(r io.Reader, file string) ([]int, error) {
	var pids []int
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 1 && f[1] == "->" {
			continue // blocked, waiting for the lock: not a holder
		}
		if len(f) < 6 || f[1] != "FLOCK" || f[5] != file {
			continue
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil {
			continue
		}
		pids = append(pids, pid)
	}
	return pids, sc.Err()
}
