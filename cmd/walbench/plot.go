package main

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// The SVG is hand-written: a title, two charts stacked (latency percentiles
// above, throughput over time below) and a legend on the right shared by
// both. Coordinates are in pixels of a plotWidth × plotHeight canvas.
const (
	plotWidth  = 1000
	plotHeight = 700
	chartLeft  = 90
	chartRight = 720
	legendLeft = 745
	legendText = plotWidth - legendLeft - 28 - 8 // room for a run's name
)

// seriesColors is the Tableau 10 palette: distinct, and legible on white.
var seriesColors = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

// axis maps values to pixels, linearly or logarithmically.
type axis struct {
	lo, hi   float64 // value range; both > 0 when log
	log      bool
	px0, px1 float64 // pixels of lo and hi
}

func (a axis) pos(v float64) float64 {
	lo, hi := a.lo, a.hi
	if a.log {
		v, lo, hi = math.Log10(max(v, a.lo)), math.Log10(lo), math.Log10(hi)
	}
	f := (v - lo) / (hi - lo)
	f = min(max(f, 0), 1)
	return a.px0 + f*(a.px1-a.px0)
}

// tick is one labelled axis mark.
type tick struct {
	v     float64
	label string
}

// svg accumulates the document; the first write error sticks.
type svg struct {
	w   *bufio.Writer
	err error
}

func (s *svg) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

// text writes a text element, escaped; extra holds further attributes.
func (s *svg) text(x, y float64, extra, body string) {
	var b strings.Builder
	xml.EscapeText(&b, []byte(body))
	s.printf(`<text x="%.1f" y="%.1f" %s>%s</text>`+"\n", x, y, extra, b.String())
}

// writePlot writes the SVG for the runs: (a) each run's latency percentile
// curve on a "nines" x axis (0, 90, 99, 99.9, 99.99) against a log latency
// axis; (b) each run's throughput per 100 ms bucket over time.
func writePlot(w io.Writer, h header, results []*result) error {
	s := &svg{w: bufio.NewWriter(w)}
	s.printf(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		plotWidth, plotHeight, plotWidth, plotHeight)
	s.printf(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	s.text((chartLeft+chartRight)/2, 24, `text-anchor="middle" font-size="17" font-weight="bold"`, "walbench: append latency and throughput")
	s.text((chartLeft+chartRight)/2, 42, `text-anchor="middle" fill="#555"`,
		fmt.Sprintf("%s %s/%s, %d CPUs, %s", h.GoVersion, h.GOOS, h.GOARCH, h.CPUs, h.Started.Format("2006-01-02 15:04")))
	latencyChart(s, results, 75, 325)
	throughputChart(s, results, 405, 640)
	legend(s, results, 80)
	s.printf("</svg>\n")
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// latencyChart draws the percentile curves between pixel rows top and bottom.
func latencyChart(s *svg, results []*result, top, bottom float64) {
	lo, hi := math.Inf(1), 0.0
	for _, r := range results {
		if r.hist.n > 0 {
			lo, hi = min(lo, float64(max(r.hist.min, 1))), max(hi, float64(r.hist.max))
		}
	}
	x := axis{lo: 0, hi: 4, px0: chartLeft, px1: chartRight}
	y := logAxis(lo, hi, bottom, top)
	xt := []tick{{0, "0"}, {math.Log10(2), "50"}, {1, "90"}, {2, "99"}, {3, "99.9"}, {4, "99.99"}}
	s.printf(`<g id="latency">` + "\n")
	frame(s, x, y, xt, logTicks(y, nanosLabel), "append latency by percentile", "percentile", "latency (log scale)")
	for i, r := range results {
		if r.hist.n == 0 {
			continue
		}
		var pts []string
		end := min(4, math.Log10(float64(r.hist.n)))
		for k := 0; ; k++ {
			nines := min(float64(k)*0.02, end)
			v := float64(r.hist.quantile(1 - math.Pow(10, -nines)))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.pos(nines), y.pos(v)))
			if nines >= end {
				break
			}
		}
		polyline(s, i, pts)
	}
	s.printf("</g>\n")
}

// throughputChart draws records/s per bucket over time as step lines.
func throughputChart(s *svg, results []*result, top, bottom float64) {
	tmax, lo, hi := 0.0, math.Inf(1), 0.0
	for _, r := range results {
		for _, p := range r.timeline {
			tmax = max(tmax, p.t.Seconds())
			if p.rate > 0 {
				lo, hi = min(lo, p.rate), max(hi, p.rate)
			}
		}
	}
	x := axis{lo: 0, hi: niceCeil(tmax), px0: chartLeft, px1: chartRight}
	var y axis
	var yt []tick
	yLabel := "records/s"
	if spread(results) > 50 { // runs differ by orders of magnitude
		y = logAxis(lo, hi, bottom, top)
		yt = logTicks(y, countLabel)
		yLabel = "records/s (log scale, 0 at the bottom)"
	} else {
		y = axis{lo: 0, hi: niceCeil(hi), px0: bottom, px1: top}
		yt = linearTicks(y.hi, countLabel)
	}
	s.printf(`<g id="throughput">` + "\n")
	frame(s, x, y, linearTicks(x.hi, func(v float64) string { return trimFloat(v) + "s" }), yt,
		"throughput (records/s per 100 ms bucket)", "time since the run started (s)", yLabel)
	for i, r := range results {
		var pts []string
		prev := 0.0
		for _, p := range r.timeline {
			t := p.t.Seconds()
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x.pos(prev), y.pos(p.rate), x.pos(t), y.pos(p.rate)))
			prev = t
		}
		if len(pts) > 0 {
			polyline(s, i, pts)
		}
	}
	s.printf("</g>\n")
}

