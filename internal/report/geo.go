package report

import (
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
)

// countries is Natural Earth's 1:110m country borders (public domain), one
// ring a line; see geo/LICENCE.md.
//
//go:embed geo/countries.txt
var countries string

type point struct{ lon, lat float64 }

// rings parses countries once.
var rings = sync.OnceValue(func() [][]point {
	var out [][]point
	for _, line := range strings.Split(strings.TrimSpace(countries), "\n") {
		_, coords, _ := strings.Cut(line, "\t")
		var r []point
		for _, p := range strings.Fields(coords) {
			x, y, _ := strings.Cut(p, ",")
			lon, err1 := strconv.Atoi(x)
			lat, err2 := strconv.Atoi(y)
			if err1 != nil || err2 != nil {
				panic(fmt.Sprintf("report: geo/countries.txt: bad point %q", p))
			}
			r = append(r, point{float64(lon) / 10, float64(lat) / 10})
		}
		out = append(out, r)
	}
	return out
})

// mapView is the map of the month's locations: an equirectangular
// projection of the box around them, in SVG user units.
type mapView struct {
	Width, Height float64
	Borders       []string // path data, one per country ring in view
	Points        []mapPoint
	Bounds        string // the box shown, for the caption
}

type mapPoint struct {
	X, Y    float64
	Status  string
	Package string
}

const mapWidth = 640

// newMap frames the locations of rows with a margin (at least 10°, the
// whole world if there is none) and projects the borders into it.
func newMap(rows []PackageRow) mapView {
	minLon, maxLon, minLat, maxLat := 180.0, -180.0, 90.0, -90.0
	for _, r := range rows {
		for _, l := range r.Locations {
			minLon, maxLon = math.Min(minLon, l.Lon), math.Max(maxLon, l.Lon)
			minLat, maxLat = math.Min(minLat, l.Lat), math.Max(maxLat, l.Lat)
		}
	}
	if minLon > maxLon {
		minLon, maxLon, minLat, maxLat = -180, 180, -60, 85
	} else {
		pad := math.Max(5, 0.2*math.Max(maxLon-minLon, maxLat-minLat))
		minLon, maxLon = math.Max(-180, minLon-pad), math.Min(180, maxLon+pad)
		minLat, maxLat = math.Max(-90, minLat-pad), math.Min(90, maxLat+pad)
	}
	// Degrees of longitude shrink with the cosine of the latitude: scale x
	// by it at the box's middle so shapes keep their look.
	k := math.Cos((minLat + maxLat) / 2 * math.Pi / 180)
	scale := mapWidth / ((maxLon - minLon) * k)
	m := mapView{Width: mapWidth, Height: math.Round((maxLat - minLat) * scale),
		Bounds: fmt.Sprintf("%.1f°–%.1f° N, %.1f°–%.1f° E", minLat, maxLat, minLon, maxLon)}
	proj := func(p point) (float64, float64) {
		return (p.lon - minLon) * k * scale, (maxLat - p.lat) * scale
	}
	for _, r := range rings() {
		if !overlaps(r, minLon, maxLon, minLat, maxLat) {
			continue
		}
		var b strings.Builder
		for i, p := range r {
			x, y := proj(p)
			if i == 0 {
				b.WriteString("M")
			} else {
				b.WriteString("L")
			}
			fmt.Fprintf(&b, "%.1f %.1f", x, y)
		}
		b.WriteString("Z")
		m.Borders = append(m.Borders, b.String())
	}
	for _, r := range rows {
		for _, l := range r.Locations {
			x, y := proj(point{l.Lon, l.Lat})
			m.Points = append(m.Points, mapPoint{X: math.Round(x*10) / 10, Y: math.Round(y*10) / 10, Status: r.Status, Package: r.ID})
		}
	}
	return m
}

func overlaps(r []point, minLon, maxLon, minLat, maxLat float64) bool {
	a, b, c, d := 180.0, -180.0, 90.0, -90.0
	for _, p := range r {
		a, b, c, d = math.Min(a, p.lon), math.Max(b, p.lon), math.Min(c, p.lat), math.Max(d, p.lat)
	}
	// A ring across the antimeridian spans nearly 360°: drawn in a world
	// view only, where its stray edge is a thin line at worst.
	return a <= maxLon && b >= minLon && c <= maxLat && d >= minLat && (b-a < 180 || maxLon-minLon > 300)
}
