package workflow

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Input is one authenticated, validated entry as the reducer sees it.
type Input struct {
	Index      uint64
	ReceivedAt time.Time
	Author     identity.Identity
	Payload    proto.Message
}

// Apply returns the state of pkg after the entry in, under agreement ag.
// pkg is nil when no package with the entry's package id exists yet. The
// input package is never modified. An entry about no package (a report
// publication, see [Publish]) is judged with pkg nil and accepted with
// nil, nil: it changes no package.
func Apply(ag *agreement.Agreement, pkg *Package, in Input) (*Package, error) {
	role := ag.RoleOf(in.Author.Party)
	kind := message.TypeOf(in.Payload)
	if !allowedRole(kind, role) {
		return nil, refuse(ErrPermission, "party %s (%s) may not %s",
			in.Author.Party, agreement.RoleName(role), actions[kind])
	}
	if rp, ok := in.Payload.(*mvmv1.ReportPublication); ok {
		if pkg != nil {
			return nil, refuse(ErrInvalid, "a report publication concerns no package, state given is of %q", pkg.ID)
		}
		return nil, publish(rp, in)
	}
	if tp, ok := in.Payload.(*mvmv1.TargetPackage); ok {
		if pkg != nil {
			return nil, refuse(ErrAlreadyExists, "package %s already exists (index %d)", pkg.ID, pkg.Index)
		}
		return submit(ag, tp, in)
	}
	id := message.PackageID(in.Payload)
	if pkg == nil {
		return nil, missing(id)
	}
	if pkg.ID != id {
		return nil, refuse(ErrInvalid, "entry concerns package %q, state given is of %q", id, pkg.ID)
	}
	if err := partyTo(pkg, role, in.Author); err != nil {
		return nil, err
	}
	if err := sealedLike(pkg, in.Payload); err != nil {
		return nil, err
	}
	if n := pkg.Entries[in.Author.Party]; n >= MaxEntriesPerParty {
		return nil, refuse(ErrBound, "party %s has added %d entries to package %s, the bound (MaxEntriesPerParty); start a new package",
			in.Author.Party, n, pkg.ID)
	}
	next := pkg.clone()
	var err error
	switch p := in.Payload.(type) {
	case *mvmv1.Acknowledgement:
		err = next.acknowledge(ag, in)
	case *mvmv1.RequestForInformation:
		err = next.requestInformation(p, in)
	case *mvmv1.InformationResponse:
		err = next.respond(p, in)
	case *mvmv1.ActionReport:
		err = next.report(ag, p, in)
	case *mvmv1.EvidenceSubmission:
		err = next.addEvidence(ag, p, in)
	case *mvmv1.Withdrawal:
		err = next.withdraw(p, in)
	case *mvmv1.VerificationFinding:
		err = next.find(p, in)
	case *mvmv1.Dispute:
		err = next.dispute(p, in)
	case *mvmv1.Ruling:
		err = next.rule(ag, p, in)
	default:
		err = refuse(ErrInvalid, "%s is not a package message", kind)
	}
	if err != nil {
		return nil, err
	}
	next.record(in)
	return next, nil
}

// actions names what each message does, for refusals.
var actions = map[string]string{
	message.TypeTargetPackage:         "submit target packages",
	message.TypeAcknowledgement:       "acknowledge packages",
	message.TypeRequestForInformation: "request information",
	message.TypeInformationResponse:   "answer requests for information",
	message.TypeActionReport:          "report action",
	message.TypeEvidenceSubmission:    "submit evidence",
	message.TypeWithdrawal:            "withdraw packages",
	message.TypeVerificationFinding:   "record verification findings",
	message.TypeDispute:               "open disputes",
	message.TypeRuling:                "rule on disputes",
	message.TypeReportPublication:     "publish monthly reports",
}

