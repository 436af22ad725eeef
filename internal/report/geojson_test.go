package report_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/report"
)

// TestGeoJSONRoundTrip: every location of the log is a Point with the
// longitude first, and reads back as the same location.
func TestGeoJSONRoundTrip(t *testing.T) {
	b := report.NewBuilder(report.Everything)
	for _, e := range story(t) {
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	rows := b.AllRows()
	out, err := report.GeoJSON(rows)
	if err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Type     string `json:"type"`
			Geometry struct {
				Type        string    `json:"type"`
				Coordinates []float64 `json:"coordinates"`
			} `json:"geometry"`
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(out, &fc); err != nil {
		t.Fatal(err)
	}
	if fc.Type != "FeatureCollection" || len(fc.Features) != len(rows) {
		t.Fatalf("got %s of %d features, want FeatureCollection of %d", fc.Type, len(fc.Features), len(rows))
	}
	for i, f := range fc.Features {
		r := rows[i]
		if f.Geometry.Type != "Point" || f.Geometry.Coordinates[0] != r.Locations[0].Lon || f.Geometry.Coordinates[1] != r.Locations[0].Lat {
			t.Errorf("feature %d: got %s %v, want Point [%v %v] (longitude first)", i, f.Geometry.Type, f.Geometry.Coordinates, r.Locations[0].Lon, r.Locations[0].Lat)
		}
		if f.Properties["package_id"] != r.ID || f.Properties["status"] != r.Status || f.Properties["tlp"] != r.TLP {
			t.Errorf("feature %d properties: got %v, want package %s status %s", i, f.Properties, r.ID, r.Status)
		}
	}
	if p := fc.Features[3].Properties; p["outcome"] != "not-found" || p["ruled"] != "2026-11-16T00:00:00Z" {
		t.Errorf("p4's properties: got %v", p)
	}
	locs, bad, err := report.ParseGeoJSON(out)
	if err != nil || len(bad) != 0 {
		t.Fatalf("ParseGeoJSON of an export: %v %v", err, bad)
	}
	for i, l := range locs {
		w := rows[i].Locations[0]
		if l.Location.Lat != w.Lat || l.Location.Lon != w.Lon || l.Location.PrecisionM != w.PrecisionM {
			t.Errorf("location %d: got %v, want %+v", i, l.Location, w)
		}
	}
}

func TestGeoJSONRefusals(t *testing.T) {
	pt := func(coords, props string) string {
		return `{"type":"Feature","geometry":{"type":"Point","coordinates":` + coords + `},"properties":` + props + `}`
	}
	fc := `{"type":"FeatureCollection","features":[` + strings.Join([]string{
		pt(`[71.5, 34.0]`, `{"precision_m": 50, "description": "gate"}`), // 0 ok
		pt(`[34.0, 95.0]`, `{}`), // 1 latitude out of range
		pt(`[200, 10]`, `null`),  // 2 longitude out of range
		`{"type":"Feature","geometry":{"type":"LineString","coordinates":[[1,2],[3,4]]},"properties":{}}`, // 3
		pt(`[1]`, `{}`),                                          // 4
		pt(`[1, 2]`, `{"precision_m": -1}`),                      // 5
		`{"type":"Feature","geometry":null}`,                     // 6
		pt(`["1", 2]`, `{}`),                                     // 7
		pt(`[65.7, 31.6, 1200]`, `{"summary": "with altitude"}`), // 8 ok
	}, ",") + `]}`
	locs, bad, err := report.ParseGeoJSON([]byte(fc))
	if err != nil {
		t.Fatal(err)
	}
	if len(locs) != 2 || locs[0].Index != 0 || locs[0].Location.Description != "gate" || locs[1].Index != 8 || locs[1].Summary != "with altitude" {
		t.Errorf("valid features: got %+v", locs)
	}
	want := map[int]string{1: "lat: 95 is outside", 2: "lon: 200 is outside", 3: "geometry LineString, want Point",
		4: "2 or 3 coordinates", 5: "precision_m", 6: "no geometry", 7: "coordinate 0: not a number"}
	if len(bad) != len(want) {
		t.Errorf("refused %d features, want %d: %v", len(bad), len(want), bad)
	}
	for _, e := range bad {
		if w, ok := want[e.Index]; !ok || !strings.Contains(e.Error(), w) || !strings.HasPrefix(e.Error(), "feature ") {
			t.Errorf("feature %d: got %q, want it to name the feature and contain %q", e.Index, e, w)
		}
	}
	for _, s := range []string{`[]`, `{"type":"Point","coordinates":[1,2]}`, `not json`} {
		if _, _, err := report.ParseGeoJSON([]byte(s)); err == nil {
			t.Errorf("ParseGeoJSON(%s): no error", s)
		}
	}
}

// TestWriteGeoJSONFraming: the file written feature by feature is the
// bytes of json.MarshalIndent of the whole FeatureCollection (what the
// export wrote as one buffer before), with a feature and with none.
func TestWriteGeoJSONFraming(t *testing.T) {
	b := report.NewBuilder(report.Everything)
	for _, e := range story(t) {
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, rows := range [][]report.PackageRow{b.AllRows(), b.AllRows()[:1], {}} {
		var streamed bytes.Buffer
		if err := report.WriteGeoJSON(&streamed, slices.Values(rows)); err != nil {
			t.Fatal(err)
		}
		var fc struct {
			Type     string            `json:"type"`
			Features []json.RawMessage `json:"features"`
		}
		if err := json.Unmarshal(streamed.Bytes(), &fc); err != nil {
			t.Fatalf("%d rows: %v", len(rows), err)
		}
		whole, err := json.MarshalIndent(fc, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if want := append(whole, '\n'); !bytes.Equal(streamed.Bytes(), want) {
			t.Errorf("%d rows: got\n%s\nwant\n%s", len(rows), streamed.Bytes(), want)
		}
		if got, want := len(fc.Features), len(rows); got != want {
			t.Errorf("features: got %d, want %d", got, want)
		}
	}
	// EachRow is AllRows one at a time.
	if got := slices.Collect(b.EachRow()); !reflect.DeepEqual(got, b.AllRows()) {
		t.Errorf("EachRow: got %v, want AllRows %v", got, b.AllRows())
	}
}
