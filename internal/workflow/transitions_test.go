package workflow_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

const pkgID = "pkg-1"

// step is one message of a setup or a probe: its author and a builder
// that may look at the current package (for dispute and request ids).
type step struct {
	name   string
	author identity.Identity
	build  func(w *world, p *workflow.Package) proto.Message
}

func openDisputeID(p *workflow.Package) string {
	if p == nil || p.Dispute == nil {
		return ""
	}
	return p.Dispute.ID
}

var (
	sSubmit = step{"submit", pk, func(w *world, _ *workflow.Package) proto.Message { return w.target(pkgID) }}
	sAck    = step{"ack", af, func(w *world, _ *workflow.Package) proto.Message { return w.ack(pkgID) }}
	sRFI    = step{"rfi", af, func(w *world, _ *workflow.Package) proto.Message { return w.rfi(pkgID) }}
	sAnswer = step{"answer", pk, func(w *world, _ *workflow.Package) proto.Message { return w.answer(pkgID, "") }}
	sReport = step{"report", af, func(w *world, _ *workflow.Package) proto.Message {
		return w.report(pkgID, mvmv1.Outcome_OUTCOME_RAID_CONDUCTED, false)
	}}
	sEvidence  = step{"evidence", af, func(w *world, _ *workflow.Package) proto.Message { return w.evidence(pkgID) }}
	sWithdraw  = step{"withdraw", pk, func(w *world, _ *workflow.Package) proto.Message { return w.withdraw(pkgID) }}
	sConfirmed = step{"finding-confirmed", tr, func(w *world, _ *workflow.Package) proto.Message {
		return w.finding(pkgID, mvmv1.Verdict_VERDICT_CONFIRMED)
	}}
	sInconclusive = step{"finding-inconclusive", tr, func(w *world, _ *workflow.Package) proto.Message {
		return w.finding(pkgID, mvmv1.Verdict_VERDICT_INCONCLUSIVE)
	}}
	sContradicted = step{"finding-contradicted", qa, func(w *world, _ *workflow.Package) proto.Message {
		return w.finding(pkgID, mvmv1.Verdict_VERDICT_CONTRADICTED)
	}}
	sDisputePK = step{"dispute-by-submitter", pk, func(w *world, _ *workflow.Package) proto.Message { return w.dispute(pkgID, "") }}
	sDisputeAF = step{"dispute-by-responder", af, func(w *world, _ *workflow.Package) proto.Message { return w.dispute(pkgID, "") }}
	sRulingTR  = step{"ruling-tr", tr, func(w *world, p *workflow.Package) proto.Message {
		return w.ruling(pkgID, openDisputeID(p), "upheld")
	}}
	sRulingQA = step{"ruling-qa", qa, func(w *world, p *workflow.Package) proto.Message {
		return w.ruling(pkgID, openDisputeID(p), "upheld")
	}}
)

// setup is a sequence that brings a package into a status.
type setup struct {
	name   string
	status workflow.Status
	steps  []step
}

