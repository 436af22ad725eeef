package workflow_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// edges is every status change an accepted entry may cause ("" = no
// package yet). It is the state machine of doc.go with its self-loops
// (a second request, a partial answer, evidence, an inconclusive or
// repeated finding, a ruling below quorum) and the re-verification of a
// verified or contested package by a later finding.
var edges = map[workflow.Status][]workflow.Status{
	"":                                  {workflow.StatusSubmitted},
	workflow.StatusSubmitted:            {workflow.StatusAcknowledged, workflow.StatusWithdrawn},
	workflow.StatusAcknowledged:         {workflow.StatusInformationRequested, workflow.StatusActionReported, workflow.StatusDisputed, workflow.StatusWithdrawn},
	workflow.StatusInformationRequested: {workflow.StatusInformationRequested, workflow.StatusAcknowledged, workflow.StatusActionReported, workflow.StatusDisputed, workflow.StatusWithdrawn},
	workflow.StatusActionReported:       {workflow.StatusActionReported, workflow.StatusVerified, workflow.StatusContested, workflow.StatusDisputed},
	workflow.StatusVerified:             {workflow.StatusVerified, workflow.StatusContested, workflow.StatusDisputed},
	workflow.StatusContested:            {workflow.StatusContested, workflow.StatusVerified, workflow.StatusDisputed},
	workflow.StatusDisputed:             {workflow.StatusDisputed, workflow.StatusRuled},
	workflow.StatusRuled:                {workflow.StatusRuled},
	workflow.StatusWithdrawn:            {},
}

type edge struct{ from, to workflow.Status }

// gen generates random messages for one package.
type gen struct {
	r       *rand.Rand
	w       *world
	usedIDs []string
}

var propAuthors = []identity.Identity{pk, pk2, af, af2, tr, tr2, qa, zz}

func (g *gen) pick(ids []string) string { return ids[g.r.IntN(len(ids))] }

func (g *gen) header(prefix string) *mvmv1.Header {
	h := g.w.hdr(prefix)
	if len(g.usedIDs) > 0 && g.r.IntN(10) == 0 {
		h.MessageId = g.pick(g.usedIDs) // reuse an id: requests and findings must refuse duplicates
	}
	g.usedIDs = append(g.usedIDs, h.MessageId)
	return h
}

func roleAuthors(typ string) []identity.Identity {
	switch typ {
	case message.TypeTargetPackage, message.TypeInformationResponse, message.TypeWithdrawal:
		return []identity.Identity{pk, pk2}
	case message.TypeAcknowledgement, message.TypeRequestForInformation, message.TypeActionReport, message.TypeEvidenceSubmission:
		return []identity.Identity{af, af2}
	case message.TypeVerificationFinding, message.TypeRuling:
		return []identity.Identity{tr, tr2, qa}
	case message.TypeDispute:
		return []identity.Identity{pk, af}
	}
	return nil
}

var propTypes = []string{message.TypeTargetPackage, message.TypeAcknowledgement, message.TypeRequestForInformation,
	message.TypeInformationResponse, message.TypeActionReport, message.TypeEvidenceSubmission, message.TypeWithdrawal,
	message.TypeVerificationFinding, message.TypeDispute, message.TypeRuling}

// likely lists, per status, the messages that tend to move a package on,
// so that random sequences reach the deep statuses often; the rest of the
// time the type is uniform, to probe refusals.
var likely = map[workflow.Status][]string{
	"":                                  {message.TypeTargetPackage},
	workflow.StatusSubmitted:            {message.TypeAcknowledgement, message.TypeAcknowledgement, message.TypeAcknowledgement, message.TypeWithdrawal},
	workflow.StatusAcknowledged:         {message.TypeRequestForInformation, message.TypeActionReport, message.TypeActionReport, message.TypeDispute},
	workflow.StatusInformationRequested: {message.TypeInformationResponse, message.TypeRequestForInformation, message.TypeActionReport, message.TypeDispute},
	workflow.StatusActionReported:       {message.TypeVerificationFinding, message.TypeVerificationFinding, message.TypeEvidenceSubmission, message.TypeDispute},
	workflow.StatusVerified:             {message.TypeVerificationFinding, message.TypeEvidenceSubmission, message.TypeDispute},
	workflow.StatusContested:            {message.TypeVerificationFinding, message.TypeEvidenceSubmission, message.TypeDispute},
	workflow.StatusDisputed:             {message.TypeRuling, message.TypeRuling, message.TypeEvidenceSubmission},
	workflow.StatusRuled:                {message.TypeEvidenceSubmission, message.TypeRuling},
	workflow.StatusWithdrawn:            propTypes,
}

