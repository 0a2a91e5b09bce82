package segment

import (
	"bytes"
	"errors"
	"io"
	"io/fs"

	"github.com/mmapwal/mmapwal/internal/sysutil"
)

// compareChunk is how many bytes of each file [QuarantineHolds] reads at a
// time: its memory does not grow with the files.
const compareChunk = 64 << 10

// QuarantineHolds reports whether the quarantine file q exists and, if so,
// whether the file at path holds q's bytes at from, all of them: whether q
// is a copy [QuarantineFile] (path, from, …) made, of the whole range or,
// interrupted, of a prefix of it. A file at path that ends before q's bytes
// do does not hold them. With path empty it only reports whether q exists.
// Both files are opened through sysutil (the fault seam) and read in
// bounded chunks.
func QuarantineHolds(q, path string, from int64) (exists, same bool, err error) {
	qf, err := sysutil.OpenFile(q, false)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	defer qf.Close()
	if path == "" {
		return true, false, nil
	}
	f, err := sysutil.OpenFile(path, false)
	if err != nil {
		return true, false, err
	}
	defer f.Close()
	same, err = sameAt(qf, f, from)
	return true, same, err
}

// sameAt compares all of q, read from its start, with f's bytes at from.
func sameAt(q io.Reader, f io.ReaderAt, from int64) (bool, error) {
	qb, fb := make([]byte, compareChunk), make([]byte, compareChunk)
	for off := from; ; {
		n, qerr := io.ReadFull(q, qb)
		if qerr != nil && qerr != io.EOF && qerr != io.ErrUnexpectedEOF {
			return false, qerr
		}
		if n > 0 {
			m, ferr := f.ReadAt(fb[:n], off)
			if m < n && ferr != nil && !errors.Is(ferr, io.EOF) {
				return false, ferr
			}
			if m < n || !bytes.Equal(qb[:n], fb[:n]) {
				return false, nil
			}
			off += int64(n)
		}
		if qerr != nil {
			return true, nil // q ended
		}
	}
}