var setups = []setup{
	{"submitted", workflow.StatusSubmitted, []step{sSubmit}},
	{"acknowledged", workflow.StatusAcknowledged, []step{sSubmit, sAck}},
	{"acknowledged (request answered)", workflow.StatusAcknowledged, []step{sSubmit, sAck, sRFI, sAnswer}},
	{"information-requested", workflow.StatusInformationRequested, []step{sSubmit, sAck, sRFI}},
	{"information-requested (two open)", workflow.StatusInformationRequested, []step{sSubmit, sAck, sRFI, sRFI}},
	{"action-reported", workflow.StatusActionReported, []step{sSubmit, sAck, sReport}},
	{"action-reported (from information-requested)", workflow.StatusActionReported, []step{sSubmit, sAck, sRFI, sReport}},
	{"verified", workflow.StatusVerified, []step{sSubmit, sAck, sReport, sConfirmed}},
	{"contested", workflow.StatusContested, []step{sSubmit, sAck, sReport, sContradicted}},
	{"disputed (before a report)", workflow.StatusDisputed, []step{sSubmit, sAck, sDisputePK}},
	{"disputed (after a report)", workflow.StatusDisputed, []step{sSubmit, sAck, sReport, sDisputeAF}},
	{"ruled (before a report)", workflow.StatusRuled, []step{sSubmit, sAck, sDisputePK, sRulingTR, sRulingQA}},
	{"ruled (after a report)", workflow.StatusRuled, []step{sSubmit, sAck, sReport, sConfirmed, sDisputeAF, sRulingTR, sRulingQA}},
	{"withdrawn (from submitted)", workflow.StatusWithdrawn, []step{sSubmit, sWithdraw}},
	{"withdrawn (from acknowledged)", workflow.StatusWithdrawn, []step{sSubmit, sAck, sWithdraw}},
	{"withdrawn (from information-requested)", workflow.StatusWithdrawn, []step{sSubmit, sAck, sRFI, sWithdraw}},
}

// probes are applied to every setup, each by an author of the allowed role.
var probes = []step{
	{"resubmit", pk, func(w *world, _ *workflow.Package) proto.Message { return w.target(pkgID) }},
	sAck, sRFI, sAnswer, sReport, sEvidence, sWithdraw,
	sConfirmed, sInconclusive, sContradicted,
	sDisputePK, sDisputeAF, sRulingTR,
}

// Short names for the expectation table.
var (
	S = workflow.StatusSubmitted
	A = workflow.StatusAcknowledged
	I = workflow.StatusInformationRequested
	R = workflow.StatusActionReported
	V = workflow.StatusVerified
	C = workflow.StatusContested
	D = workflow.StatusDisputed
	U = workflow.StatusRuled
	W = workflow.StatusWithdrawn

	AE  = workflow.ErrAlreadyExists
	PRE = workflow.ErrPrecondition
)

// expected[setup] lists, in probe order, the status after the probe or the
// refusal kind. Derived from the state machine in doc.go:
//
//	submitted → acknowledged ⇄ information-requested → action-reported
//	action-reported → verified | contested (by mediator findings)
//	acknowledged … contested → disputed → ruled (quorum of mediators)
//	submitted | acknowledged | information-requested → withdrawn
//
// plus the per-message rules of apply.go: one package per id, one
// acknowledgement, one action report, evidence only after a report,
// findings re-verifiable while no dispute is open, one open dispute.
var expected = map[string][]any{
	//                                         resubmit ack rfi answer report evidence withdraw confirmed inconclusive contradicted dispute-pk dispute-af ruling
	"submitted":                                    {AE, A, PRE, PRE, PRE, PRE, W, PRE, PRE, PRE, PRE, PRE, PRE},
	"acknowledged":                                 {AE, AE, I, PRE, R, PRE, W, PRE, PRE, PRE, D, D, PRE},
	"acknowledged (request answered)":              {AE, AE, I, PRE, R, PRE, W, PRE, PRE, PRE, D, D, PRE},
	"information-requested":                        {AE, AE, I, A, R, PRE, W, PRE, PRE, PRE, D, D, PRE},
	"information-requested (two open)":             {AE, AE, I, I, R, PRE, W, PRE, PRE, PRE, D, D, PRE},
	"action-reported":                              {AE, AE, PRE, PRE, AE, R, PRE, V, R, C, D, D, PRE},
	"action-reported (from information-requested)": {AE, AE, PRE, PRE, AE, R, PRE, V, R, C, D, D, PRE},
	"verified":                                     {AE, AE, PRE, PRE, AE, V, PRE, V, V, C, D, D, PRE},
	"contested":                                    {AE, AE, PRE, PRE, AE, C, PRE, V, C, C, D, D, PRE},
	"disputed (before a report)":                   {AE, AE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, D},
	"disputed (after a report)":                    {AE, AE, PRE, PRE, AE, D, PRE, PRE, PRE, PRE, PRE, PRE, D},
	"ruled (before a report)":                      {AE, AE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE},
	"ruled (after a report)":                       {AE, AE, PRE, PRE, AE, U, PRE, PRE, PRE, PRE, PRE, PRE, PRE},
	"withdrawn (from submitted)":                   {AE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE},
	"withdrawn (from acknowledged)":                {AE, AE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE},
	"withdrawn (from information-requested)":       {AE, AE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE, PRE},
}