func (g *gen) next(p *workflow.Package) (identity.Identity, proto.Message) {
	typ := g.pick(propTypes)
	status := workflow.Status("")
	if p != nil {
		status = p.Status
	}
	if g.r.IntN(10) < 7 {
		typ = g.pick(likely[status])
	}
	author := g.r.IntN(len(propAuthors))
	who := propAuthors[author]
	if g.r.IntN(8) != 0 {
		as := roleAuthors(typ)
		who = as[g.r.IntN(len(as))]
	}
	const id = "pkg"
	var m proto.Message
	switch typ {
	case message.TypeTargetPackage:
		t := g.w.target(id)
		m = t
	case message.TypeAcknowledgement:
		m = &mvmv1.Acknowledgement{Header: g.header("ack"), PackageId: id}
	case message.TypeRequestForInformation:
		m = &mvmv1.RequestForInformation{Header: g.header("rfi"), PackageId: id, Question: "q"}
	case message.TypeInformationResponse:
		req := ""
		switch n := g.r.IntN(10); {
		case n < 4 && p != nil && len(p.Requests) > 0:
			req = p.Requests[g.r.IntN(len(p.Requests))].ID
		case n == 9:
			req = "bogus"
		}
		m = &mvmv1.InformationResponse{Header: g.header("ans"), PackageId: id, RequestId: req, Answer: "a"}
	case message.TypeActionReport:
		o := mvmv1.Outcome(1 + g.r.IntN(6))
		r := &mvmv1.ActionReport{Header: g.header("rep"), PackageId: id, Outcome: o, Note: "n"}
		if g.r.IntN(2) == 0 {
			r.EvidenceSha256 = digest(1)
		}
		m = r
	case message.TypeEvidenceSubmission:
		m = &mvmv1.EvidenceSubmission{Header: g.header("ev"), PackageId: id, EvidenceSha256: digest(2)}
	case message.TypeWithdrawal:
		m = &mvmv1.Withdrawal{Header: g.header("wd"), PackageId: id, Reason: "r"}
	case message.TypeVerificationFinding:
		m = &mvmv1.VerificationFinding{Header: g.header("find"), PackageId: id, Verdict: mvmv1.Verdict(1 + g.r.IntN(3)), Reason: "r"}
	case message.TypeDispute:
		fid := ""
		switch n := g.r.IntN(10); {
		case n < 3 && p != nil && len(p.Findings) > 0:
			fid = p.Findings[g.r.IntN(len(p.Findings))].ID
		case n == 9:
			fid = "bogus"
		}
		m = &mvmv1.Dispute{Header: g.header("disp"), PackageId: id, FindingId: fid, Reason: "r"}
	case message.TypeRuling:
		did := ""
		switch n := g.r.IntN(10); {
		case n < 5 && p != nil && p.Dispute != nil:
			did = p.Dispute.ID
		case n == 9:
			did = "bogus"
		}
		m = &mvmv1.Ruling{Header: g.header("rule"), PackageId: id, DisputeId: did, Decision: g.pick([]string{"uphold", "reject"})}
	}
	return who, m
}

