package report_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/report"
)

// TestHTML checks what the browser check cannot see wrong by itself: every
// chart and the map are there, every location is a dot of its status's
// colour, nothing is fetched, and numbers reach the page.
func TestHTML(t *testing.T) {
	r := build(t, story(t), "2026-11")
	var b bytes.Buffer
	if err := report.HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, id := range []string{"month-obligations", "month-outcomes", "month-findings", "month-breaches", "map",
		"cumulative-obligations", "cumulative-outcomes", "cumulative-findings", "cumulative-breaches"} {
		if !strings.Contains(page, `data-chart="`+id+`"`) {
			t.Errorf("no chart %q", id)
		}
	}
	dots := regexp.MustCompile(`<circle class="dot st-([a-z-]+)"[^>]*><title>([a-z0-9]+): `).FindAllStringSubmatch(page, -1)
	want := map[string]string{}
	n := 0
	for _, p := range r.Packages {
		want[p.ID] = p.Status
		n += len(p.Locations)
	}
	if len(dots) != n {
		t.Errorf("map dots: got %d, want %d", len(dots), n)
	}
	for _, d := range dots {
		if want[d[2]] != d[1] {
			t.Errorf("dot of %s coloured %s, want %s", d[2], d[1], want[d[2]])
		}
	}
	if strings.Count(page, `<path class="land"`) < 5 {
		t.Errorf("map: %d country borders, want the region's", strings.Count(page, `<path class="land"`))
	}
	for _, bad := range []string{"<script", "http://", "https://", "@import", "url("} {
		if strings.Contains(strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("page holds %q: it must open offline with no script", bad)
		}
	}
	for _, s := range []string{"@page { size: A4", "<td>p4</td>", ">ruled<", "2026-11-16 00:00"} {
		if !strings.Contains(page, s) && !(s == "<td>p4</td>" && strings.Contains(page, `<td class="mono">p4</td>`)) {
			t.Errorf("page lacks %q", s)
		}
	}
}

// TestJSONRoundTrip: the JSON file reads back to the same report, and a
// file of another format or with an unknown field is refused.
func TestJSONRoundTrip(t *testing.T) {
	r := build(t, story(t), "2026-11")
	b, err := report.JSON(r)
	if err != nil {
		t.Fatal(err)
	}
	// Row by row, the same bytes as one encoding of the whole report.
	var whole bytes.Buffer
	enc := json.NewEncoder(&whole)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, whole.Bytes()) {
		t.Errorf("WriteJSON differs from one encoding:\n%s\nwant\n%s", b, whole.Bytes())
	}
	back, err := report.ParseJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := report.JSON(back)
	if !bytes.Equal(b, b2) {
		t.Errorf("JSON round trip differs")
	}
	if d := report.Diff(r, back); len(d) != 0 {
		t.Errorf("Diff of a report and its round trip: %v", d)
	}
	back.MonthFigures.Obligations[0].Late++
	back.Packages[0].Status = "verified"
	want := []string{`month_figures.obligations[0].late: 1, the log gives 0`, `packages[0].status: "verified", the log gives "action-reported"`}
	if d := report.Diff(back, r); !slices.Equal(d, want) {
		t.Errorf("Diff of a doctored report:\n got %q\nwant %q", d, want)
	}
	for _, bad := range []string{strings.Replace(string(b), report.Format, "mvm-monthly-report/0", 1),
		strings.Replace(string(b), report.Format, "mvm-monthly-report/1", 1), // without salts: computed anew
		strings.Replace(string(b), `"month":`, `"extra": 1, "month":`, 1), "[]"} {
		if _, err := report.ParseJSON([]byte(bad)); err == nil {
			t.Errorf("ParseJSON accepted %.60q", bad)
		}
	}
}

func TestWriteSample(t *testing.T) {
	out := os.Getenv("REPORT_SAMPLE")
	if out == "" {
		t.Skip("REPORT_SAMPLE unset")
	}
	var b bytes.Buffer
	if err := report.HTML(&b, build(t, story(t), "2026-11")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(out, b.Bytes(), 0o600)
}
