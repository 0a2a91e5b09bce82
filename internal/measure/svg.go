package measure

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// Colors is the Tableau 10 palette (distinct, and legible on white), then
// the light halves of Tableau 20 for series 11 to 20.
var Colors = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
	"#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d",
	"#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e"}

// Color returns the colour of series i.
func Color(i int) string { return Colors[i%len(Colors)] }

// SVG accumulates a hand-written SVG document; the first write error
// sticks and is returned by End.
type SVG struct {
	w   *bufio.Writer
	err error
}

// NewSVG starts a document of width × height pixels on a white background.
func NewSVG(w io.Writer, width, height int) *SVG {
	s := &SVG{w: bufio.NewWriter(w)}
	s.Printf(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	s.Printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	s.Printf(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	return s
}

// Printf writes raw markup.
func (s *SVG) Printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

// Text writes a text element, escaped; extra holds further attributes.
func (s *SVG) Text(x, y float64, extra, body string) {
	var b strings.Builder
	xml.EscapeText(&b, []byte(body))
	s.Printf(`<text x="%.1f" y="%.1f" %s>%s</text>`+"\n", x, y, extra, b.String())
}

// Polyline draws a line through pts ("x,y" pairs) in series' colour.
func (s *SVG) Polyline(series int, pts []string) {
	s.Printf(`<polyline fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" points="%s"/>`+"\n",
		Color(series), strings.Join(pts, " "))
}

// End closes the document and flushes it.
func (s *SVG) End() error {
	s.Printf("</svg>\n")
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// Axis maps values to pixels, linearly or logarithmically.
type Axis struct {
	Lo, Hi   float64 // value range; both > 0 when Log
	Log      bool
	Px0, Px1 float64 // pixels of Lo and Hi
}

// Pos returns the pixel of v, clamped to the axis.
func (a Axis) Pos(v float64) float64 {
	lo, hi := a.Lo, a.Hi
	if a.Log {
		v, lo, hi = math.Log10(max(v, a.Lo)), math.Log10(lo), math.Log10(hi)
	}
	f := (v - lo) / (hi - lo)
	f = min(max(f, 0), 1)
	return a.Px0 + f*(a.Px1-a.Px0)
}

// Tick is one labelled axis mark.
type Tick struct {
	V     float64
	Label string
}

// Frame draws a chart's title, grid, ticks, axes and axis labels; the
// y axis label is centred on pixel column yLabelX.
func (s *SVG) Frame(x, y Axis, xt, yt []Tick, title, xLabel, yLabel string, yLabelX float64) {
	top, bottom := y.Px1, y.Px0
	s.Text(x.Px0, top-10, `font-size="14" font-weight="bold"`, title)
	for _, t := range xt {
		p := x.Pos(t.V)
		s.Printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e3e3"/>`+"\n", p, top, p, bottom)
		s.Text(p, bottom+16, `text-anchor="middle"`, t.Label)
	}
	for _, t := range yt {
		p := y.Pos(t.V)
		s.Printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e3e3"/>`+"\n", x.Px0, p, x.Px1, p)
		s.Text(x.Px0-6, p+4, `text-anchor="end"`, t.Label)
	}
	s.Printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n",
		x.Px0, top, x.Px1-x.Px0, bottom-top)
	s.Text((x.Px0+x.Px1)/2, bottom+34, `text-anchor="middle"`, xLabel)
	cy := (top + bottom) / 2
	s.Text(yLabelX, cy, fmt.Sprintf(`text-anchor="middle" transform="rotate(-90 %.1f %.1f)"`, yLabelX, cy), yLabel)
}

// Legend lists names with their series colours from pixel row top, each
// name squeezed into width pixels if longer.
func (s *SVG) Legend(left, top float64, width int, title string, names []string) {
	s.Printf(`<g id="legend">` + "\n")
	s.Text(left, top-10, `font-size="14" font-weight="bold"`, title)
	for i, name := range names {
		y := top + float64(i)*20
		s.Printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n",
			left, y, left+22, y, Color(i))
		attrs := `font-size="11"`
		if len(name)*6 > width {
			attrs += fmt.Sprintf(` textLength="%d" lengthAdjust="spacingAndGlyphs"`, width)
		}
		s.Text(left+28, y+4, attrs, name)
	}
	s.Printf("</g>\n")
}

// LogAxis spans whole decades around [lo, hi] (lo > 0), from pixel px0 to
// px1.
func LogAxis(lo, hi, px0, px1 float64) Axis {
	if math.IsInf(lo, 1) || lo <= 0 || hi <= 0 {
		lo, hi = 1, 10
	}
	a := Axis{Lo: math.Pow(10, math.Floor(math.Log10(lo))), Hi: math.Pow(10, math.Ceil(math.Log10(hi))), Log: true, Px0: px0, Px1: px1}
	if a.Hi <= a.Lo {
		a.Hi = a.Lo * 10
	}
	return a
}

// LogTicks marks each decade, and 2× and 5× as well when there are few.
func LogTicks(a Axis, label func(float64) string) []Tick {
	decades := math.Round(math.Log10(a.Hi / a.Lo))
	var ts []Tick
	for d := a.Lo; d <= a.Hi*1.0001; d *= 10 {
		ts = append(ts, Tick{d, label(d)})
		if decades <= 2 && d*10 <= a.Hi*1.0001 {
			ts = append(ts, Tick{2 * d, label(2 * d)}, Tick{5 * d, label(5 * d)})
		}
	}
	return ts
}

// LinearTicks marks 0..hi in steps of 1, 2 or 5 × 10^k, about five of them.
func LinearTicks(hi float64, label func(float64) string) []Tick {
	step := NiceStep(hi / 5)
	var ts []Tick
	for v := 0.0; v <= hi*1.0001; v += step {
		ts = append(ts, Tick{v, label(v)})
	}
	return ts
}

// NiceStep rounds v up to 1, 2 or 5 × 10^k.
func NiceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*1.0001 {
			return m * p
		}
	}
	return 10 * p
}

// NiceCeil rounds v up to a multiple of its nice step, so ticks end on the
// axis.
func NiceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	step := NiceStep(v / 5)
	return math.Ceil(v/step-1e-9) * step
}

// NanosLabel labels a duration tick given in nanoseconds: 100ns, 1µs, 2ms, 1s.
func NanosLabel(v float64) string {
	for _, u := range []struct {
		s string
		d float64
	}{{"s", 1e9}, {"ms", 1e6}, {"µs", 1e3}} {
		if v >= u.d {
			return TrimFloat(v/u.d) + u.s
		}
	}
	return TrimFloat(v) + "ns"
}

// CountLabel labels a count or rate tick: 500, 20k, 1.5M.
func CountLabel(v float64) string {
	switch {
	case v >= 1e9:
		return TrimFloat(v/1e9) + "G"
	case v >= 1e6:
		return TrimFloat(v/1e6) + "M"
	case v >= 1e3:
		return TrimFloat(v/1e3) + "k"
	}
	return TrimFloat(v)
}

// BytesLabel labels a size tick with 1024-based units: 64B, 4KiB, 1MiB, 4GiB.
func BytesLabel(v float64) string {
	for _, u := range []struct {
		s string
		d float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.d {
			return TrimFloat(v/u.d) + u.s
		}
	}
	return TrimFloat(v) + "B"
}

// TrimFloat writes v with up to two decimals and no trailing zeros.
func TrimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
