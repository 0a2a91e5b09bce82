//go:build !followers

package main

import (
	"fmt"
	"io"
)

func followerChild(dir string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "walbench follower: OpenFollower is not available yet")
	return 1
}
