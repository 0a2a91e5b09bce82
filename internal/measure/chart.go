package measure

import (
	"fmt"
	"io"
	"math"
)

// BarGroup is one group of a BarChart: a label (a workload) and one value
// per series, NaN (or ≤ 0) where the series did not run.
type BarGroup struct {
	Label  string
	Values []float64
}

// BarChart is a horizontal grouped bar chart on a log value axis: groups
// stacked top to bottom, one bar per series in each, the series named in
// the legend in the same order. Each bar is labelled with its series' name
// and Format(value), so that the chart reads without the colours; the
// first series' labels are bold.
type BarChart struct {
	Title, Subtitle string
	ValueLabel      string // the value axis
	Series          []string
	Groups          []BarGroup
	Format          func(float64) string
}

// bar chart geometry, in pixels.
const (
	barWidth    = 1000
	barLeft     = 170
	barRight    = 700
	barLegend   = 800 // left edge of the legend
	barTop      = 80
	barHeight   = 11
	barGroupGap = 18
)

// Write writes the chart as SVG.
func (c BarChart) Write(w io.Writer) error {
	lo, hi, rows := math.Inf(1), 0.0, 0
	for _, g := range c.Groups {
		for _, v := range g.Values {
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
				rows++
			}
		}
	}
	height := barTop + rows*barHeight + len(c.Groups)*barGroupGap + 60
	height = max(height, barTop+len(c.Series)*20+40)
	s := NewSVG(w, barWidth, height)
	s.Text((barLeft+barRight)/2, 24, `text-anchor="middle" font-size="17" font-weight="bold"`, c.Title)
	s.Text((barLeft+barRight)/2, 42, `text-anchor="middle" fill="#555"`, c.Subtitle)
	bottom := float64(height - 50)
	x := LogAxis(lo, hi*4, barLeft, barRight) // room for the longest bar's label
	y := Axis{Lo: 0, Hi: 1, Px0: bottom, Px1: barTop}
	s.Frame(x, y, LogTicks(x, CountLabel), nil, "", c.ValueLabel, "", 0)
	row := float64(barTop) + barGroupGap/2
	for _, g := range c.Groups {
		s.Text(barLeft-8, row+barHeight, `text-anchor="end" font-weight="bold"`, g.Label)
		for i, v := range g.Values {
			if !(v > 0) {
				continue
			}
			end := x.Pos(v)
			s.Printf(`<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="%s"/>`+"\n",
				barLeft, row, max(end-barLeft, 1), barHeight-2, Color(i))
			attrs := `font-size="10"`
			if i == 0 {
				attrs += ` font-weight="bold"`
			}
			s.Text(end+4, row+barHeight-3, attrs, c.Series[i]+" "+c.Format(v))
			row += barHeight
		}
		row += barGroupGap
	}
	s.Legend(barLegend, barTop, barWidth-barLegend-36, "adapters", c.Series)
	return s.End()
}

// Point is one point of a LineChart series.
type Point struct{ X, Y float64 }

// LineSeries is one named line of a LineChart.
type LineSeries struct {
	Name   string
	Points []Point
}

// LineChart is one XY panel with log axes: a line and a dot per point for
// each series.
type LineChart struct {
	Title          string
	XLabel, YLabel string
	XTick, YTick   func(float64) string
	// XAt, when set, puts the x ticks at these values (the sizes a sweep
	// ran, say) instead of at powers of ten, on an axis just wider than
	// the data.
	XAt    []float64
	Series []LineSeries
}

// Draw draws the chart between pixel rows top and bottom and columns left
// and right of s.
func (c LineChart) Draw(s *SVG, left, right, top, bottom float64) {
	xlo, xhi, ylo, yhi := math.Inf(1), 0.0, math.Inf(1), 0.0
	for _, l := range c.Series {
		for _, p := range l.Points {
			if p.X > 0 && p.Y > 0 {
				xlo, xhi, ylo, yhi = min(xlo, p.X), max(xhi, p.X), min(ylo, p.Y), max(yhi, p.Y)
			}
		}
	}
	x, y := LogAxis(xlo, xhi, left, right), LogAxis(ylo, yhi, bottom, top)
	xt := LogTicks(x, c.XTick)
	if len(c.XAt) > 0 {
		lo, hi := min(xlo, c.XAt[0]), max(xhi, c.XAt[len(c.XAt)-1])
		x = Axis{Lo: lo / 1.4, Hi: hi * 1.4, Log: true, Px0: left, Px1: right}
		xt = xt[:0]
		for _, v := range c.XAt {
			xt = append(xt, Tick{v, c.XTick(v)})
		}
	}
	s.Printf(`<g>` + "\n")
	s.Frame(x, y, xt, LogTicks(y, c.YTick), c.Title, c.XLabel, c.YLabel, left-60)
	for i, l := range c.Series {
		var pts []string
		for _, p := range l.Points {
			if p.X > 0 && p.Y > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.Pos(p.X), y.Pos(p.Y)))
				s.Printf(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x.Pos(p.X), y.Pos(p.Y), Color(i))
			}
		}
		if len(pts) > 1 {
			s.Polyline(i, pts)
		}
	}
	s.Printf("</g>\n")
}
