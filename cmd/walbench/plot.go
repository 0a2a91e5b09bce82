package main

import (
	"fmt"
	"io"
	"math"

	"github.com/mmapwal/mmapwal/internal/measure"
)

// The SVG is hand-written with internal/measure's primitives: a title, two
// charts stacked (latency percentiles above, throughput over time below)
// and a legend on the right shared by both. Coordinates are in pixels of a
// plotWidth × plotHeight canvas.
const (
	plotWidth  = 1000
	plotHeight = 700
	chartLeft  = 90
	chartRight = 720
	legendLeft = 745
	legendText = plotWidth - legendLeft - 28 - 8 // room for a run's name
	yLabelX    = 22                              // the column of the y axis labels
)

// writePlot writes the SVG for the runs: (a) each run's latency percentile
// curve on a "nines" x axis (0, 90, 99, 99.9, 99.99) against a log latency
// axis; (b) each run's throughput per 100 ms bucket over time.
func writePlot(w io.Writer, h header, results []*result) error {
	s := measure.NewSVG(w, plotWidth, plotHeight)
	s.Text((chartLeft+chartRight)/2, 24, `text-anchor="middle" font-size="17" font-weight="bold"`, "walbench: append latency and throughput")
	s.Text((chartLeft+chartRight)/2, 42, `text-anchor="middle" fill="#555"`,
		fmt.Sprintf("%s %s/%s, %d CPUs, %s", h.GoVersion, h.GOOS, h.GOARCH, h.CPUs, h.Started.Format("2006-01-02 15:04")))
	latencyChart(s, results, 75, 325)
	throughputChart(s, results, 405, 640)
	var names []string
	for _, r := range results {
		names = append(names, r.spec.name)
	}
	s.Legend(legendLeft, 80, legendText, "runs", names)
	return s.End()
}

// latencyChart draws the percentile curves between pixel rows top and bottom.
func latencyChart(s *measure.SVG, results []*result, top, bottom float64) {
	lo, hi := math.Inf(1), 0.0
	for _, r := range results {
		if r.hist.Count() > 0 {
			lo, hi = min(lo, float64(max(r.hist.Min(), 1))), max(hi, float64(r.hist.Max()))
		}
	}
	x := measure.Axis{Lo: 0, Hi: 4, Px0: chartLeft, Px1: chartRight}
	y := measure.LogAxis(lo, hi, bottom, top)
	xt := []measure.Tick{{V: 0, Label: "0"}, {V: math.Log10(2), Label: "50"}, {V: 1, Label: "90"}, {V: 2, Label: "99"}, {V: 3, Label: "99.9"}, {V: 4, Label: "99.99"}}
	s.Printf(`<g id="latency">` + "\n")
	s.Frame(x, y, xt, measure.LogTicks(y, measure.NanosLabel), "append latency by percentile", "percentile", "latency (log scale)", yLabelX)
	for i, r := range results {
		if r.hist.Count() == 0 {
			continue
		}
		var pts []string
		end := min(4, math.Log10(float64(r.hist.Count())))
		for k := 0; ; k++ {
			nines := min(float64(k)*0.02, end)
			v := float64(r.hist.Quantile(1 - math.Pow(10, -nines)))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x.Pos(nines), y.Pos(v)))
			if nines >= end {
				break
			}
		}
		s.Polyline(i, pts)
	}
	s.Printf("</g>\n")
}

// throughputChart draws records/s per bucket over time as step lines.
func throughputChart(s *measure.SVG, results []*result, top, bottom float64) {
	tmax, lo, hi := 0.0, math.Inf(1), 0.0
	for _, r := range results {
		for _, p := range r.timeline {
			tmax = max(tmax, p.t.Seconds())
			if p.rate > 0 {
				lo, hi = min(lo, p.rate), max(hi, p.rate)
			}
		}
	}
	x := measure.Axis{Lo: 0, Hi: measure.NiceCeil(tmax), Px0: chartLeft, Px1: chartRight}
	var y measure.Axis
	var yt []measure.Tick
	yLabel := "records/s"
	if spread(results) > 50 { // runs differ by orders of magnitude
		y = measure.LogAxis(lo, hi, bottom, top)
		yt = measure.LogTicks(y, measure.CountLabel)
		yLabel = "records/s (log scale, 0 at the bottom)"
	} else {
		y = measure.Axis{Lo: 0, Hi: measure.NiceCeil(hi), Px0: bottom, Px1: top}
		yt = measure.LinearTicks(y.Hi, measure.CountLabel)
	}
	s.Printf(`<g id="throughput">` + "\n")
	s.Frame(x, y, measure.LinearTicks(x.Hi, func(v float64) string { return measure.TrimFloat(v) + "s" }), yt,
		"throughput (records/s per 100 ms bucket)", "time since the run started (s)", yLabel, yLabelX)
	for i, r := range results {
		var pts []string
		prev := 0.0
		for _, p := range r.timeline {
			t := p.t.Seconds()
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x.Pos(prev), y.Pos(p.rate), x.Pos(t), y.Pos(p.rate)))
			prev = t
		}
		if len(pts) > 0 {
			s.Polyline(i, pts)
		}
	}
	s.Printf("</g>\n")
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