func TestPropertyRandomSequences(t *testing.T) {
	const (
		seed      = 20260301
		sequences = 3000
		maxSteps  = 30
	)
	f := newFixture(t)
	quorum1 := f.variant(t, 0, func(p *mvmv1.Agreement) { p.RulingQuorum = 1 })
	for _, ag := range []*agreement.Agreement{f.ag, quorum1} {
		t.Run(fmt.Sprintf("quorum %d", ag.RulingQuorum), func(t *testing.T) {
			t.Logf("seed %d, %d sequences of up to %d steps", seed, sequences, maxSteps)
			r := rand.New(rand.NewPCG(seed, uint64(ag.RulingQuorum)))
			seen := map[edge]int{}
			refusals := map[error]int{}
			accepted, refused := 0, 0
			for seq := 0; seq < sequences && !t.Failed(); seq++ {
				w := newWorld(t, ag)
				g := &gen{r: r, w: w}
				var p *workflow.Package
				var log []workflow.Input
				steps := 1 + r.IntN(maxSteps)
				for step := 0; step < steps && !t.Failed(); step++ {
					author, m := g.next(p)
					w.now = w.now.Add(time.Duration(r.IntN(48*60)) * time.Minute)
					in := w.input(author, m)
					where := fmt.Sprintf("sequence %d step %d: %s by %v", seq, step, message.TypeOf(m), author)
					from := workflow.Status("")
					if p != nil {
						from = p.Status
					}
					next, err := w.applyIn(p, in) // checks no mutation, one refusal kind, one new event
					if err != nil {
						refused++
						for _, k := range kinds {
							if errors.Is(err, k) {
								refusals[k]++
							}
						}
						continue
					}
					accepted++
					if from == workflow.StatusWithdrawn {
						t.Errorf("%s: a withdrawn package accepted an entry", where)
					}
					if !slices.Contains(edges[from], next.Status) {
						t.Errorf("%s: status moved %q → %q, not an edge of the state machine", where, from, next.Status)
					}
					seen[edge{from, next.Status}]++
					checkInvariants(t, where, ag, next)
					log = append(log, in)
					p = next
				}
				// Replaying the accepted entries gives the same state.
				if p != nil {
					var q *workflow.Package
					for _, in := range log {
						var err error
						if q, err = workflow.Apply(ag, q, in); err != nil {
							t.Fatalf("sequence %d: replay refused %s: %v", seq, message.TypeOf(in.Payload), err)
						}
					}
					if !reflect.DeepEqual(q, p) {
						t.Errorf("sequence %d: replay differs:\n got  %+v\n want %+v", seq, q, p)
					}
				}
			}
			t.Logf("accepted %d, refused %d (permission %d, not found %d, precondition %d, already exists %d, invalid %d)",
				accepted, refused, refusals[workflow.ErrPermission], refusals[workflow.ErrNotFound],
				refusals[workflow.ErrPrecondition], refusals[workflow.ErrAlreadyExists], refusals[workflow.ErrInvalid])
			t.Logf("edges exercised: %v", seen)
			// The generator must have exercised every edge, or the test
			// proves little.
			for from, tos := range edges {
				for _, to := range tos {
					if seen[edge{from, to}] == 0 {
						t.Errorf("edge %q → %q never exercised", from, to)
					}
				}
			}
			for _, k := range kinds[:4] {
				if refusals[k] == 0 {
					t.Errorf("refusal kind %v never exercised", k)
				}
			}
		})
	}
}