// build runs a setup and returns the package and the world that built it.
func build(t *testing.T, f *fixture, s setup) (*world, *workflow.Package) {
	t.Helper()
	w := newWorld(t, f.ag)
	var p *workflow.Package
	for _, st := range s.steps {
		p = w.must(p, st.author, st.build(w, p))
	}
	if p.Status != s.status {
		t.Fatalf("setup %s: status %v, want %v", s.name, p.Status, s.status)
	}
	return w, p
}

func TestTransitionTable(t *testing.T) {
	f := newFixture(t)

	// Every status has at least one setup, every setup an expectation row,
	// every payload type of a package a probe.
	covered := map[workflow.Status]bool{}
	for _, s := range setups {
		covered[s.status] = true
		if row, ok := expected[s.name]; !ok || len(row) != len(probes) {
			t.Fatalf("expected[%q] has %d entries, want %d", s.name, len(row), len(probes))
		}
	}
	for _, st := range workflow.Statuses {
		if !covered[st] {
			t.Errorf("status %s has no setup in the transition table", st)
		}
	}
	if len(expected) != len(setups) {
		t.Errorf("expected has %d rows, setups %d", len(expected), len(setups))
	}
	probed := map[string]bool{}
	{
		w := newWorld(t, f.ag)
		for _, pr := range probes {
			probed[message.TypeOf(pr.build(w, nil))] = true
		}
	}
	for _, typ := range []string{message.TypeTargetPackage, message.TypeAcknowledgement, message.TypeRequestForInformation,
		message.TypeInformationResponse, message.TypeActionReport, message.TypeEvidenceSubmission, message.TypeWithdrawal,
		message.TypeVerificationFinding, message.TypeDispute, message.TypeRuling} {
		if !probed[typ] {
			t.Errorf("payload type %s has no probe", typ)
		}
	}

	for _, s := range setups {
		for i, pr := range probes {
			want := expected[s.name][i]
			t.Run(s.name+"/"+pr.name, func(t *testing.T) {
				w, p := build(t, f, s)
				next, err := w.apply(p, pr.author, pr.build(w, p))
				switch want := want.(type) {
				case workflow.Status:
					if err != nil {
						t.Fatalf("%s in %s: got %v, want status %v", pr.name, s.status, err, want)
					}
					if next.Status != want {
						t.Errorf("%s in %s: got status %v, want %v", pr.name, s.status, next.Status, want)
					}
				case error:
					if err == nil {
						t.Fatalf("%s in %s: got status %v, want %v", pr.name, s.status, next.Status, want)
					}
					if !errors.Is(err, want) {
						t.Errorf("%s in %s: got %v, want %v", pr.name, s.status, err, want)
					}
					if errors.Is(err, workflow.ErrPrecondition) && !strings.Contains(err.Error(), "status is "+string(s.status)) {
						t.Errorf("%s in %s: FailedPrecondition %q does not name the current status", pr.name, s.status, err)
					}
				}
			})
		}
	}
}

