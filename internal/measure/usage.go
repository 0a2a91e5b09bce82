package measure

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
)

// Usage is the space a set of files takes on disk.
type Usage struct {
	// Files counts the files.
	Files int
	// Used counts the bytes up to the end of the last record in every file:
	// what the format costs, without preallocated or recycled space. The
	// UsedFunc given to the scan decides where that end is.
	Used int64
	// Apparent is the sum of file sizes (st_size).
	Apparent int64
	// Allocated is the sum of allocated blocks (st_blocks × 512), which
	// includes space preallocated with fallocate; Apparent on a system that
	// reports no block count.
	Allocated int64
}

// UsedFunc returns how many of the size bytes of the file at path a log's
// records use.
type UsedFunc func(path string, size int64) (int64, error)

// SizeIsUsed is the UsedFunc of formats that neither preallocate nor
// recycle: the file size is the end of the last record.
func SizeIsUsed(_ string, size int64) (int64, error) { return size, nil }

// UsedToLastNonZero returns the UsedFunc of formats that preallocate
// zero-filled files (mmapwal, etcd, raft-wal): the end of the last record is
// taken as the offset just past the last non-zero byte, rounded up to a
// multiple of align (1, or 8 for a format whose frames are 8-byte aligned
// and padded with zeros). Every such format ends a record with checksum or
// payload bytes and the Pattern has no zero byte, so at worst this misses a
// few zero bytes of padding.
func UsedToLastNonZero(align int64) UsedFunc {
	return func(path string, size int64) (int64, error) {
		end, err := lastNonZero(path, size)
		if err != nil || end == 0 {
			return 0, err
		}
		return min((end+align-1)/align*align, size), nil
	}
}

// lastNonZero returns the offset just past the last non-zero byte of the
// first size bytes of the file, reading backwards in 1 MiB chunks.
func lastNonZero(path string, size int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	zero := make([]byte, 4096)
	for end := size; end > 0; {
		start := max(0, (end-1)/chunk*chunk)
		p := buf[:end-start]
		if _, err := f.ReadAt(p, start); err != nil && err != io.EOF {
			return 0, err
		}
		for hi := len(p); hi > 0; { // skip zero pages fast, then find the byte
			lo := max(0, hi-len(zero))
			if !bytes.Equal(p[lo:hi], zero[:hi-lo]) {
				for i := hi - 1; i >= lo; i-- {
					if p[i] != 0 {
						return start + int64(i) + 1, nil
					}
				}
			}
			hi = lo
		}
		end = start
	}
	return 0, nil
}

// FilesUsage sums the space of the given files, with used deciding the
// Used bytes of each.
func FilesUsage(paths []string, used UsedFunc) (Usage, error) {
	var u Usage
	for _, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			return u, fmt.Errorf("measure: %w", err)
		}
		if err := u.add(path, fi, used); err != nil {
			return u, err
		}
	}
	return u, nil
}

// DirUsage sums the space of every regular file under dir, with used
// deciding the Used bytes of each.
func DirUsage(dir string, used UsedFunc) (Usage, error) {
	var u Usage
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return u.add(path, fi, used)
	})
	if err != nil {
		return u, fmt.Errorf("measure: disk usage of %s: %w", dir, err)
	}
	return u, nil
}

// add counts one file.
func (u *Usage) add(path string, fi fs.FileInfo, used UsedFunc) error {
	n, err := used(path, fi.Size())
	if err != nil {
		return fmt.Errorf("measure: used bytes of %s: %w", path, err)
	}
	u.Files++
	u.Used += n
	u.Apparent += fi.Size()
	u.Allocated += allocated(fi)
	return nil
}

// allocated returns the bytes the file's blocks take: st_blocks × 512 where
// fi.Sys() is a stat structure with a Blocks field (Linux, the BSDs,
// darwin), else its size. It reads the field by reflection so that this
// package imports no syscall package (system calls live in
// internal/sysutil) and builds everywhere.
func allocated(fi fs.FileInfo) int64 {
	v := reflect.ValueOf(fi.Sys())
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if b := v.FieldByName("Blocks"); b.IsValid() && b.CanInt() {
			return b.Int() * 512
		}
	}
	return fi.Size()
}
