package bench

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// walkFiles calls fn for every regular file under dir.
func walkFiles(dir string, fn func(path string) error) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return fn(path)
	})
}

// DropCache evicts every file under dir from the page cache with
// posix_fadvise(POSIX_FADV_DONTNEED). Only clean pages are dropped, so the
// log must be synced (or closed) first. This is a per-file alternative to
// `echo 1 > /proc/sys/vm/drop_caches`, which needs root and empties the cache
// of the whole machine.
func DropCache(dir string) error {
	return walkFiles(dir, func(path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("bench: fdatasync %s: %w", path, err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return fmt.Errorf("bench: fadvise %s: %w", path, err)
		}
		return nil
	})
}

// DropAllCaches empties the page cache of the whole machine by writing 1
// to /proc/sys/vm/drop_caches after sync(2). It needs root and a writable
// /proc/sys.
func DropAllCaches() error {
	unix.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("1\n"), 0)
}

// Resident returns the fraction of the pages of the files under dir that are
// in the page cache, found with mincore(2) on a read-only mapping.
func Resident(dir string) (float64, error) {
	var resident, total int64
	page := int64(os.Getpagesize())
	err := walkFiles(dir, func(path string) error {
		r, n, err := residentPages(path, page)
		resident += r
		total += n
		return err
	})
	if err != nil || total == 0 {
		return 0, err
	}
	return float64(resident) / float64(total), nil
}

// residentPages counts the pages of one file that are in the page cache.
func residentPages(path string, page int64) (resident, total int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return 0, 0, err
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: mmap %s: %w", path, err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (st.Size()+page-1)/page)
	if err := mincore(m, vec); err != nil {
		return 0, 0, fmt.Errorf("bench: mincore %s: %w", path, err)
	}
	for _, v := range vec {
		resident += int64(v & 1)
	}
	return resident, int64(len(vec)), nil
}

// mincore wraps mincore(2), which golang.org/x/sys/unix does not.
func mincore(m, vec []byte) error {
	_, _, e := unix.Syscall(unix.SYS_MINCORE,
		uintptr(unsafe.Pointer(unsafe.SliceData(m))), uintptr(len(m)),
		uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if e != 0 {
		return e
	}
	return nil
}