// TestApplyDoesNotMutate checks the guarantee on its own, for every
// (setup, probe) pair, accepted or refused, with an independent deep copy.
func TestApplyDoesNotMutate(t *testing.T) {
	f := newFixture(t)
	for _, s := range setups {
		for _, pr := range probes {
			t.Run(s.name+"/"+pr.name, func(t *testing.T) {
				w, p := build(t, f, s)
				before := snapshot(p)
				eventsBefore := len(p.Events)
				in := w.input(pr.author, pr.build(w, p))
				next, err := workflow.Apply(f.ag, p, in)
				checkUnchanged(t, before, p)
				if got := len(p.Events); got != eventsBefore {
					t.Errorf("input events: got %v, want %v", got, eventsBefore)
				}
				if err == nil {
					// Mutating the result must not reach back into the input.
					next.Events[0].MessageID = "tampered"
					for i := range next.Deadlines {
						next.Deadlines[i].Name = "tampered"
					}
					for i := range next.Requests {
						next.Requests[i].ID = "tampered"
					}
					for i := range next.Findings {
						next.Findings[i].ID = "tampered"
					}
					if next.Dispute != nil {
						for _, m := range next.Dispute.Rulings {
							m["tampered"] = true
						}
						next.Dispute.Rulings["tampered"] = map[string]bool{}
					}
					checkUnchanged(t, before, p)
				}
			})
		}
	}
}

func TestPermissions(t *testing.T) {
	f := newFixture(t)
	// For each message type: a setup in which it is accepted from its role,
	// the allowed authors and every other author.
	all := []identity.Identity{pk, pk2, af, af2, tr, tr2, qa, zz}
	cases := []struct {
		setup   setup
		probe   step
		allowed []identity.Identity
	}{
		{setup{"none", "", nil}, sSubmit, []identity.Identity{pk, pk2}},
		{setups[0], sAck, []identity.Identity{af, af2}},
		{setups[1], sRFI, []identity.Identity{af, af2}},
		{setups[3], sAnswer, []identity.Identity{pk, pk2}},
		{setups[1], sReport, []identity.Identity{af, af2}},
		{setups[5], sEvidence, []identity.Identity{af, af2}},
		{setups[0], sWithdraw, []identity.Identity{pk, pk2}},
		{setups[5], sConfirmed, []identity.Identity{tr, tr2, qa}},
		{setups[1], sDisputePK, []identity.Identity{pk, pk2, af, af2}},
		{setups[9], sRulingTR, []identity.Identity{tr, tr2, qa}},
	}
	for _, c := range cases {
		for _, author := range all {
			allowed := false
			for _, a := range c.allowed {
				allowed = allowed || a == author
			}
			t.Run(fmt.Sprintf("%s/%s by %v", c.setup.name, c.probe.name, author), func(t *testing.T) {
				var w *world
				var p *workflow.Package
				if c.setup.steps == nil {
					w = newWorld(t, f.ag)
				} else {
					w, p = build(t, f, c.setup)
				}
				_, err := w.apply(p, author, c.probe.build(w, p))
				if allowed && err != nil {
					t.Errorf("got %v, want accepted", err)
				}
				if !allowed && !errors.Is(err, workflow.ErrPermission) {
					t.Errorf("got %v, want %v", err, workflow.ErrPermission)
				}
			})
		}
	}
}

