package mmapwal

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// staleTailLog builds the log of TestRedteam10StaleTailScanCost for
// segments of size bytes: a recycled newest segment whose stale bytes are
// records with header-like payloads (every third word claims a frame to
// the segment's end; random bytes unless headerLike). It returns the directory of the live log (left open:
// closing it would record a clean end) and the log.
func staleTailLog(tb testing.TB, size int64, headerLike bool) (dir string, l *Log) {
	dir = fastTempDir(tb)
	l = mustOpen(tb, dir, recycleOpts(size, 1))
	rng := rand.New(rand.NewPCG(1, 2))
	for l.Stats().Segments < 3 {
		p := make([]byte, 4000)
		if headerLike {
			p = headerLikePayload(l.off, 4000, size)
		} else {
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
		}
		if _, err := l.Append(p); err != nil {
			tb.Fatal(err)
		}
	}
	if err := l.TruncateFront(l.LastSeq()); err != nil {
		tb.Fatal(err)
	}
	for l.Stats().Recycled == 0 {
		if _, err := l.Append(make([]byte, 100)); err != nil {
			tb.Fatal(err)
		}
	}
	appendUpTo(tb, l, l.LastSeq()+3)
	return dir, l
}

// BenchmarkOpenStaleTail: Open after a crash of a recycling log whose
// newest segment's stale bytes are header-like (the search for frames of
// its seed after the end of its frames: quadratic before seedSearch),
// and for comparison one whose stale payloads are random bytes.
func BenchmarkOpenStaleTail(b *testing.B) {
	for _, c := range []struct {
		size       int64
		headerLike bool
	}{{1 << 20, true}, {64 << 20, true}, {64 << 20, false}} {
		name := fmt.Sprintf("%dMiB", c.size>>20)
		if !c.headerLike {
			name += "-random"
		}
		size := c.size
		b.Run(name, func(b *testing.B) {
			dir, l := staleTailLog(b, size, c.headerLike)
			defer l.Close()
			last := l.LastSeq()
			for b.Loop() {
				b.StopTimer()
				cp := crashCopy(b, dir)
				b.StartTimer()
				l2, err := Open(cp, recycleOpts(size, 1))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if l2.LastSeq() != last || l2.Recovery().TornTail != nil {
					b.Fatalf("recovery %+v, LastSeq %d, want %d", l2.Recovery(), l2.LastSeq(), last)
				}
				l2.Close()
				b.StartTimer()
			}
		})
	}
}
