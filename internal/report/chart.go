package report

import (
	"maps"
	"slices"
)

// barChart is a horizontal bar chart whose bars are stacks of segments.
type barChart struct {
	ID     string // data-chart, which check-report.sh looks for
	Title  string
	Width  float64
	Height float64
	Bars   []bar
	Legend []segment // one per class, Value unused
}

type bar struct {
	Label    string
	Y        float64
	Total    int
	End      float64 // x where the bar ends
	Segments []segment
}

type segment struct {
	Class string
	Label string
	Value int
	X, W  float64
}

const (
	chartWidth  = 640
	labelWidth  = 150
	barHeight   = 22
	barGap      = 8
	legendSpace = 28
)

// stacked lays out bars of segments on a common scale.
func stacked(id, title string, labels []string, values [][]segment) barChart {
	c := barChart{ID: id, Title: title, Width: chartWidth}
	most := 1
	for _, v := range values {
		n := 0
		for _, s := range v {
			n += s.Value
		}
		most = max(most, n)
	}
	scale := float64(chartWidth-labelWidth-50) / float64(most)
	seen := map[string]bool{}
	for i, label := range labels {
		b := bar{Label: label, Y: legendSpace + float64(i)*(barHeight+barGap)}
		x := float64(labelWidth)
		for _, s := range values[i] {
			if !seen[s.Class] {
				seen[s.Class] = true
				c.Legend = append(c.Legend, segment{Class: s.Class, Label: s.Label, X: float64(len(c.Legend)) * 120})
			}
			s.X, s.W = x, float64(s.Value)*scale
			x += s.W
			b.Total += s.Value
			if s.Value > 0 {
				b.Segments = append(b.Segments, s)
			}
		}
		b.End = x
		c.Bars = append(c.Bars, b)
	}
	c.Height = legendSpace + float64(len(labels))*(barHeight+barGap)
	return c
}

// counts is a one-segment-per-bar chart of a name → count map, sorted by
// name.
func counts(id, title, class string, m map[string]int) barChart {
	names := slices.Sorted(maps.Keys(m))
	values := make([][]segment, len(names))
	for i, n := range names {
		values[i] = []segment{{Class: class, Label: "count", Value: m[n]}}
	}
	if len(names) == 0 {
		names, values = []string{"none"}, [][]segment{{{Class: class, Label: "count"}}}
	}
	return stacked(id, title, names, values)
}

// charts are the report's pictures of figures f.
func charts(prefix string, f Figures) []barChart {
	var labels []string
	var values [][]segment
	for _, o := range f.Obligations {
		labels = append(labels, o.Name)
		values = append(values, []segment{
			{Class: "ontime", Label: "on time", Value: o.OnTime},
			{Class: "late", Label: "late", Value: o.Late},
			{Class: "open", Label: "open (overdue)", Value: o.Open},
			{Class: "pending", Label: "not yet due", Value: o.Pending},
		})
	}
	out := []barChart{stacked(prefix+"-obligations", "Obligations by deadline", labels, values),
		counts(prefix+"-outcomes", "Action reports by outcome", "outcome", f.ActionReports),
		counts(prefix+"-findings", "Findings by verdict", "finding", f.Findings)}
	labels, values = nil, nil
	for _, b := range f.Breaches {
		labels = append(labels, b.Party+" "+b.Obligation)
		values = append(values, []segment{{Class: "late", Label: "met late", Value: b.Count - b.Open},
			{Class: "open", Label: "still open", Value: b.Open}})
	}
	if len(labels) == 0 {
		labels, values = []string{"none"}, [][]segment{{{Class: "late", Label: "met late"}}}
	}
	return append(out, stacked(prefix+"-breaches", "Breaches by party and obligation", labels, values))
}