// Submitters act only on their own packages, responders only on packages
// addressed to them; a package names a responder of the agreement.
func TestPartyBinding(t *testing.T) {
	f := newFixture(t)
	// A second submitter "in" and a second responder "ir".
	ag := f.variant(t, 0, func(p *mvmv1.Agreement) {
		p.Parties = append(p.Parties,
			&mvmv1.Party{Id: "in", Role: mvmv1.Role_ROLE_SUBMITTER, CaCertificates: p.Parties[0].CaCertificates},
			&mvmv1.Party{Id: "ir", Role: mvmv1.Role_ROLE_RESPONDER, CaCertificates: p.Parties[1].CaCertificates})
	})
	in := identity.Identity{TrustDomain: "mvm.example", Party: "in", Name: "in-liaison"}
	ir := identity.Identity{TrustDomain: "mvm.example", Party: "ir", Name: "ir-interior"}

	w := newWorld(t, ag)
	noResponder := w.target("pkg-a")
	if _, err := w.apply(nil, pk, noResponder); !errors.Is(err, workflow.ErrInvalid) {
		t.Errorf("package without responder, two responders: got %v, want %v", err, workflow.ErrInvalid)
	}
	toMediator := w.target("pkg-b")
	toMediator.Responder = "tr"
	if _, err := w.apply(nil, pk, toMediator); !errors.Is(err, workflow.ErrInvalid) {
		t.Errorf("package addressed to a mediator: got %v, want %v", err, workflow.ErrInvalid)
	}
	toStranger := w.target("pkg-c")
	toStranger.Responder = "zz"
	if _, err := w.apply(nil, pk, toStranger); !errors.Is(err, workflow.ErrInvalid) {
		t.Errorf("package addressed to a non-party: got %v, want %v", err, workflow.ErrInvalid)
	}
	toIR := w.target("pkg-d")
	toIR.Responder = "ir"
	p := w.must(nil, pk, toIR)
	if p.Responder != "ir" || p.Submitter != pk {
		t.Fatalf("package: responder %v submitter %v, want ir and %v", p.Responder, p.Submitter, pk)
	}
	if got, want := p.Deadlines[0].Party, "ir"; got != want {
		t.Errorf("acknowledge deadline party: got %v, want %v", got, want)
	}
	for _, c := range []struct {
		name   string
		author identity.Identity
		m      proto.Message
	}{
		{"af acknowledges ir's package", af, w.ack("pkg-d")},
		{"af disputes ir's package", af, w.dispute("pkg-d", "")},
		{"in withdraws pk's package", in, w.withdraw("pkg-d")},
		{"in disputes pk's package", in, w.dispute("pkg-d", "")},
	} {
		if _, err := w.apply(p, c.author, c.m); !errors.Is(err, workflow.ErrPermission) {
			t.Errorf("%s: got %v, want %v", c.name, err, workflow.ErrPermission)
		}
	}
	p = w.must(p, ir, w.ack("pkg-d"))
	p = w.must(p, pk2, w.dispute("pkg-d", "")) // another person of the submitting party
	if p.Status != workflow.StatusDisputed {
		t.Errorf("status: got %v, want %v", p.Status, workflow.StatusDisputed)
	}

	// With a single responder, an empty responder means that one.
	w = newWorld(t, f.ag)
	p = w.must(nil, pk, w.target("pkg-e"))
	if got, want := p.Responder, "af"; got != want {
		t.Errorf("default responder: got %v, want %v", got, want)
	}
	toSelf := w.target("pkg-f")
	toSelf.Responder = "pk"
	if _, err := w.apply(nil, pk, toSelf); !errors.Is(err, workflow.ErrInvalid) {
		t.Errorf("package addressed to its submitter: got %v, want %v", err, workflow.ErrInvalid)
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t)
	w := newWorld(t, f.ag)
	for _, c := range []struct {
		author identity.Identity
		m      proto.Message
	}{
		{af, w.ack("nope")}, {af, w.rfi("nope")}, {pk, w.answer("nope", "")}, {af, w.report("nope", mvmv1.Outcome_OUTCOME_ARRESTS, true)},
		{af, w.evidence("nope")}, {pk, w.withdraw("nope")}, {tr, w.finding("nope", mvmv1.Verdict_VERDICT_CONFIRMED)},
		{pk, w.dispute("nope", "")}, {qa, w.ruling("nope", "", "x")},
	} {
		if _, err := w.apply(nil, c.author, c.m); !errors.Is(err, workflow.ErrNotFound) {
			t.Errorf("%s on a missing package: got %v, want %v", message.TypeOf(c.m), err, workflow.ErrNotFound)
		}
	}

	_, p := build(t, f, setups[4]) // information-requested, two open requests
	w = newWorld(t, f.ag)
	w.idx, w.n = 100, 100
	if _, err := w.apply(p, pk, w.answer(pkgID, "rfi-unknown")); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("answer to an unknown request: got %v, want %v", err, workflow.ErrNotFound)
	}
	// Answer the second request by id, then the first by default; a second
	// answer to the same request is refused: it is no longer open.
	second := p.Requests[1].ID
	p = w.must(p, pk, w.answer(pkgID, second))
	if got, want := p.OpenRequests(), []string{p.Requests[0].ID}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("open requests: got %v, want %v", got, want)
	}
	if _, err := w.apply(p, pk, w.answer(pkgID, second)); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("second answer to %s: got %v, want %v", second, err, workflow.ErrNotFound)
	}
	p = w.must(p, pk, w.answer(pkgID, ""))
	if p.Status != workflow.StatusAcknowledged || len(p.OpenRequests()) != 0 {
		t.Errorf("after answering all: status %v open %v, want %v and none", p.Status, p.OpenRequests(), workflow.StatusAcknowledged)
	}

	// Disputing an unknown finding.
	_, p = build(t, f, setups[7]) // verified
	if _, err := w.apply(p, af, w.dispute(pkgID, "find-unknown")); !errors.Is(err, workflow.ErrNotFound) {
		t.Errorf("dispute of an unknown finding: got %v, want %v", err, workflow.ErrNotFound)
	}
	p = w.must(p, af, w.dispute(pkgID, p.Findings[0].ID))
	if got, want := p.Dispute.FindingID, p.Findings[0].ID; got != want {
		t.Errorf("disputed finding: got %v, want %v", got, want)
	}
}

