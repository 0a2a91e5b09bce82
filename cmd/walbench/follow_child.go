package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mmapwal/mmapwal/internal/measure"
	"github.com/mmapwal/mmapwal/mmapwal"
)

// followerChild is the body of a --followers-process child.
func followerChild(dir string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, err := mmapwal.OpenFollower(dir, nil)
	if err != nil {
		fmt.Fprintf(stderr, "walbench follower: %v\n", err)
		return 1
	}
	defer f.Close()
	it, err := f.NewIterator(1)
	if err != nil {
		fmt.Fprintf(stderr, "walbench follower: %v\n", err)
		return 1
	}
	defer it.Close()
	out := bufio.NewWriterSize(stdout, 1<<16)
	var buf [8]byte
	put := func(v int64) {
		binary.LittleEndian.PutUint64(buf[:], uint64(v))
		out.Write(buf[:])
	}
	put(msgReady)
	out.Flush()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen atomic.Uint64
	go func() { // stop once the last sequence announced on stdin is seen
		var last uint64
		fmt.Fscan(stdin, &last)
		deadline := time.Now().Add(catchUpWait)
		for seen.Load() < last && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var n int64
	var hist measure.Hist
	var c clock
	for c.next(ctx, it) {
		v := it.Value()
		if len(v) >= stampLen {
			hist.Record(max(c.now-readStamp(v), 0))
		}
		n++
		seen.Store(it.Seq())
	}
	runtime.ReadMemStats(&after)
	if err := it.Err(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "walbench follower: %v\n", err)
		return 1
	}
	hb, _ := hist.AppendBinary(nil)
	put(msgEnd)
	put(int64(after.Mallocs - before.Mallocs))
	put(n)
	put(int64(len(hb)))
	out.Write(hb)
	if err := out.Flush(); err != nil {
		return 1
	}
	return 0
}
