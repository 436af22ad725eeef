package workflow_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Dev agreement deadlines.
const (
	ackD      = 24 * time.Hour
	reportD   = 7 * 24 * time.Hour
	evidenceD = 10 * 24 * time.Hour
)

func fmtBreaches(bs []workflow.Breach) string {
	var out []string
	for _, b := range bs {
		out = append(out, fmt.Sprintf("%s/%s/%s due=%s late=%v open=%v", b.PackageID, b.Party, b.Deadline,
			b.Due.Format(time.RFC3339Nano), b.Late, b.Open))
	}
	return strings.Join(out, "; ")
}

func br(pkg, deadline string, due time.Time, late time.Duration, open bool) workflow.Breach {
	return workflow.Breach{PackageID: pkg, Party: "af", Deadline: deadline, Due: due, Late: late, Open: open}
}

func TestBreachesAcknowledge(t *testing.T) {
	f := newFixture(t)
	due := t0.Add(ackD)
	unacked := func() *workflow.Package {
		w := newWorld(t, f.ag)
		return w.must(nil, pk, w.applyTarget(t0))
	}
	ackedAt := func(at time.Time) *workflow.Package {
		w := newWorld(t, f.ag)
		p := w.must(nil, pk, w.applyTarget(t0))
		next, err := w.applyIn(p, w.inputAt(af, w.ack(pkgID), at))
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	tests := []struct {
		name string
		pkg  *workflow.Package
		asOf time.Time
		want []workflow.Breach
	}{
		{"open, just before due", unacked(), due.Add(-time.Nanosecond), nil},
		{"open, exactly at due", unacked(), due, nil},
		{"open, just after due", unacked(), due.Add(time.Nanosecond), []workflow.Breach{br(pkgID, "acknowledge", due, time.Nanosecond, true)}},
		{"open, five hours late", unacked(), due.Add(5 * time.Hour), []workflow.Breach{br(pkgID, "acknowledge", due, 5*time.Hour, true)}},
		{"met just before due", ackedAt(due.Add(-time.Nanosecond)), due.Add(time.Hour), nil},
		{"met exactly at due", ackedAt(due), due.Add(time.Hour), nil},
		{"met just after due", ackedAt(due.Add(time.Nanosecond)), due.Add(time.Hour),
			[]workflow.Breach{br(pkgID, "acknowledge", due, time.Nanosecond, false)}},
		{"met 90 minutes late, as of much later", ackedAt(due.Add(90 * time.Minute)), due.Add(100 * time.Hour),
			[]workflow.Breach{br(pkgID, "acknowledge", due, 90*time.Minute, false)}},
		// Not in Breaches' contract (entries after asOf must be left out),
		// but the code treats an obligation met after asOf as still open.
		{"met after the as-of time", ackedAt(due.Add(3 * time.Hour)), due.Add(time.Hour),
			[]workflow.Breach{br(pkgID, "acknowledge", due, time.Hour, true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := workflow.Breaches([]*workflow.Package{tt.pkg}, tt.asOf)
			if fmtBreaches(got) != fmtBreaches(tt.want) {
				t.Errorf("Breaches:\n got  %v\n want %v", fmtBreaches(got), fmtBreaches(tt.want))
			}
		})
	}
}

func (w *world) applyTarget(at time.Time) *mvmv1.TargetPackage {
	w.now = at.Add(-time.Minute) // w.must receives it one minute later: at
	return w.target(pkgID)
}

// acked returns a package submitted at t0 and acknowledged at tAck.
func acked(t *testing.T, f *fixture, tAck time.Time) (*world, *workflow.Package) {
	t.Helper()
	w := newWorld(t, f.ag)
	p := w.must(nil, pk, w.applyTarget(t0))
	p, err := w.applyIn(p, w.inputAt(af, w.ack(pkgID), tAck))
	if err != nil {
		t.Fatal(err)
	}
	return w, p
}

func TestBreachesActionReport(t *testing.T) {
	f := newFixture(t)
	tAck := t0.Add(time.Hour)
	due := tAck.Add(reportD)
	reportedAt := func(at time.Time) *workflow.Package {
		w, p := acked(t, f, tAck)
		p, err := w.applyIn(p, w.inputAt(af, w.report(pkgID, mvmv1.Outcome_OUTCOME_NOT_FOUND, false), at))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, open := acked(t, f, tAck)
	if d := open.Deadlines[1]; d.Name != workflow.DeadlineActionReport || !d.Due.Equal(due) {
		t.Fatalf("action-report deadline: got %+v, want due %v", d, due)
	}
	tests := []struct {
		name string
		pkg  *workflow.Package
		asOf time.Time
		want []workflow.Breach
	}{
		{"open, just before due", open, due.Add(-time.Nanosecond), nil},
		{"open, exactly at due", open, due, nil},
		{"open, just after due", open, due.Add(time.Nanosecond), []workflow.Breach{br(pkgID, "action-report", due, time.Nanosecond, true)}},
		{"met exactly at due", reportedAt(due), due.Add(48 * time.Hour), nil},
		{"met just after due", reportedAt(due.Add(time.Nanosecond)), due.Add(48 * time.Hour),
			[]workflow.Breach{br(pkgID, "action-report", due, time.Nanosecond, false)}},
		{"met a day late", reportedAt(due.Add(24 * time.Hour)), due.Add(48 * time.Hour),
			[]workflow.Breach{br(pkgID, "action-report", due, 24*time.Hour, false)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := workflow.Breaches([]*workflow.Package{tt.pkg}, tt.asOf)
			if fmtBreaches(got) != fmtBreaches(tt.want) {
				t.Errorf("Breaches:\n got  %v\n want %v", fmtBreaches(got), fmtBreaches(tt.want))
			}
		})
	}
}

// A dispute stops the action-report deadline (hole 5 of issue 12): opened
// before the due time nothing is ever late, however long the mediators
// take; opened after it, the lateness is frozen at the dispute. The server
// and the audit both compute this from the package Apply returns.
func TestBreachesActionReportDuringDispute(t *testing.T) {
	f := newFixture(t)
	tAck := t0.Add(time.Hour)
	due := tAck.Add(reportD)
	year := due.Add(365 * 24 * time.Hour)
	disputedAt := func(by identity.Identity, at time.Time) (*world, *workflow.Package) {
		w, p := acked(t, f, tAck)
		p, err := w.applyIn(p, w.inputAt(by, w.dispute(pkgID, ""), at))
		if err != nil {
			t.Fatal(err)
		}
		return w, p
	}
	ruled := func(w *world, p *workflow.Package, at time.Time) *workflow.Package {
		p = w.must(p, tr, w.ruling(pkgID, "", "upheld"))
		p, err := w.applyIn(p, w.inputAt(qa, w.ruling(pkgID, "", "upheld"), at))
		if err != nil || p.Status != workflow.StatusRuled {
			t.Fatalf("ruling: %v, status %v", err, p.Status)
		}
		return p
	}
	_, early := disputedAt(pk, due.Add(-time.Hour))
	_, late := disputedAt(pk, due.Add(3*time.Hour))
	wr, r := disputedAt(af, due.Add(-time.Hour))
	ruledLater := ruled(wr, r, year)
	tests := []struct {
		name string
		pkg  *workflow.Package
		asOf time.Time
		want []workflow.Breach
	}{
		{"disputed before due, a year on", early, year, nil},
		{"disputed 3h after due, a year on", late, year, []workflow.Breach{br(pkgID, "action-report", due, 3*time.Hour, false)}},
		{"disputed 3h after due, just after the dispute", late, due.Add(3*time.Hour + time.Nanosecond),
			[]workflow.Breach{br(pkgID, "action-report", due, 3*time.Hour, false)}},
		{"disputed before due, ruled a year later", ruledLater, year.Add(time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := workflow.Breaches([]*workflow.Package{tt.pkg}, tt.asOf)
			if fmtBreaches(got) != fmtBreaches(tt.want) {
				t.Errorf("Breaches:\n got  %v\n want %v", fmtBreaches(got), fmtBreaches(tt.want))
			}
		})
	}
}

func TestBreachesEvidence(t *testing.T) {
	f := newFixture(t)
	tAck := t0.Add(time.Hour)
	tRep := tAck.Add(2 * time.Hour)
	due := tRep.Add(evidenceD)
	far := due.Add(1000 * time.Hour)

	reported := func(o mvmv1.Outcome, withEvidence bool) (*world, *workflow.Package) {
		w, p := acked(t, f, tAck)
		p, err := w.applyIn(p, w.inputAt(af, w.report(pkgID, o, withEvidence), tRep))
		if err != nil {
			t.Fatal(err)
		}
		return w, p
	}
	names := func(p *workflow.Package) string {
		var n []string
		for _, d := range p.Deadlines {
			n = append(n, d.Name)
		}
		return strings.Join(n, ",")
	}

	t.Run("which outcomes need evidence", func(t *testing.T) {
		for o := mvmv1.Outcome_OUTCOME_RAID_CONDUCTED; o <= mvmv1.Outcome_OUTCOME_DECLINED; o++ {
			_, p := reported(o, false)
			want := "acknowledge,action-report"
			if o == mvmv1.Outcome_OUTCOME_RAID_CONDUCTED || o == mvmv1.Outcome_OUTCOME_SITE_DESTROYED || o == mvmv1.Outcome_OUTCOME_ARRESTS {
				want += ",evidence"
			}
			if got := names(p); got != want {
				t.Errorf("%v: deadlines got %v, want %v", o, got, want)
			}
			var wantB []workflow.Breach
			if strings.HasSuffix(want, "evidence") {
				wantB = []workflow.Breach{br(pkgID, "evidence", due, far.Sub(due), true)}
			}
			if got := workflow.Breaches([]*workflow.Package{p}, far); fmtBreaches(got) != fmtBreaches(wantB) {
				t.Errorf("%v: Breaches got %v, want %v", o, fmtBreaches(got), fmtBreaches(wantB))
			}
		}
	})

	t.Run("evidence on the report meets it immediately", func(t *testing.T) {
		for _, o := range []mvmv1.Outcome{mvmv1.Outcome_OUTCOME_RAID_CONDUCTED, mvmv1.Outcome_OUTCOME_SITE_DESTROYED, mvmv1.Outcome_OUTCOME_ARRESTS} {
			_, p := reported(o, true)
			d := p.Deadlines[2]
			if d.Name != workflow.DeadlineEvidence || !d.Met.Equal(tRep) || !d.Due.Equal(due) {
				t.Errorf("%v: evidence deadline got %+v, want due %v met %v", o, d, due, tRep)
			}
			if got := workflow.Breaches([]*workflow.Package{p}, far); len(got) != 0 {
				t.Errorf("%v: Breaches got %v, want none", o, fmtBreaches(got))
			}
		}
	})

	for _, tt := range []struct {
		name string
		at   time.Time
		want []workflow.Breach
	}{
		{"evidence submitted well before due", due.Add(-time.Hour), nil},
		{"evidence submitted exactly at due", due, nil},
		{"evidence submitted just after due", due.Add(time.Nanosecond), []workflow.Breach{br(pkgID, "evidence", due, time.Nanosecond, false)}},
		{"evidence submitted two hours late", due.Add(2 * time.Hour), []workflow.Breach{br(pkgID, "evidence", due, 2*time.Hour, false)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, p := reported(mvmv1.Outcome_OUTCOME_ARRESTS, false)
			p, err := w.applyIn(p, w.inputAt(af, w.evidence(pkgID), tt.at))
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != workflow.StatusActionReported {
				t.Errorf("status after evidence: got %v, want %v", p.Status, workflow.StatusActionReported)
			}
			// A second submission later does not move the met time.
			p2, err := w.applyIn(p, w.inputAt(af, w.evidence(pkgID), tt.at.Add(300*time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			for _, pp := range []*workflow.Package{p, p2} {
				if got := workflow.Breaches([]*workflow.Package{pp}, far); fmtBreaches(got) != fmtBreaches(tt.want) {
					t.Errorf("Breaches:\n got  %v\n want %v", fmtBreaches(got), fmtBreaches(tt.want))
				}
			}
		})
	}

	t.Run("evidence deadline open at its edges", func(t *testing.T) {
		_, p := reported(mvmv1.Outcome_OUTCOME_SITE_DESTROYED, false)
		for _, c := range []struct {
			asOf time.Time
			want []workflow.Breach
		}{
			{due.Add(-time.Nanosecond), nil},
			{due, nil},
			{due.Add(time.Nanosecond), []workflow.Breach{br(pkgID, "evidence", due, time.Nanosecond, true)}},
		} {
			if got := workflow.Breaches([]*workflow.Package{p}, c.asOf); fmtBreaches(got) != fmtBreaches(c.want) {
				t.Errorf("as of %v: got %v, want %v", c.asOf, fmtBreaches(got), fmtBreaches(c.want))
			}
		}
	})
}

func TestBreachesWithdrawalEndsObligations(t *testing.T) {
	f := newFixture(t)
	due := t0.Add(ackD)
	for _, tt := range []struct {
		name string
		at   time.Time
		want []workflow.Breach
	}{
		{"withdrawn before due", due.Add(-time.Hour), nil},
		{"withdrawn at due", due, nil},
		{"withdrawn six hours late", due.Add(6 * time.Hour), []workflow.Breach{br(pkgID, "acknowledge", due, 6*time.Hour, false)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, f.ag)
			p := w.must(nil, pk, w.applyTarget(t0))
			p, err := w.applyIn(p, w.inputAt(pk, w.withdraw(pkgID), tt.at))
			if err != nil {
				t.Fatal(err)
			}
			got := workflow.Breaches([]*workflow.Package{p}, due.Add(1000*time.Hour))
			if fmtBreaches(got) != fmtBreaches(tt.want) {
				t.Errorf("Breaches:\n got  %v\n want %v", fmtBreaches(got), fmtBreaches(tt.want))
			}
		})
	}
}

func TestBreachesOrder(t *testing.T) {
	base := t0
	d := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	pkgs := []*workflow.Package{
		{ID: "b", Deadlines: []workflow.Deadline{
			{Name: "evidence", Party: "af", Due: d(10)},
			{Name: "action-report", Party: "af", Due: d(10)},
			{Name: "acknowledge", Party: "af", Due: d(1), Met: d(1)}, // on time: no breach
		}},
		{ID: "a", Deadlines: []workflow.Deadline{
			{Name: "acknowledge", Party: "af", Due: d(10), Met: d(12)},
			{Name: "action-report", Party: "ir", Due: d(2)},
		}},
		{ID: "c", Deadlines: []workflow.Deadline{
			{Name: "acknowledge", Party: "af", Due: d(5), Met: d(4)}, // early: no breach
			{Name: "evidence", Party: "af", Due: d(30)},              // not yet due
		}},
	}
	asOf := d(20)
	want := []workflow.Breach{
		{PackageID: "a", Party: "ir", Deadline: "action-report", Due: d(2), Late: 18 * time.Hour, Open: true},
		{PackageID: "a", Party: "af", Deadline: "acknowledge", Due: d(10), Late: 2 * time.Hour, Open: false},
		{PackageID: "b", Party: "af", Deadline: "action-report", Due: d(10), Late: 10 * time.Hour, Open: true},
		{PackageID: "b", Party: "af", Deadline: "evidence", Due: d(10), Late: 10 * time.Hour, Open: true},
	}
	got := workflow.Breaches(pkgs, asOf)
	if fmtBreaches(got) != fmtBreaches(want) {
		t.Errorf("Breaches:\n got  %v\n want %v", fmtBreaches(got), fmtBreaches(want))
	}
	// The order does not depend on the order of the input.
	rev := []*workflow.Package{pkgs[2], pkgs[1], pkgs[0]}
	if got := workflow.Breaches(rev, asOf); fmtBreaches(got) != fmtBreaches(want) {
		t.Errorf("Breaches (reversed input):\n got  %v\n want %v", fmtBreaches(got), fmtBreaches(want))
	}
	if got := workflow.Breaches(nil, asOf); len(got) != 0 {
		t.Errorf("Breaches(nil): got %v, want none", got)
	}
}

// Packages built by the reducer, several breaches, one list.
func TestBreachesFromReducer(t *testing.T) {
	f := newFixture(t)
	w := newWorld(t, f.ag)
	submit := func(id string, at time.Time) *workflow.Package {
		p, err := w.applyIn(nil, w.inputAt(pk, w.target(id), at))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	step := func(p *workflow.Package, at time.Time, m func(id string) *workflow.Input) *workflow.Package {
		in := m(p.ID)
		in.ReceivedAt = at
		next, err := w.applyIn(p, *in)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	ack := func(id string) *workflow.Input { in := w.input(af, w.ack(id)); return &in }
	raid := func(id string) *workflow.Input {
		in := w.input(af, w.report(id, mvmv1.Outcome_OUTCOME_RAID_CONDUCTED, false))
		return &in
	}

	// p1: never acknowledged.
	p1 := submit("p1", t0)
	// p2: acknowledged 2h late, raid reported on time without evidence.
	p2 := submit("p2", t0)
	p2 = step(p2, t0.Add(ackD+2*time.Hour), ack)
	p2 = step(p2, t0.Add(ackD+3*time.Hour), raid)
	// p0: same submission time as p1, never acknowledged: ties break by id.
	p0 := submit("p0", t0)

	asOf := t0.Add(ackD + 3*time.Hour + evidenceD + time.Hour)
	got := workflow.Breaches([]*workflow.Package{p2, p1, p0}, asOf)
	want := []workflow.Breach{
		br("p0", "acknowledge", t0.Add(ackD), asOf.Sub(t0.Add(ackD)), true),
		br("p1", "acknowledge", t0.Add(ackD), asOf.Sub(t0.Add(ackD)), true),
		br("p2", "acknowledge", t0.Add(ackD), 2*time.Hour, false),
		br("p2", "evidence", t0.Add(ackD+3*time.Hour+evidenceD), time.Hour, true),
	}
	if fmtBreaches(got) != fmtBreaches(want) {
		t.Errorf("Breaches:\n got  %v\n want %v", fmtBreaches(got), fmtBreaches(want))
	}
}

// TestBreachable: a deadline Breachable says no to is a breach at no as-of
// time; one it says yes to is a breach at some time.
func TestBreachable(t *testing.T) {
	due := t0.Add(24 * time.Hour)
	for _, tc := range []struct {
		name string
		d    workflow.Deadline
		want bool
	}{
		{"open", workflow.Deadline{Due: due}, true},
		{"met early", workflow.Deadline{Due: due, Met: due.Add(-time.Hour)}, false},
		{"met at due", workflow.Deadline{Due: due, Met: due}, false},
		{"met late", workflow.Deadline{Due: due, Met: due.Add(time.Nanosecond)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := workflow.Breachable(tc.d); got != tc.want {
				t.Fatalf("Breachable: got %v, want %v", got, tc.want)
			}
			some := false
			for _, asOf := range []time.Time{t0, due.Add(-time.Nanosecond), due, due.Add(time.Nanosecond), due.Add(time.Hour), due.Add(1000 * time.Hour)} {
				_, ok := workflow.BreachOf("p", tc.d, asOf)
				some = some || ok
			}
			if some != tc.want {
				t.Errorf("a breach at some time: %v, Breachable says %v", some, tc.want)
			}
		})
	}
}
