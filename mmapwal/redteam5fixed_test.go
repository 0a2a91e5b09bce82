package mmapwal

// Red team 5's repros that pass (the rest, still failing, are in
// redteam5_test.go behind the redteam5 tag, which uses these helpers).

import (
	"bytes"
	"errors"
	"testing"
)

// rt5Payload is the content of record seq written by writer generation gen.
func rt5Payload(seq, gen uint64) []byte {
	return append(bytes.Repeat([]byte{byte(seq), byte(gen)}, 8+int(seq%50)), byte(gen))
}

func rt5Append(t *testing.T, l *Log, from, to, gen uint64) {
	t.Helper()
	for s := from; s <= to; s++ {
		got, err := l.Append(rt5Payload(s, gen))
		if err != nil || got != s {
			t.Fatalf("append %d: got %d, %v", s, got, err)
		}
	}
}

// TestRT5ResetMatchesWriterIterator: Reset to below and above the
// iterators' position, then appends: follower and writer's iterator end
// the same way, and a fresh follower iterator from 1 reads exactly what a
// fresh writer's iterator reads.
func TestRT5ResetMatchesWriterIterator(t *testing.T) {
	for _, next := range []uint64{50, 96, 97, 200} {
		dir := fastTempDir(t)
		l, err := Open(dir, folOpts())
		if err != nil {
			t.Fatal(err)
		}
		rt5Append(t, l, 1, 100, 1)
		f := openFollower(t, dir, nil)
		fit, _ := f.NewIterator(1)
		wit, _ := l.NewIteratorWith(1, nil)
		for s := uint64(1); s <= 95; s++ {
			if !nextWithin(fit) || !nextWithin(wit) {
				t.Fatalf("record %d: %v %v", s, fit.Err(), wit.Err())
			}
		}
		if err := l.Reset(next); err != nil {
			t.Fatal(err)
		}
		rt5Append(t, l, next, next+20, 2)
		fok, wok := nextWithin(fit), nextWithin(wit)
		var fte, wte *TruncatedError
		errors.As(fit.Err(), &fte)
		errors.As(wit.Err(), &wte)
		switch {
		case fok || wok:
			t.Errorf("Reset(%d): follower Next %v (seq %d), writer's iterator %v (seq %d): want both ErrTruncated", next, fok, fit.Seq(), wok, wit.Seq())
		case fte == nil || wte == nil:
			t.Errorf("Reset(%d): follower err %v, writer's iterator err %v", next, fit.Err(), wit.Err())
		case *fte != *wte:
			t.Errorf("Reset(%d): follower %+v, writer's iterator %+v", next, *fte, *wte)
		}
		fit.Close()
		wit.Close()
		fit2, _ := f.NewIterator(1)
		wit2, _ := l.NewIteratorWith(1, nil)
		for {
			wok := wit2.Next()
			fok := nextWithin(fit2)
			if wok != fok || (wok && (wit2.Seq() != fit2.Seq() || !bytes.Equal(wit2.Value(), fit2.Value()))) {
				t.Errorf("Reset(%d): fresh iterators differ: writer %v seq %d err %v, follower %v seq %d err %v", next, wok, wit2.Seq(), wit2.Err(), fok, fit2.Seq(), fit2.Err())
				break
			}
			if !wok || wit2.Seq() == next+20 {
				break
			}
		}
		fit2.Close()
		wit2.Close()
		l.Close()
	}
}