// allowedRole is the role × message matrix.
func allowedRole(kind string, role agreement.Role) bool {
	switch kind {
	case message.TypeTargetPackage, message.TypeInformationResponse, message.TypeWithdrawal:
		return role == mvmv1.Role_ROLE_SUBMITTER
	case message.TypeAcknowledgement, message.TypeRequestForInformation, message.TypeActionReport, message.TypeEvidenceSubmission:
		return role == mvmv1.Role_ROLE_RESPONDER
	case message.TypeVerificationFinding, message.TypeRuling, message.TypeReportPublication:
		return role == mvmv1.Role_ROLE_MEDIATOR
	case message.TypeDispute:
		return role == mvmv1.Role_ROLE_SUBMITTER || role == mvmv1.Role_ROLE_RESPONDER
	}
	return false
}

// partyTo checks that a submitter or responder acts on its own package;
// mediators act on every package.
func partyTo(pkg *Package, role agreement.Role, author identity.Identity) error {
	switch role {
	case mvmv1.Role_ROLE_SUBMITTER:
		if author.Party != pkg.Submitter.Party {
			return &NotPartyError{ID: pkg.ID, err: refuse(ErrPermission, "package %s was submitted by party %s, not %s", pkg.ID, pkg.Submitter.Party, author.Party)}
		}
	case mvmv1.Role_ROLE_RESPONDER:
		if author.Party != pkg.Responder {
			return &NotPartyError{ID: pkg.ID, err: refuse(ErrPermission, "package %s is addressed to party %s, not %s", pkg.ID, pkg.Responder, author.Party)}
		}
	}
	return nil
}

func submit(ag *agreement.Agreement, tp *mvmv1.TargetPackage, in Input) (*Package, error) {
	responder := tp.Responder
	if responder == "" {
		rs := ag.PartiesWithRole(mvmv1.Role_ROLE_RESPONDER)
		if len(rs) != 1 {
			return nil, refuse(ErrInvalid, "responder: the agreement has %d responders, name one", len(rs))
		}
		responder = rs[0]
	} else if ag.RoleOf(responder) != mvmv1.Role_ROLE_RESPONDER {
		return nil, refuse(ErrInvalid, "responder: %q is not a responding party of the agreement", responder)
	}
	if err := checkSealing(ag, tp, in.Author.Party, responder); err != nil {
		return nil, err
	}
	p := &Package{
		ID:         tp.Header.MessageId,
		Index:      in.Index,
		ReceivedAt: in.ReceivedAt,
		Submitter:  in.Author,
		Responder:  responder,
		Sealed:     message.IsSealed(tp),
		Target:     tp,
		Status:     StatusSubmitted,
		Deadlines: []Deadline{{Name: DeadlineAcknowledge, Party: responder,
			Due: in.ReceivedAt.Add(ag.Deadlines.Acknowledge)}},
	}
	p.record(in)
	return p, nil
}

func (p *Package) record(in Input) {
	if p.Entries == nil {
		p.Entries = map[string]int{}
	}
	p.Entries[in.Author.Party]++
	p.Events = append(p.Events, Event{
		Index:      in.Index,
		ReceivedAt: in.ReceivedAt,
		Type:       message.TypeOf(in.Payload),
		MessageID:  message.Header(in.Payload).GetMessageId(),
		Author:     in.Author,
		Status:     p.Status,
	})
}

// require refuses unless the package is in one of the allowed statuses.
func (p *Package) require(what string, allowed ...Status) error {
	if slices.Contains(allowed, p.Status) {
		return nil
	}
	return refuse(ErrPrecondition, "cannot %s package %s: status is %s", what, p.ID, p.Status)
}

func (p *Package) acknowledge(ag *agreement.Agreement, in Input) error {
	if p.AckIndex != 0 {
		return refuse(ErrAlreadyExists, "package %s was already acknowledged at index %d", p.ID, p.AckIndex)
	}
	if err := p.require("acknowledge", StatusSubmitted); err != nil {
		return err
	}
	p.AckIndex = in.Index
	p.Status = StatusAcknowledged
	p.meet(DeadlineAcknowledge, in.ReceivedAt)
	p.Deadlines = append(p.Deadlines, Deadline{Name: DeadlineActionReport, Party: p.Responder,
		Due: in.ReceivedAt.Add(ag.Deadlines.ActionReport)})
	return nil
}

