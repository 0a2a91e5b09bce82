package measure

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

// wellFormed fails the test unless doc parses as XML; it returns the number
// of elements named name.
func wellFormed(t *testing.T, doc []byte, name string) int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	n := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			n++
		}
	}
}

func TestBarChart(t *testing.T) {
	c := BarChart{
		Title: "throughput <by> workload & adapter", Subtitle: "test", ValueLabel: "records/s",
		Series: []string{"mmapwal", "pebble", "raw-chunked"},
		Groups: []BarGroup{
			{"(i)", []float64{2.4e6, 5e6, 7.5e6}},
			{"(iii)", []float64{3100, math.NaN(), 2500}}, // pebble did not run
		},
		Format: CountLabel,
	}
	var out bytes.Buffer
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	// One rect for the background, one for the frame, one per bar.
	if got := wellFormed(t, out.Bytes(), "rect"); got != 2+5 {
		t.Errorf("%d rects, want 7", got)
	}
	if !strings.Contains(out.String(), ">raw-chunked 2.5k<") {
		t.Error("a bar is not labelled with its series and value")
	}
	if !strings.Contains(out.String(), "&lt;by&gt; workload &amp; adapter") {
		t.Error("title not escaped")
	}
}

func TestLineChart(t *testing.T) {
	var out bytes.Buffer
	s := NewSVG(&out, 600, 400)
	LineChart{
		Title: "append", XLabel: "record size", YLabel: "MB/s", XTick: BytesLabel, YTick: CountLabel,
		XAt: []float64{64, 4096, 1 << 20},
		Series: []LineSeries{
			{"mmapwal", []Point{{64, 100}, {4096, 300}, {1 << 20, 900}}},
			{"raw", []Point{{64, 0}, {4096, 500}}}, // a point without a value is skipped
			{"empty", nil},
		},
	}.Draw(s, 80, 500, 40, 350)
	if err := s.End(); err != nil {
		t.Fatal(err)
	}
	if got := wellFormed(t, out.Bytes(), "circle"); got != 4 {
		t.Errorf("%d points drawn, want 4", got)
	}
	if !strings.Contains(out.String(), ">4KiB<") || !strings.Contains(out.String(), ">1MiB<") {
		t.Error("the x ticks are not at XAt")
	}
	if got := wellFormed(t, out.Bytes(), "polyline"); got != 1 {
		t.Errorf("%d lines drawn, want 1 (a one-point series has none)", got)
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

func TestSVGWriteError(t *testing.T) {
	c := BarChart{Series: []string{"a"}, Groups: []BarGroup{{"g", []float64{1}}}, Format: CountLabel}
	if err := c.Write(failWriter{}); err == nil {
		t.Fatal("a failing writer: want an error")
	}
}

func TestLabels(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{BytesLabel(64), "64B"}, {BytesLabel(4096), "4KiB"}, {BytesLabel(1 << 30), "1GiB"},
		{CountLabel(2.5e6), "2.5M"}, {CountLabel(500), "500"}, {NanosLabel(1500), "1.5µs"},
		{TrimFloat(2.50), "2.5"}, {TrimFloat(3), "3"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if NiceCeil(7.3) != 8 || NiceStep(0.3) != 0.5 {
		t.Errorf("NiceCeil(7.3) = %v, NiceStep(0.3) = %v", NiceCeil(7.3), NiceStep(0.3))
	}
}