func TestDuplicateIDs(t *testing.T) {
	f := newFixture(t)
	_, p := build(t, f, setups[1]) // acknowledged
	w := newWorld(t, f.ag)
	w.idx, w.n = 100, 100
	q := w.rfi(pkgID)
	p = w.must(p, af, q)
	again := proto.Clone(q).(*mvmv1.RequestForInformation)
	again.Question = "another question, same id"
	if _, err := w.apply(p, af, again); !errors.Is(err, workflow.ErrAlreadyExists) {
		t.Errorf("request with a reused id: got %v, want %v", err, workflow.ErrAlreadyExists)
	}
	p = w.must(p, af, w.report(pkgID, mvmv1.Outcome_OUTCOME_NOT_FOUND, false))
	fd := w.finding(pkgID, mvmv1.Verdict_VERDICT_CONFIRMED)
	p = w.must(p, tr, fd)
	dup := proto.Clone(fd).(*mvmv1.VerificationFinding)
	dup.Verdict = mvmv1.Verdict_VERDICT_CONTRADICTED
	if _, err := w.apply(p, tr, dup); !errors.Is(err, workflow.ErrAlreadyExists) {
		t.Errorf("finding with a reused id: got %v, want %v", err, workflow.ErrAlreadyExists)
	}
	if p.Status != workflow.StatusVerified {
		t.Errorf("status: got %v, want %v", p.Status, workflow.StatusVerified)
	}
}

// The status recorded in each event is the status after it.
func TestEventsRecordHistory(t *testing.T) {
	f := newFixture(t)
	_, p := build(t, f, setups[12]) // ruled (after a report)
	var got []string
	for _, e := range p.Events {
		got = append(got, workflow.ShortType(e.Type)+"→"+string(e.Status))
	}
	want := "target-package→submitted acknowledgement→acknowledged action-report→action-reported finding→verified " +
		"dispute→disputed ruling→disputed ruling→ruled"
	if strings.Join(got, " ") != want {
		t.Errorf("history:\n got  %v\n want %v", strings.Join(got, " "), want)
	}
	for i, e := range p.Events {
		if e.Index != uint64(i+1) {
			t.Errorf("event %d index: got %v, want %v", i, e.Index, i+1)
		}
	}
	if got, want := p.Outcome(), "raid"; got != want {
		t.Errorf("Outcome: got %v, want %v", got, want)
	}
	if got, want := p.Disputes, 1; got != want {
		t.Errorf("Disputes: got %v, want %v", got, want)
	}
}
