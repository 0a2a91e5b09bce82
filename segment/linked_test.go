package segment_test

import (
	"os"
	"testing"

	"github.com/mmapwal/mmapwal/segment"
)

// TestLinked: a mapped segment is linked until its file is removed; a new
// segment created under the same name is another file.
func TestLinked(t *testing.T) {
	f := createSegment(t, segment.MinSize)
	if ok, err := f.Linked(); !ok || err != nil {
		t.Fatalf("Linked = %v, %v; want true", ok, err)
	}
	requireNoErr(t, os.Remove(f.Path()), "Remove")
	g, err := segment.Create(f.Path(), testHeader(segment.MinSize))
	requireNoErr(t, err, "Create again")
	defer g.Close()
	if ok, err := f.Linked(); ok || err != nil {
		t.Fatalf("Linked of the removed file = %v, %v; want false", ok, err)
	}
	if ok, err := g.Linked(); !ok || err != nil {
		t.Fatalf("Linked of the new file = %v, %v; want true", ok, err)
	}
}
