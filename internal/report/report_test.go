package report_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/report"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

var (
	pk = identity.Identity{TrustDomain: "mvm.example", Party: "pk", Name: "pk-liaison"}
	af = identity.Identity{TrustDomain: "mvm.example", Party: "af", Name: "af-interior"}
	tr = identity.Identity{TrustDomain: "mvm.example", Party: "tr", Name: "tr-verifier"}
	qa = identity.Identity{TrustDomain: "mvm.example", Party: "qa", Name: "qa-verifier"}
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// genesis is the dev agreement (acknowledge 24 h, action report 7 d,
// evidence 10 d, ruling quorum 2).
func genesis(t testing.TB) *mvmv1.Agreement {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	if err := devpki.Generate(devpki.Options{Dir: dir, Now: at("2026-09-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	ag, _, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ag.Proto
}

// logBuilder hands out indexes and message ids.
type logBuilder struct {
	entries []report.Entry
}

func (l *logBuilder) add(when string, who identity.Identity, m proto.Message) {
	l.entries = append(l.entries, report.Entry{Index: uint64(len(l.entries)), ReceivedAt: at(when), Author: who, Payload: m})
}

func hdr(id, when string) *mvmv1.Header {
	return &mvmv1.Header{MessageId: id, AuthoredAt: timestamppb.New(at(when))}
}

func (l *logBuilder) submit(id, when string, lat, lon float64) {
	l.add(when, pk, &mvmv1.TargetPackage{Header: hdr(id, when), Responder: "af", Summary: "s", Tlp: mvmv1.Tlp_TLP_AMBER,
		Locations: []*mvmv1.Location{{Lat: lat, Lon: lon, PrecisionM: 50}}})
}
func (l *logBuilder) ack(pkg, when string) {
	l.add(when, af, &mvmv1.Acknowledgement{Header: hdr(pkg+"-ack", when), PackageId: pkg})
}
func (l *logBuilder) report(pkg, when string, o mvmv1.Outcome) {
	l.add(when, af, &mvmv1.ActionReport{Header: hdr(pkg+"-rep", when), PackageId: pkg, Outcome: o, ActionTime: timestamppb.New(at(when))})
}

// story is the hand-built log the expectations below are computed from
// by hand (the dev agreement: acknowledge 24 h, report 7 d, evidence 10 d).
func story(t testing.TB) []report.Entry {
	l := &logBuilder{}
	l.add("2026-10-01T00:00:00Z", pk, genesis(t))
	// P3: acknowledged a day late in October (due Oct 21), reported a week
	// late in November (due Oct 29), declined: no evidence owed.
	l.submit("p3", "2026-10-20T00:00:00Z", 31.5, 65.8)
	l.ack("p3", "2026-10-22T00:00:00Z")
	l.report("p3", "2026-11-05T00:00:00Z", mvmv1.Outcome_OUTCOME_DECLINED)
	// P1: acknowledged exactly at its due time (on time), reported one
	// nanosecond after its due time (late), raid: evidence never comes.
	l.submit("p1", "2026-10-31T12:00:00Z", 34.0, 71.5)
	// P9: submitted at November's first instant (November's), withdrawn
	// at once: its acknowledgement deadline met after 0 s.
	l.submit("p9", "2026-11-01T00:00:00Z", 33.0, 69.0)
	l.add("2026-11-01T00:00:00Z", pk, &mvmv1.Withdrawal{Header: hdr("p9-wd", "2026-11-01T00:00:00Z"), PackageId: "p9", Reason: "stale"})
	l.ack("p1", "2026-11-01T12:00:00Z")
	l.report("p1", "2026-11-08T12:00:00.000000001Z", mvmv1.Outcome_OUTCOME_RAID_CONDUCTED)
	// P4: on time throughout, a contradicting finding, disputed, ruled by
	// the quorum two days later.
	l.submit("p4", "2026-11-10T00:00:00Z", 33.6, 73.0)
	l.ack("p4", "2026-11-10T06:00:00Z")
	l.report("p4", "2026-11-12T06:00:00Z", mvmv1.Outcome_OUTCOME_NOT_FOUND)
	l.add("2026-11-13T00:00:00Z", tr, &mvmv1.VerificationFinding{Header: hdr("p4-find", "2026-11-13T00:00:00Z"), PackageId: "p4",
		Verdict: mvmv1.Verdict_VERDICT_CONTRADICTED, Reason: "r"})
	l.add("2026-11-14T00:00:00Z", af, &mvmv1.Dispute{Header: hdr("p4-disp", "2026-11-14T00:00:00Z"), PackageId: "p4",
		FindingId: "p4-find", Reason: "r"})
	l.add("2026-11-15T00:00:00Z", tr, &mvmv1.Ruling{Header: hdr("p4-rule-tr", "2026-11-15T00:00:00Z"), PackageId: "p4",
		DisputeId: "p4-disp", Decision: "upheld"})
	l.add("2026-11-16T00:00:00Z", qa, &mvmv1.Ruling{Header: hdr("p4-rule-qa", "2026-11-16T00:00:00Z"), PackageId: "p4",
		DisputeId: "p4-disp", Decision: "upheld"})
	// P6: acknowledgement due exactly at the month's end, met before it:
	// it belongs to December. Its report deadline is pending.
	l.submit("p6", "2026-11-30T00:00:00Z", 30.2, 67.0)
	// P8: the same, never acknowledged: pending at the end, not late.
	l.submit("p8", "2026-11-30T00:00:00Z", 30.3, 67.1)
	l.ack("p6", "2026-11-30T23:59:59Z")
	// P2: submitted in the last hour, its acknowledgement pending.
	l.submit("p2", "2026-11-30T23:00:00Z", 35.0, 72.0)
	// P7: withdrawn an hour after submission (which ends its deadline).
	l.submit("p7", "2026-11-20T00:00:00Z", 32.0, 70.0)
	l.add("2026-11-20T01:00:00Z", pk, &mvmv1.Withdrawal{Header: hdr("p7-wd", "2026-11-20T01:00:00Z"), PackageId: "p7", Reason: "stale"})
	// P5: received at the month's end exactly: December's.
	l.submit("p5", "2026-12-01T00:00:00Z", 36.0, 74.0)
	return l.entries
}

func build(t *testing.T, entries []report.Entry, month string) *report.Report {
	t.Helper()
	m, err := report.ParseMonth(month)
	if err != nil {
		t.Fatal(err)
	}
	b := report.NewBuilder(m)
	for _, e := range entries {
		if err := b.Add(e); err != nil {
			t.Fatalf("Add(%d): %v", e.Index, err)
		}
	}
	return b.Report(report.Checkpoint{Size: uint64(len(entries))})
}

const (
	hour = 3600
	day  = 24 * hour
)

func TestFigures(t *testing.T) {
	entries := story(t)
	for _, test := range []struct {
		month       string
		period, cum report.Figures
		complete    bool
	}{{
		month:    "2026-11",
		complete: true,
		period: report.Figures{
			PackagesSubmitted: 6, // p9, p4, p6, p8, p2, p7
			Obligations: []report.Obligation{
				// p9 0 s, p1 24 h (at its due time), p4 6 h, p7 1 h (withdrawn).
				{Name: "acknowledge", OnTime: 4, Met: 4, Median: 1 * hour, P90: 24 * hour, Deadline: day},
				// p1 one nanosecond late, p4 in 2 d; p3's was due in October.
				{Name: "action-report", OnTime: 1, Late: 1, Met: 2, Median: 2 * day, P90: 7 * day, Deadline: 7 * day},
				{Name: "evidence", Open: 1, Deadline: 10 * day},
			},
			ActionReports: map[string]int{"declined": 1, "raid": 1, "not-found": 1},
			Findings:      map[string]int{"contradicted": 1},
			Disputes:      report.Disputes{Opened: 1, Ruled: 1, MedianToRuling: 2 * day, P90ToRuling: 2 * day},
			Breaches: []report.BreachCount{
				{Party: "af", Obligation: "action-report", Count: 1},
				{Party: "af", Obligation: "evidence", Count: 1, Open: 1},
			},
		},
		cum: report.Figures{
			PackagesSubmitted: 8,
			Obligations: []report.Obligation{
				// p3's 48 h joins; p2's and p8's are pending, p6's met but
				// not yet due.
				{Name: "acknowledge", OnTime: 4, Late: 1, Pending: 2, Met: 5, Median: 6 * hour, P90: 48 * hour, Deadline: day},
				// p3 14 d; p6's pending.
				{Name: "action-report", OnTime: 1, Late: 2, Pending: 1, Met: 3, Median: 7 * day, P90: 14 * day, Deadline: 7 * day},
				{Name: "evidence", Open: 1, Deadline: 10 * day},
			},
			ActionReports: map[string]int{"declined": 1, "raid": 1, "not-found": 1},
			Findings:      map[string]int{"contradicted": 1},
			Disputes:      report.Disputes{Opened: 1, Ruled: 1, MedianToRuling: 2 * day, P90ToRuling: 2 * day},
			Breaches: []report.BreachCount{
				{Party: "af", Obligation: "acknowledge", Count: 1},
				{Party: "af", Obligation: "action-report", Count: 2},
				{Party: "af", Obligation: "evidence", Count: 1, Open: 1},
			},
		},
	}, {
		// October, as of November 1: p3's report, due Oct 29 and made on
		// Nov 5, was still open then.
		month:    "2026-10",
		complete: true,
		period: report.Figures{
			PackagesSubmitted: 2,
			Obligations: []report.Obligation{
				{Name: "acknowledge", Late: 1, Met: 1, Median: 2 * day, P90: 2 * day, Deadline: day},
				{Name: "action-report", Open: 1, Deadline: 7 * day},
				{Name: "evidence", Deadline: 10 * day},
			},
			ActionReports: map[string]int{},
			Findings:      map[string]int{},
			Breaches: []report.BreachCount{
				{Party: "af", Obligation: "acknowledge", Count: 1},
				{Party: "af", Obligation: "action-report", Count: 1, Open: 1},
			},
		},
		cum: report.Figures{
			PackagesSubmitted: 2,
			Obligations: []report.Obligation{
				// p1's acknowledgement is due Nov 1 12:00: pending.
				{Name: "acknowledge", Late: 1, Pending: 1, Met: 1, Median: 2 * day, P90: 2 * day, Deadline: day},
				{Name: "action-report", Open: 1, Deadline: 7 * day},
				{Name: "evidence", Deadline: 10 * day},
			},
			ActionReports: map[string]int{},
			Findings:      map[string]int{},
			Breaches: []report.BreachCount{
				{Party: "af", Obligation: "acknowledge", Count: 1},
				{Party: "af", Obligation: "action-report", Count: 1, Open: 1},
			},
		},
	}, {
		// December is not over in this log: only p5, submitted at its
		// first instant.
		month:    "2026-12",
		complete: false,
		period: report.Figures{
			PackagesSubmitted: 1,
			Obligations: []report.Obligation{
				// As of the log's last entry (p5's, at Dec 1 00:00): p6
				// acknowledged 23:59:59 after submission, on time; p8's
				// (due Dec 1 00:00, that instant), p2's and p5's not yet due.
				{Name: "acknowledge", OnTime: 1, Pending: 3, Met: 1, Median: day - 1, P90: day - 1, Deadline: day},
				// p6's report, due Dec 7 23:59:59.
				{Name: "action-report", Pending: 1, Deadline: 7 * day},
				{Name: "evidence", Deadline: 10 * day},
			},
			ActionReports: map[string]int{},
			Findings:      map[string]int{},
		},
	}} {
		t.Run(test.month, func(t *testing.T) {
			r := build(t, entries, test.month)
			if want := map[bool]time.Time{true: r.To, false: at("2026-12-01T00:00:00Z")}[test.complete]; !r.AsOf.Equal(want) {
				t.Errorf("as of: got %v, want %v", r.AsOf, want)
			}
			if r.Complete != test.complete {
				t.Errorf("complete: got %v, want %v", r.Complete, test.complete)
			}
			if !reflect.DeepEqual(r.MonthFigures, test.period) {
				t.Errorf("month figures:\n got %+v\nwant %+v", r.MonthFigures, test.period)
			}
			if test.cum.Obligations != nil && !reflect.DeepEqual(r.Cumulative, test.cum) {
				t.Errorf("cumulative figures:\n got %+v\nwant %+v", r.Cumulative, test.cum)
			}
		})
	}
}

func TestPackageRows(t *testing.T) {
	r := build(t, story(t), "2026-11")
	type row struct {
		id, status string
		breaches   int
		acked      bool
	}
	var got []row
	for _, p := range r.Packages {
		got = append(got, row{p.ID, p.Status, p.Breaches, p.Acked != nil})
	}
	want := []row{
		{"p3", "action-reported", 2, true}, // touched by its November report
		{"p1", "action-reported", 2, true},
		{"p9", "withdrawn", 0, false},
		{"p4", "ruled", 0, true},
		{"p6", "acknowledged", 0, true},
		{"p8", "submitted", 0, false}, // due at the end exactly: not late
		{"p2", "submitted", 0, false},
		{"p7", "withdrawn", 0, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows:\n got %v\nwant %v", got, want)
	}
	if p := r.Packages[3]; p.Ruled == nil || !p.Ruled.Equal(at("2026-11-16T00:00:00Z")) || p.Outcome != "not-found" || p.TLP != "amber" {
		t.Errorf("p4 row: got ruled %v outcome %q tlp %q", p.Ruled, p.Outcome, p.TLP)
	}
	if l := r.Packages[1].Locations; len(l) != 1 || l[0].Lat != 34.0 || l[0].Lon != 71.5 || l[0].PrecisionM != 50 {
		t.Errorf("p1 locations: got %+v", l)
	}
}

func TestRefusals(t *testing.T) {
	entries := story(t)
	m, _ := report.ParseMonth("2026-11")
	for _, test := range []struct {
		name    string
		entries []report.Entry
		want    string
	}{
		{"out of order", []report.Entry{entries[0], entries[2]}, "out of order"},
		{"no genesis", []report.Entry{{Index: 0, ReceivedAt: entries[1].ReceivedAt, Author: pk, Payload: entries[1].Payload}}, "before the genesis"},
		{"refused by the reducer", []report.Entry{entries[0], {Index: 1, ReceivedAt: entries[2].ReceivedAt, Author: af, Payload: entries[2].Payload}},
			"the reducer refuses entry 1"},
	} {
		t.Run(test.name, func(t *testing.T) {
			b := report.NewBuilder(m)
			var err error
			for _, e := range test.entries {
				if err = b.Add(e); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), test.want) {
				t.Errorf("got %v, want an error containing %q", err, test.want)
			}
		})
	}
	for _, s := range []string{"2026-13", "2026-1", "Nov 2026", ""} {
		if _, err := report.ParseMonth(s); err == nil {
			t.Errorf("ParseMonth(%q): no error", s)
		}
	}
}
