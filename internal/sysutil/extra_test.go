package sysutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

func TestIsNoSpace(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{syscall.ENOSPC, true},
		{fmt.Errorf("wrapped: %w", syscall.ENOSPC), true},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, true},
		{syscall.EIO, false},
		{errors.New("other"), false},
		{nil, false},
	} {
		if got := IsNoSpace(tc.err); got != tc.want {
			t.Errorf("IsNoSpace(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestStartWriteback(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 8192)); err != nil {
		t.Fatal(err)
	}
	if err := StartWriteback(f, 0, 8192); err != nil {
		t.Fatalf("StartWriteback: %v", err)
	}
	if err := StartWriteback(f, 0, 0); err != nil {
		t.Fatalf("StartWriteback of nothing: %v", err)
	}
	f.Close()
	if err := StartWriteback(f, 0, 4096); runtime.GOOS == "linux" && err == nil {
		t.Fatal("StartWriteback on a closed file succeeded")
	}
}

func TestMsyncIsDurable(t *testing.T) {
	// On Linux msync(MS_SYNC) is fdatasync of the range; elsewhere the
	// engine must follow it with Fdatasync (F_FULLFSYNC on darwin).
	if want := runtime.GOOS == "linux"; MsyncIsDurable != want {
		t.Fatalf("MsyncIsDurable = %v on %s", MsyncIsDurable, runtime.GOOS)
	}
}
