package mmapwal

import (
	"math/rand/v2"
	"testing"
)

// TestIndexViews drives an index through dense runs, gaps (a sparse view),
// truncations below and above the published count and unpublished puts,
// against a slice, and checks every accessor after each step; a reader
// goroutine meanwhile checks that each view it loads is consistent with
// what it publishes (go test -race: published entries are never written).
func TestIndexViews(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := newIndex(3*chunkLen + 100)
	type entry struct {
		off int64
		seq uint64
	}
	var model []entry
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			v := x.v.Load()
			n := v.n.Load()
			for i := int64(1); i < n; i++ {
				if v.seq(i) <= v.seq(i-1) || v.offs[i>>chunkBits][i&chunkMask] == 0 {
					t.Errorf("view entry %d of %d: seq %d after %d", i, n, v.seq(i), v.seq(i-1))
					return
				}
			}
		}
	}()
	next, off := uint64(1), int64(8)
	pending := 0
	for step := range 4000 {
		switch r := rng.IntN(100); {
		case r < 70 || len(model) == 0:
			if rng.IntN(20) == 0 {
				next += uint64(rng.IntN(5)) + 1 // a gap
			}
			if rng.IntN(4) == 0 {
				x.put(off, next)
				pending++
			} else {
				x.add(off, next)
				pending = 0
			}
			model = append(model, entry{off, next})
			next++
			off += 8
		case r < 80 && pending > 0:
			x.publish()
			pending = 0
		default:
			x.publish()
			pending = 0
			i := rng.IntN(len(model) + 1)
			x.truncate(int64(i))
			model = model[:i]
			if i > 0 {
				next = model[i-1].seq + 1
			}
		}
		if pending > 0 {
			continue
		}
		if x.len() != int64(len(model)) {
			t.Fatalf("step %d: len %d, want %d", step, x.len(), len(model))
		}
		for i, e := range model {
			if x.off(int64(i)) != e.off || x.seq(int64(i)) != e.seq {
				t.Fatalf("step %d: entry %d = (%d, %d), want (%d, %d)", step, i, x.off(int64(i)), x.seq(int64(i)), e.off, e.seq)
			}
			if j, ok := x.find(e.seq); !ok || j != int64(i) {
				t.Fatalf("step %d: find(%d) = %d, %v, want %d", step, e.seq, j, ok, i)
			}
		}
		if x.off(int64(len(model))) != 0 || x.seq(int64(len(model))) != 0 {
			t.Fatalf("step %d: an entry past the end reads non-zero", step)
		}
		if s, n := x.lastSeq(); n > 0 && s != model[n-1].seq {
			t.Fatalf("step %d: lastSeq %d, want %d", step, s, model[n-1].seq)
		}
		i, limit := rng.IntN(len(model)+2)-1, rng.IntN(2*chunkLen)
		offs, seqs, first := x.run(int64(i), limit)
		want := 0
		if i >= 0 && i < len(model) {
			want = min(len(model)-i, chunkLen-i&chunkMask, limit)
		}
		if len(offs) != want || (seqs != nil && len(seqs) != want) {
			t.Fatalf("step %d: run(%d, %d) = %d entries, %d sequences, want %d", step, i, limit, len(offs), len(seqs), want)
		}
		for k, o := range offs {
			seq := first + uint64(k)
			if seqs != nil {
				seq = seqs[k]
			}
			if e := model[i+k]; int64(o) != e.off || seq != e.seq {
				t.Fatalf("step %d: run(%d) entry %d = (%d, %d), want (%d, %d)", step, i, k, o, seq, e.off, e.seq)
			}
		}
	}
	close(stop)
	<-done
}