// spread is the ratio of the fastest run's peak rate to the slowest run's.
func spread(results []*result) float64 {
	lo, hi := math.Inf(1), 0.0
	for _, r := range results {
		peak := 0.0
		for _, p := range r.timeline {
			peak = max(peak, p.rate)
		}
		if peak > 0 {
			lo, hi = min(lo, peak), max(hi, peak)
		}
	}
	if hi == 0 {
		return 1
	}
	return hi / lo
}

// frame draws a chart's title, grid, ticks, axes and axis labels.
func frame(s *svg, x, y axis, xt, yt []tick, title, xLabel, yLabel string) {
	top, bottom := y.px1, y.px0
	s.text(x.px0, top-10, `font-size="14" font-weight="bold"`, title)
	for _, t := range xt {
		p := x.pos(t.v)
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e3e3"/>`+"\n", p, top, p, bottom)
		s.text(p, bottom+16, `text-anchor="middle"`, t.label)
	}
	for _, t := range yt {
		p := y.pos(t.v)
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e3e3"/>`+"\n", x.px0, p, x.px1, p)
		s.text(x.px0-6, p+4, `text-anchor="end"`, t.label)
	}
	s.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n",
		x.px0, top, x.px1-x.px0, bottom-top)
	s.text((x.px0+x.px1)/2, bottom+34, `text-anchor="middle"`, xLabel)
	cy := (top + bottom) / 2
	s.text(22, cy, fmt.Sprintf(`text-anchor="middle" transform="rotate(-90 22 %.1f)"`, cy), yLabel)
}

func polyline(s *svg, series int, pts []string) {
	s.printf(`<polyline fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" points="%s"/>`+"\n",
		seriesColors[series%len(seriesColors)], strings.Join(pts, " "))
}

// legend lists the runs with their colours, from pixel row top.
func legend(s *svg, results []*result, top float64) {
	s.printf(`<g id="legend">` + "\n")
	s.text(legendLeft, top-10, `font-size="14" font-weight="bold"`, "runs")
	for i, r := range results {
		y := top + float64(i)*20
		s.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n",
			legendLeft, y, legendLeft+22, y, seriesColors[i%len(seriesColors)])
		attrs := `font-size="11"`
		if len(r.spec.name)*6 > legendText { // squeeze a long name into the canvas
			attrs += fmt.Sprintf(` textLength="%d" lengthAdjust="spacingAndGlyphs"`, legendText)
		}
		s.text(legendLeft+28, y+4, attrs, r.spec.name)
	}
	s.printf("</g>\n")
}

// logAxis spans whole decades around [lo, hi] (lo > 0), from pixel px0 to px1.
func logAxis(lo, hi, px0, px1 float64) axis {
	if math.IsInf(lo, 1) || hi <= 0 {
		lo, hi = 1, 10
	}
	a := axis{lo: math.Pow(10, math.Floor(math.Log10(lo))), hi: math.Pow(10, math.Ceil(math.Log10(hi))), log: true, px0: px0, px1: px1}
	if a.hi <= a.lo {
		a.hi = a.lo * 10
	}
	return a
}

// logTicks marks each decade, and 2× and 5× as well when there are few.
func logTicks(a axis, label func(float64) string) []tick {
	decades := math.Round(math.Log10(a.hi / a.lo))
	var ts []tick
	for d := a.lo; d <= a.hi*1.0001; d *= 10 {
		ts = append(ts, tick{d, label(d)})
		if decades <= 2 && d*10 <= a.hi*1.0001 {
			ts = append(ts, tick{2 * d, label(2 * d)}, tick{5 * d, label(5 * d)})
		}
	}
	return ts
}

// linearTicks marks 0..hi in steps of 1, 2 or 5 × 10^k, about five of them.
func linearTicks(hi float64, label func(float64) string) []tick {
	step := niceStep(hi / 5)
	var ts []tick
	for v := 0.0; v <= hi*1.0001; v += step {
		ts = append(ts, tick{v, label(v)})
	}
	return ts
}

// niceStep rounds v up to 1, 2 or 5 × 10^k.
func niceStep(v float64) float64 {
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

// niceCeil rounds v up to a multiple of its nice step, so ticks end on the axis.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	step := niceStep(v / 5)
	return math.Ceil(v/step-1e-9) * step
}

// nanosLabel labels a latency tick: 100ns, 1µs, 2ms, 1s.
func nanosLabel(v float64) string {
	for _, u := range []struct {
		s string
		d float64
	}{{"s", 1e9}, {"ms", 1e6}, {"µs", 1e3}} {
		if v >= u.d {
			return trimFloat(v/u.d) + u.s
		}
	}
	return trimFloat(v) + "ns"
}

// countLabel labels a rate tick: 500, 20k, 1.5M.
func countLabel(v float64) string {
	switch {
	case v >= 1e9:
		return trimFloat(v/1e9) + "G"
	case v >= 1e6:
		return trimFloat(v/1e6) + "M"
	case v >= 1e3:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(v)
}

// trimFloat writes v with up to two decimals and no trailing zeros.
func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
