//go:build !unix

package sysutil

import (
	"fmt"
	"os"
)

func linkCount(*os.File) (uint64, error) { return 1, nil }

// statID is FileID: size and modification time.
func statID(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("size %d mtime %d", st.Size(), st.ModTime().UnixNano()), nil
}