// checkInvariants checks a package accepted by the reducer.
func checkInvariants(t *testing.T, where string, ag *agreement.Agreement, p *workflow.Package) {
	t.Helper()
	count := func(typ string) int {
		n := 0
		for _, e := range p.Events {
			if e.Type == typ {
				n++
			}
		}
		return n
	}
	if n := count(message.TypeAcknowledgement); n > 1 {
		t.Errorf("%s: %d acknowledgement events", where, n)
	}
	if n := count(message.TypeActionReport); n > 1 || (n == 1) != (p.Report != nil) {
		t.Errorf("%s: %d action report events, Report set %v", where, n, p.Report != nil)
	}
	if n := count(message.TypeTargetPackage); n != 1 || p.Events[0].Type != message.TypeTargetPackage {
		t.Errorf("%s: %d target package events, first event %s", where, n, p.Events[0].Type)
	}
	if n := count(message.TypeWithdrawal); n > 1 || (n == 1) != (p.Status == workflow.StatusWithdrawn) {
		t.Errorf("%s: %d withdrawals in status %s", where, n, p.Status)
	}
	if got, want := p.Disputes, count(message.TypeDispute); got != want {
		t.Errorf("%s: Disputes %d, dispute events %d", where, got, want)
	}
	if p.Status != workflow.StatusSubmitted && p.Status != workflow.StatusWithdrawn && count(message.TypeAcknowledgement) != 1 {
		t.Errorf("%s: status %s without an acknowledgement", where, p.Status)
	}
	switch p.Status {
	case workflow.StatusInformationRequested:
		if len(p.OpenRequests()) == 0 {
			t.Errorf("%s: information-requested with no open request", where)
		}
	case workflow.StatusAcknowledged:
		if len(p.OpenRequests()) != 0 {
			t.Errorf("%s: acknowledged with open requests %v", where, p.OpenRequests())
		}
	case workflow.StatusActionReported, workflow.StatusVerified, workflow.StatusContested:
		if p.Report == nil {
			t.Errorf("%s: %s without a report", where, p.Status)
		}
		// The last decisive finding decides between verified and contested.
		want := workflow.StatusActionReported
		for _, f := range p.Findings {
			switch f.Verdict {
			case mvmv1.Verdict_VERDICT_CONFIRMED:
				want = workflow.StatusVerified
			case mvmv1.Verdict_VERDICT_CONTRADICTED:
				want = workflow.StatusContested
			}
		}
		if p.Status != want {
			t.Errorf("%s: status %s, findings say %s", where, p.Status, want)
		}
	case workflow.StatusRuled:
		d := p.Dispute
		if d == nil || d.Decision == "" || d.RuledAt == 0 {
			t.Fatalf("%s: ruled without a decided dispute: %+v", where, d)
		}
		signers := d.Rulings[d.Decision]
		if len(signers) < ag.RulingQuorum {
			t.Errorf("%s: decision %q signed by %d mediators, quorum %d", where, d.Decision, len(signers), ag.RulingQuorum)
		}
		for party := range signers {
			if ag.RoleOf(party) != mvmv1.Role_ROLE_MEDIATOR {
				t.Errorf("%s: decision signed by non-mediator %s", where, party)
			}
		}
	case workflow.StatusWithdrawn:
		for _, d := range p.Deadlines {
			if d.Met.IsZero() {
				t.Errorf("%s: withdrawn package keeps open obligation %s", where, d.Name)
			}
		}
	}
	if p.Status == workflow.StatusDisputed && (p.Dispute == nil || p.Dispute.Decision != "") {
		t.Errorf("%s: disputed with dispute %+v", where, p.Dispute)
	}
	// Each mediator party counts for one decision at most (its latest),
	// and no decision is left without a signer.
	if d := p.Dispute; d != nil {
		seen := map[string]string{}
		for decision, signers := range d.Rulings {
			if len(signers) == 0 {
				t.Errorf("%s: decision %q listed with no signer", where, decision)
			}
			for party := range signers {
				if other, ok := seen[party]; ok {
					t.Errorf("%s: party %s counts for %q and %q", where, party, other, decision)
				}
				seen[party] = decision
			}
		}
	}
	// Deadlines: one of each at most, in order of creation.
	var names []string
	for _, d := range p.Deadlines {
		names = append(names, d.Name)
		if d.Party != p.Responder {
			t.Errorf("%s: deadline %s on party %s, responder is %s", where, d.Name, d.Party, p.Responder)
		}
	}
	wantNames := []string{workflow.DeadlineAcknowledge}
	if count(message.TypeAcknowledgement) == 1 {
		wantNames = append(wantNames, workflow.DeadlineActionReport)
	}
	if p.Report != nil && (p.Report.Outcome == mvmv1.Outcome_OUTCOME_RAID_CONDUCTED ||
		p.Report.Outcome == mvmv1.Outcome_OUTCOME_SITE_DESTROYED || p.Report.Outcome == mvmv1.Outcome_OUTCOME_ARRESTS) {
		wantNames = append(wantNames, workflow.DeadlineEvidence)
	}
	if fmt.Sprint(names) != fmt.Sprint(wantNames) {
		t.Errorf("%s: deadlines %v, want %v", where, names, wantNames)
	}
}