func (p *Package) requestInformation(r *mvmv1.RequestForInformation, in Input) error {
	if err := p.require("request information on", StatusAcknowledged, StatusInformationRequested); err != nil {
		return err
	}
	if p.findRequest(r.Header.MessageId) >= 0 {
		return refuse(ErrAlreadyExists, "request %s already exists on package %s", r.Header.MessageId, p.ID)
	}
	if len(p.Requests) >= MaxOpenRequests {
		return refuse(ErrBound, "package %s has %d open requests for information, the bound (MaxOpenRequests); wait for answers",
			p.ID, len(p.Requests))
	}
	p.Requests = append(p.Requests, Request{ID: r.Header.MessageId, Index: in.Index})
	p.Status = StatusInformationRequested
	return nil
}

func (p *Package) findRequest(id string) int {
	return slices.IndexFunc(p.Requests, func(r Request) bool { return r.ID == id })
}

func (p *Package) respond(r *mvmv1.InformationResponse, in Input) error {
	if err := p.require("answer a request on", StatusInformationRequested); err != nil {
		return err
	}
	// Only open requests are kept (answered ones would grow the state with
	// the history); the first one is answered when none is named.
	i := 0
	if r.RequestId != "" {
		if i = p.findRequest(r.RequestId); i < 0 {
			return refuse(ErrNotFound, "request %q is not open on package %s (answered already, or never asked)", r.RequestId, p.ID)
		}
	}
	p.Requests = slices.Delete(p.Requests, i, i+1)
	if len(p.Requests) == 0 {
		p.Requests = nil // as a decoded compact state has it
		p.Status = StatusAcknowledged
	}
	return nil
}

func (p *Package) report(ag *agreement.Agreement, r *mvmv1.ActionReport, in Input) error {
	if p.Report != nil {
		return refuse(ErrAlreadyExists, "action on package %s was already reported at index %d", p.ID, p.ReportIndex)
	}
	if err := p.require("report action on", StatusAcknowledged, StatusInformationRequested); err != nil {
		return err
	}
	p.Report = r
	p.ReportIndex = in.Index
	p.Status = StatusActionReported
	p.meet(DeadlineActionReport, in.ReceivedAt)
	if needsEvidence(r.Outcome) {
		d := Deadline{Name: DeadlineEvidence, Party: p.Responder, Due: in.ReceivedAt.Add(ag.Deadlines.Evidence)}
		if len(r.EvidenceSha256) > 0 && !ag.EvidenceNeedsFiles {
			// Digests alone, which the rule of stored files does not take.
			d.Met = in.ReceivedAt
		}
		p.Deadlines = append(p.Deadlines, d)
	}
	return nil
}

func (p *Package) withdraw(w *mvmv1.Withdrawal, in Input) error {
	if err := p.require("withdraw", StatusSubmitted, StatusAcknowledged, StatusInformationRequested); err != nil {
		return err
	}
	p.Withdrawn = w
	p.Status = StatusWithdrawn
	p.closeObligations(in.ReceivedAt)
	return nil
}

// closeObligations ends at t the open deadlines with the given names, or
// all of them if none is named: nobody can be late for what the package no
// longer accepts. Lateness already incurred stays a breach.
func (p *Package) closeObligations(t time.Time, names ...string) {
	for i := range p.Deadlines {
		d := &p.Deadlines[i]
		if d.Met.IsZero() && (len(names) == 0 || slices.Contains(names, d.Name)) {
			d.Met = t
		}
	}
}

