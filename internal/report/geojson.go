package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// GeoJSON (RFC 7946): a FeatureCollection with one Point Feature per
// location, longitude first, WGS 84.

type geoFeature struct {
	Type       string         `json:"type"`
	ID         string         `json:"id,omitempty"`
	Geometry   *geoPoint      `json:"geometry"`
	Properties map[string]any `json:"properties"`
}

type geoPoint struct {
	Type        string    `json:"type"`
	Coordinates []float64 `json:"coordinates"`
}

// GeoJSON encodes the locations of rows, with each package's id, status,
// outcome, dates and TLP marking as properties: indented, the same bytes
// as json.MarshalIndent of the whole FeatureCollection.
func GeoJSON(rows []PackageRow) ([]byte, error) {
	var b bytes.Buffer
	err := WriteGeoJSON(&b, slices.Values(rows))
	return b.Bytes(), err
}

// WriteGeoJSON writes GeoJSON of the rows to w feature by feature, so that
// an export of 100,000 packages is never one buffer, nor one table.
func WriteGeoJSON(w io.Writer, rows iter.Seq[PackageRow]) error {
	if _, err := io.WriteString(w, "{\n  \"type\": \"FeatureCollection\",\n  \"features\": ["); err != nil {
		return err
	}
	n := 0
	for r := range rows {
		for i, l := range r.Locations {
			f, err := json.MarshalIndent(feature(r, i, l), "    ", "  ")
			if err != nil {
				return err
			}
			sep := ",\n    "
			if n == 0 {
				sep = "\n    "
			}
			n++
			if _, err := io.WriteString(w, sep); err != nil {
				return err
			}
			if _, err := w.Write(f); err != nil {
				return err
			}
		}
	}
	end := "\n  ]\n}\n"
	if n == 0 {
		end = "]\n}\n"
	}
	_, err := io.WriteString(w, end)
	return err
}

// feature is location i (l) of package row r.
func feature(r PackageRow, i int, l Location) geoFeature {
	props := map[string]any{"package_id": r.ID, "location": i + 1, "status": r.Status, "tlp": r.TLP,
		"submitted": r.Submitted.UTC().Format(time.RFC3339), "precision_m": l.PrecisionM}
	if l.Description != "" {
		props["description"] = l.Description
	}
	if r.Outcome != "" {
		props["outcome"] = r.Outcome
	}
	for k, t := range map[string]*time.Time{"acknowledged": r.Acked, "reported": r.Reported, "ruled": r.Ruled, "withdrawn": r.Withdrawn} {
		if t != nil {
			props[k] = t.UTC().Format(time.RFC3339)
		}
	}
	return geoFeature{Type: "Feature", ID: fmt.Sprintf("%s/%d", r.ID, i+1),
		Geometry: &geoPoint{Type: "Point", Coordinates: []float64{l.Lon, l.Lat}}, Properties: props}
}

// FeatureError is a Feature of a GeoJSON file that cannot be a location.
type FeatureError struct {
	Index int // 0-based, in the FeatureCollection's features
	Err   error
}

func (e *FeatureError) Error() string { return fmt.Sprintf("feature %d: %v", e.Index, e.Err) }
func (e *FeatureError) Unwrap() error { return e.Err }

// GeoLocation is a Feature read as a package's location, with the summary
// its properties may carry.
type GeoLocation struct {
	Index    int
	Location *mvmv1.Location
	Summary  string
}

// ParseGeoJSON reads a FeatureCollection (or a single Feature) of Points
// as locations. It returns the valid ones and an error for every Feature
// that is not a valid one (checked with the server's own rules, package
// message); the file as a whole is refused only if it is no GeoJSON.
func ParseGeoJSON(b []byte) ([]GeoLocation, []*FeatureError, error) {
	var head struct {
		Type     string            `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, nil, fmt.Errorf("not GeoJSON: %w", err)
	}
	raws := head.Features
	switch head.Type {
	case "FeatureCollection":
	case "Feature":
		raws = []json.RawMessage{b}
	default:
		return nil, nil, fmt.Errorf("not GeoJSON: type %q, want FeatureCollection or Feature", head.Type)
	}
	var ok []GeoLocation
	var bad []*FeatureError
	for i, raw := range raws {
		l, err := parseFeature(raw)
		if err != nil {
			bad = append(bad, &FeatureError{i, err})
			continue
		}
		l.Index = i
		ok = append(ok, l)
	}
	return ok, bad, nil
}

func parseFeature(raw json.RawMessage) (GeoLocation, error) {
	var f struct {
		Type     string `json:"type"`
		Geometry *struct {
			Type        string            `json:"type"`
			Coordinates []json.RawMessage `json:"coordinates"`
		} `json:"geometry"`
		Properties map[string]any `json:"properties"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	if err := d.Decode(&f); err != nil {
		return GeoLocation{}, err
	}
	switch {
	case f.Type != "Feature":
		return GeoLocation{}, fmt.Errorf("type %q, want Feature", f.Type)
	case f.Geometry == nil:
		return GeoLocation{}, errors.New("no geometry")
	case f.Geometry.Type != "Point":
		return GeoLocation{}, fmt.Errorf("geometry %s, want Point", f.Geometry.Type)
	case len(f.Geometry.Coordinates) < 2 || len(f.Geometry.Coordinates) > 3:
		return GeoLocation{}, fmt.Errorf("a Point has 2 or 3 coordinates (longitude, latitude[, altitude]), not %d", len(f.Geometry.Coordinates))
	}
	var c [2]float64
	for i := range c {
		if err := json.Unmarshal(f.Geometry.Coordinates[i], &c[i]); err != nil {
			return GeoLocation{}, fmt.Errorf("coordinate %d: not a number", i)
		}
	}
	l := &mvmv1.Location{Lon: c[0], Lat: c[1]}
	if p, ok := f.Properties["precision_m"]; ok {
		v, isNum := p.(float64)
		if !isNum || v < 0 || math.IsInf(v, 0) {
			return GeoLocation{}, fmt.Errorf("properties.precision_m: want a number of metres ≥ 0")
		}
		l.PrecisionM = v
	}
	if s, ok := f.Properties["description"].(string); ok {
		l.Description = s
	}
	summary, _ := f.Properties["summary"].(string)
	// The server's own rules for a location (range, finiteness, lengths).
	probe := &mvmv1.TargetPackage{Header: &mvmv1.Header{MessageId: "000000000000000000000000",
		AuthoredAt: timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}, Locations: []*mvmv1.Location{l}, Summary: summary}
	if err := message.Validate(probe); err != nil {
		return GeoLocation{}, err
	}
	return GeoLocation{Location: l, Summary: summary}, nil
}
