package measure

import (
	"bytes"
	"testing"
)

func TestPattern(t *testing.T) {
	p := Pattern(3*patternPeriod + 5)
	if bytes.IndexByte(p, 0) >= 0 {
		t.Fatal("the pattern holds a zero byte")
	}
	if !bytes.Equal(p[:100], Pattern(100)) || !bytes.Equal(p[patternPeriod:patternPeriod+100], p[:100]) {
		t.Fatal("the pattern is not the same prefix on every call, repeating every period")
	}
	p[0] = 0
	if Pattern(1)[0] == 0 {
		t.Fatal("Pattern handed out shared bytes")
	}
}

func TestRecords(t *testing.T) {
	p := NewPayload(2*patternPeriod + 9)
	for _, size := range []int{0, 1, 7, 8, 9, 128, 2*patternPeriod + 9} {
		for _, id := range []uint64{1, 255, 256, 1<<40 | 3} {
			b := p.Record(id, size)
			if err := CheckRecord(b, id, size); err != nil {
				t.Fatalf("size %d id %d: %v", size, id, err)
			}
			if !bytes.Equal(b, NewRecord(id, size)) {
				t.Fatalf("size %d id %d: Payload.Record and NewRecord differ", size, id)
			}
			if RecordID(b) != id&IDMask(size) {
				t.Fatalf("size %d id %d: RecordID %d", size, id, RecordID(b))
			}
		}
	}
	b := NewRecord(5, 200)
	for _, tt := range []struct {
		name string
		b    []byte
		id   uint64
		size int
	}{
		{"short", b[:199], 5, 200},
		{"other id", b, 6, 200},
		{"flipped payload byte", append(append([]byte(nil), b[:150]...), append([]byte{b[150] ^ 1}, b[151:]...)...), 5, 200},
	} {
		if err := CheckRecord(tt.b, tt.id, tt.size); err == nil {
			t.Errorf("%s: CheckRecord accepted it", tt.name)
		}
	}
}