func (p *Package) find(f *mvmv1.VerificationFinding, in Input) error {
	if err := p.require("record a finding on", StatusActionReported, StatusVerified, StatusContested); err != nil {
		return err
	}
	for _, old := range p.Findings {
		if old.ID == f.Header.MessageId {
			return refuse(ErrAlreadyExists, "finding %s already exists on package %s", f.Header.MessageId, p.ID)
		}
	}
	if len(p.Findings) >= MaxFindings {
		return refuse(ErrBound, "package %s has %d findings, the bound (MaxFindings)", p.ID, len(p.Findings))
	}
	p.Findings = append(p.Findings, Finding{ID: f.Header.MessageId, Index: in.Index, Mediator: in.Author, Verdict: f.Verdict})
	switch f.Verdict {
	case mvmv1.Verdict_VERDICT_CONFIRMED:
		p.Status = StatusVerified
	case mvmv1.Verdict_VERDICT_CONTRADICTED:
		p.Status = StatusContested
	}
	return nil
}

func (p *Package) dispute(d *mvmv1.Dispute, in Input) error {
	if err := p.require("dispute", StatusAcknowledged, StatusInformationRequested,
		StatusActionReported, StatusVerified, StatusContested); err != nil {
		return err
	}
	if d.FindingId != "" && !slices.ContainsFunc(p.Findings, func(f Finding) bool { return f.ID == d.FindingId }) {
		return refuse(ErrNotFound, "finding %q does not exist on package %s", d.FindingId, p.ID)
	}
	p.Dispute = &Dispute{ID: d.Header.MessageId, Index: in.Index, By: in.Author, FindingID: d.FindingId,
		Rulings: map[string]map[string]bool{}}
	p.Disputes++
	p.Status = StatusDisputed
	// No action report is accepted from here on (the dispute ends only
	// with a ruling, which takes none), so the action-report deadline
	// stops now: its lateness so far stays a breach, and none accrues
	// while the mediators deliberate.
	p.closeObligations(in.ReceivedAt, DeadlineActionReport)
	return nil
}

func (p *Package) rule(ag *agreement.Agreement, r *mvmv1.Ruling, in Input) error {
	if err := p.require("rule on", StatusDisputed); err != nil {
		return err
	}
	d := p.Dispute
	if r.DisputeId != "" && r.DisputeId != d.ID {
		return refuse(ErrNotFound, "dispute %q is not the open dispute on package %s (that is %s)", r.DisputeId, p.ID, d.ID)
	}
	signers := d.Rulings[r.Decision]
	if signers[in.Author.Party] {
		return refuse(ErrAlreadyExists, "party %s already signed this ruling on dispute %s", in.Author.Party, d.ID)
	}
	// A mediator party's later ruling replaces its earlier one: only its
	// latest decision counts towards the quorum, so a mediator that signed
	// two decisions cannot make either final together with someone else's.
	for decision, s := range d.Rulings {
		delete(s, in.Author.Party)
		if len(s) == 0 {
			delete(d.Rulings, decision)
		}
	}
	if signers == nil {
		signers = map[string]bool{}
		d.Rulings[r.Decision] = signers
	}
	signers[in.Author.Party] = true
	if len(signers) >= ag.RulingQuorum {
		d.Decision = r.Decision
		d.RuledAt = in.Index
		p.Status = StatusRuled
		// A ruled package takes no action report any more (evidence it
		// still takes), so that obligation ends with the ruling.
		p.closeObligations(in.ReceivedAt, DeadlineActionReport)
	}
	return nil
}

// PendingRulings returns, for the open dispute, each proposed decision with
// the mediator parties whose latest ruling it is.
func (p *Package) PendingRulings() map[string][]string {
	out := map[string][]string{}
	if p.Dispute == nil {
		return out
	}
	for dec, s := range p.Dispute.Rulings {
		for party := range s {
			out[dec] = append(out[dec], party)
		}
		slices.Sort(out[dec])
	}
	return out
}
