package workflow_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// roundTrip encodes and decodes p.
func roundTrip(t *testing.T, p *workflow.Package) *workflow.Package {
	t.Helper()
	q, err := workflow.DecodeCompact(p.AppendCompact(nil))
	if err != nil {
		t.Fatalf("DecodeCompact: %v", err)
	}
	return q
}

// A package replayed through its encoding at every step takes the same
// decisions as one kept in memory, and the decoded state is exactly the
// compact one.
func TestCompactEncodingRandomSequences(t *testing.T) {
	f := newFixture(t)
	r := rand.New(rand.NewPCG(20260302, 7))
	kept, refused := 0, 0
	for seq := range 1500 {
		w := newWorld(t, f.ag)
		g := &gen{r: r, w: w}
		var mem, disk *workflow.Package
		for step := range 1 + r.IntN(30) {
			author, m := g.next(mem)
			w.now = w.now.Add(time.Duration(r.IntN(48*60)) * time.Minute)
			in := w.input(author, m)
			a, errA := workflow.Apply(f.ag, mem, in)
			b, errB := workflow.Apply(f.ag, disk, in)
			if fmt.Sprint(errA) != fmt.Sprint(errB) {
				t.Fatalf("sequence %d step %d: in memory %v, through the encoding %v", seq, step, errA, errB)
			}
			if errA != nil {
				refused++
				continue
			}
			kept++
			mem, disk = a.Compact(), roundTrip(t, b)
			if !reflect.DeepEqual(disk, mem) {
				t.Fatalf("sequence %d step %d: decoded\n %+v\nwant\n %+v", seq, step, disk, mem)
			}
		}
	}
	t.Logf("%d states encoded, %d refusals compared", kept, refused)
}

func TestCompactEncodingCases(t *testing.T) {
	at := time.Date(2026, 3, 2, 8, 0, 0, 123456789, time.UTC)
	full := &workflow.Package{
		ID: "pkg-1", Index: 7, ReceivedAt: at, Submitter: pk, Responder: "af",
		Sealed: true, Target: &mvmv1.TargetPackage{Summary: "dropped"},
		Status: workflow.StatusDisputed, Report: &mvmv1.ActionReport{Outcome: mvmv1.Outcome_OUTCOME_ARRESTS, Note: "dropped"},
		AckIndex: 8, ReportIndex: 1 << 40,
		Requests: []workflow.Request{{ID: "r1", Index: 9}, {ID: "r2", Index: 11}},
		Findings: []workflow.Finding{{ID: "f1", Index: 12, Mediator: tr, Verdict: mvmv1.Verdict_VERDICT_CONTRADICTED}},
		Dispute: &workflow.Dispute{ID: "d1", Index: 13, By: af, FindingID: "f1",
			Rulings: map[string]map[string]bool{"upheld": {"tr": true, "qa": true}, "dismissed": {"qa": false}}, Decision: "upheld", RuledAt: 14},
		Deadlines: []workflow.Deadline{
			{Name: workflow.DeadlineAcknowledge, Party: "af", Due: at.Add(24 * time.Hour), Met: at},
			{Name: workflow.DeadlineActionReport, Party: "af", Due: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
			{Name: workflow.DeadlineEvidence, Party: "af", Due: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), Met: time.Unix(-5, 1).UTC()},
		},
		Withdrawn: &mvmv1.Withdrawal{Reason: "dropped"}, Events: []workflow.Event{{Index: 7}}, Disputes: 3,
		Entries: map[string]int{"pk": 1, "af": 4999, "tr": 2},
	}
	for _, tc := range []struct {
		name string
		p    *workflow.Package
	}{
		{"empty", &workflow.Package{}},
		{"new dispute", &workflow.Package{ID: "x", Dispute: &workflow.Dispute{Rulings: map[string]map[string]bool{}}}},
		{"every field", full},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.p.Compact()
			if got := roundTrip(t, tc.p); !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n %+v\nwant\n %+v", got, want)
			}
		})
	}

	enc := full.AppendCompact([]byte("prefix"))
	if string(enc[:6]) != "prefix" {
		t.Errorf("AppendCompact did not append")
	}
	enc = enc[6:]
	for n := range len(enc) {
		if _, err := workflow.DecodeCompact(enc[:n]); err == nil {
			t.Errorf("a truncation to %d of %d bytes decoded", n, len(enc))
		}
	}
	for _, bad := range [][]byte{append(slices.Clone(enc), 0), append([]byte{99}, enc[1:]...)} {
		if _, err := workflow.DecodeCompact(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

// The encoding must name every field of the state. A new field fails this
// test until AppendCompact, DecodeCompact and this list take it in.
func TestCompactEncodingKnowsEveryField(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want []string
	}{
		{workflow.Package{}, []string{"ID", "Index", "ReceivedAt", "Submitter", "Responder", "Sealed", "Target", "Status", "Report",
			"AckIndex", "ReportIndex", "Requests", "Findings", "Dispute", "Deadlines", "Withdrawn", "Events", "Disputes", "Entries"}},
		{workflow.Request{}, []string{"ID", "Index"}},
		{workflow.Finding{}, []string{"ID", "Index", "Mediator", "Verdict"}},
		{workflow.Dispute{}, []string{"ID", "Index", "By", "FindingID", "Rulings", "Decision", "RuledAt"}},
		{workflow.Deadline{}, []string{"Name", "Party", "Due", "Met"}},
		{identity.Identity{}, []string{"TrustDomain", "Party", "Name"}},
	} {
		typ := reflect.TypeOf(tc.v)
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s has fields %v; the compact encoding knows %v", typ, got, tc.want)
		}
	}
}
