package report_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/mvm-exchange/mvm/internal/report"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestEveryObligationEveryState: a hand-built January in which each
// obligation (acknowledge 24 h, action report 7 d after it, evidence 10 d
// after a raid) is met on time by one package, late by another and left
// open by a third; the figures are worked out by hand below.
func TestEveryObligationEveryState(t *testing.T) {
	l := &logBuilder{}
	l.add("2026-12-31T00:00:00Z", pk, genesis(t))
	evidence := func(pkg, when string) {
		l.add(when, af, &mvmv1.EvidenceSubmission{Header: hdr(pkg+"-ev", when), PackageId: pkg,
			EvidenceSha256: [][]byte{bytes.Repeat([]byte{1}, 32)}})
	}
	raid := mvmv1.Outcome_OUTCOME_RAID_CONDUCTED
	// A: all on time (1 h, 1 d, 2 d). B: all late (36 h, 9 d, 12 d).
	l.submit("a", "2027-01-01T00:00:00Z", 30, 60)
	l.ack("a", "2027-01-01T01:00:00Z")
	l.submit("b", "2027-01-02T00:00:00Z", 31, 61)
	l.report("a", "2027-01-02T01:00:00Z", raid)
	l.ack("b", "2027-01-03T12:00:00Z")
	evidence("a", "2027-01-04T01:00:00Z")
	// C: never acknowledged. D: acknowledged (2 h), never reported. E:
	// acknowledged (3 h), reported (1 d), never evidenced.
	l.submit("c", "2027-01-05T00:00:00Z", 32, 62)
	l.submit("d", "2027-01-06T00:00:00Z", 33, 63)
	l.ack("d", "2027-01-06T02:00:00Z")
	l.submit("e", "2027-01-07T00:00:00Z", 34, 64)
	l.ack("e", "2027-01-07T03:00:00Z")
	l.report("e", "2027-01-08T03:00:00Z", raid)
	l.report("b", "2027-01-12T12:00:00Z", raid)
	evidence("b", "2027-01-24T12:00:00Z")
	// February's first entry: January is over as far as the log knows.
	l.submit("f", "2027-02-01T00:00:00Z", 35, 65)

	r := build(t, l.entries, "2027-01")
	if !r.Complete || !r.AsOf.Equal(r.To) {
		t.Fatalf("complete %v as of %v, want complete as of %v", r.Complete, r.AsOf, r.To)
	}
	want := report.Figures{
		PackagesSubmitted: 5,
		Obligations: []report.Obligation{
			// a 1 h, d 2 h, e 3 h on time; b 36 h late; c open.
			{Name: "acknowledge", OnTime: 3, Late: 1, Open: 1, Met: 4, Median: 2 * hour, P90: 36 * hour, Deadline: day},
			// a 1 d, e 1 d on time; b 9 d late; d open.
			{Name: "action-report", OnTime: 2, Late: 1, Open: 1, Met: 3, Median: day, P90: 9 * day, Deadline: 7 * day},
			// a 2 d on time; b 12 d late; e open.
			{Name: "evidence", OnTime: 1, Late: 1, Open: 1, Met: 2, Median: 2 * day, P90: 12 * day, Deadline: 10 * day},
		},
		ActionReports: map[string]int{"raid": 3},
		Findings:      map[string]int{},
		Breaches: []report.BreachCount{
			{Party: "af", Obligation: "acknowledge", Count: 2, Open: 1},
			{Party: "af", Obligation: "action-report", Count: 2, Open: 1},
			{Party: "af", Obligation: "evidence", Count: 2, Open: 1},
		},
	}
	if !reflect.DeepEqual(r.MonthFigures, want) {
		t.Errorf("January's figures:\n got %+v\nwant %+v", r.MonthFigures, want)
	}
	// Nothing before January: the cumulative figures are the month's.
	if !reflect.DeepEqual(r.Cumulative, want) {
		t.Errorf("cumulative figures:\n got %+v\nwant %+v", r.Cumulative, want)
	}
	breaches := map[string]int{}
	for _, row := range r.Packages {
		breaches[row.ID] = row.Breaches
	}
	if w := map[string]int{"a": 0, "b": 3, "c": 1, "d": 1, "e": 1}; !reflect.DeepEqual(breaches, w) {
		t.Errorf("breaches by package: got %v, want %v", breaches, w)
	}
}
