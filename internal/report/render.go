package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"time"
)

// JSON encodes r as the report's JSON file: indented, fields in a fixed
// order, so the same report is the same bytes.
func JSON(r *Report) ([]byte, error) {
	var b bytes.Buffer
	err := WriteJSON(&b, r)
	return b.Bytes(), err
}

// WriteJSON writes JSON(r) to w: the same bytes as one json.Encoder of
// r with two-space indents, but the package table row by row, so that a
// table of 100,000 packages is never one buffer.
func WriteJSON(w io.Writer, r *Report) error {
	head := *r
	head.Packages = []PackageRow{}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&head); err != nil {
		return err
	}
	const tail = "\"packages\": []\n}\n"
	out, ok := bytes.CutSuffix(b.Bytes(), []byte(tail))
	if !ok {
		return fmt.Errorf("report: the JSON does not end with the package table")
	}
	if len(r.Packages) == 0 {
		_, err := w.Write(b.Bytes())
		return err
	}
	if _, err := fmt.Fprintf(w, "%s\"packages\": [\n", out); err != nil {
		return err
	}
	var row bytes.Buffer
	enc = json.NewEncoder(&row)
	enc.SetIndent("    ", "  ")
	enc.SetEscapeHTML(false)
	for i := range r.Packages {
		row.Reset()
		row.WriteString("    ")
		if err := enc.Encode(&r.Packages[i]); err != nil {
			return err
		}
		line := bytes.TrimSuffix(row.Bytes(), []byte("\n"))
		if i < len(r.Packages)-1 {
			line = append(line, ',')
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "  ]\n}\n")
	return err
}

// ParseJSON reads a report's JSON file, refusing another format.
func ParseJSON(b []byte) (*Report, error) {
	var r Report
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a monthly report's JSON: %w", err)
	}
	if r.Format != Format {
		return nil, fmt.Errorf("report format %q, this client reads %q: compute the month's report anew with monthly-report", r.Format, Format)
	}
	return &r, nil
}

//go:embed report.html.tmpl
var pageSource string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"day": func(t any) string {
		switch t := t.(type) {
		case time.Time:
			return t.UTC().Format("2006-01-02 15:04")
		case *time.Time:
			if t != nil {
				return t.UTC().Format("2006-01-02 15:04")
			}
		}
		return ""
	},
	"stamp":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"dur":    func(s Secs) string { return humanDuration(s) },
	"hex":    func(b []byte) string { return fmt.Sprintf("%x", b) },
	"plus":   func(a, b float64) float64 { return a + b },
	"charts": charts,
}).Parse(pageSource))

// HTML writes r as a self-contained page: inline CSS and SVG, no script,
// nothing fetched, printable on A4.
func HTML(w io.Writer, r *Report) error {
	return page.Execute(w, struct {
		*Report
		Map mapView
	}{r, newMap(r.Packages)})
}

// humanDuration prints whole days, hours and minutes ("2d 6h", "45m").
func humanDuration(s Secs) string {
	if s == 0 {
		return "0"
	}
	d := time.Duration(s) * time.Second
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	switch {
	case days > 0 && rest >= time.Hour:
		return fmt.Sprintf("%dd %dh", days, rest/time.Hour)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", s)
}
