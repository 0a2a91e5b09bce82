//go:build !linux

package sysutil

import "os"

// startWriteback is a no-op where there is no sync_file_range: write-back is
// left to the kernel and the next sync.
func startWriteback(*os.File, int64, int64) error { return nil }

// dropPages is a no-op: without sync_file_range there is no write-back to
// prepare for, and elsewhere MADV_DONTNEED's effect on shared mappings is
// not documented as keeping their dirty pages.
func dropPages([]byte) error { return nil }
