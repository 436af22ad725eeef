package workflow

import (
	"maps"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/identity"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Status of a package, derived from its entries.
type Status string

// The statuses, as printed by `show` and `list`.
const (
	StatusSubmitted            Status = "submitted"
	StatusAcknowledged         Status = "acknowledged"
	StatusInformationRequested Status = "information-requested"
	StatusActionReported       Status = "action-reported"
	StatusVerified             Status = "verified"
	StatusContested            Status = "contested"
	StatusDisputed             Status = "disputed"
	StatusRuled                Status = "ruled"
	StatusWithdrawn            Status = "withdrawn"
)

// Statuses lists every status in workflow order.
var Statuses = []Status{StatusSubmitted, StatusAcknowledged, StatusInformationRequested,
	StatusActionReported, StatusVerified, StatusContested, StatusDisputed, StatusRuled, StatusWithdrawn}

// Event is one accepted entry in a package's history.
type Event struct {
	Index      uint64
	ReceivedAt time.Time
	Type       string // payload type
	MessageID  string
	Author     identity.Identity
	Status     Status // status after the event
}

// Finding is a mediator's verification finding.
type Finding struct {
	ID       string
	Index    uint64
	Mediator identity.Identity
	Verdict  mvmv1.Verdict
}

// Request is an open request for information.
type Request struct {
	ID    string
	Index uint64
}

// Dispute is the package's open or last dispute.
type Dispute struct {
	ID        string
	Index     uint64
	By        identity.Identity
	FindingID string
	// Signers of each proposed decision, by mediator party.
	Rulings map[string]map[string]bool
	// Decision is set once a ruling reached the quorum.
	Decision string
	RuledAt  uint64
}

// Deadline is one obligation with its due time. Met is zero while open.
type Deadline struct {
	Name  string // acknowledge, action-report, evidence
	Party string
	Due   time.Time
	Met   time.Time
}

// Package is the state of one target package, derived by replaying its
// entries through Apply.
type Package struct {
	ID         string
	Index      uint64
	ReceivedAt time.Time
	Submitter  identity.Identity
	Responder  string
	// Sealed: the package was submitted with sealed bodies, so every
	// message on it must be sealed too (its recipients hold its key).
	Sealed bool
	Target *mvmv1.TargetPackage
	Status Status

	Report      *mvmv1.ActionReport
	AckIndex    uint64 // index of the acknowledgement, 0 if none
	ReportIndex uint64 // index of the action report, 0 if none
	// Requests are the open requests for information, at most
	// MaxOpenRequests: an answered request leaves the state (its entries
	// stay in the log).
	Requests  []Request
	Findings  []Finding
	Dispute   *Dispute
	Deadlines []Deadline
	Withdrawn *mvmv1.Withdrawal
	// Events is the history, kept by full replays only: Compact drops
	// it, and the server and the auditor apply entries to compact states,
	// so nothing they copy per entry grows with the history.
	Events   []Event
	Disputes int
	// Entries counts the package's entries by author party, for
	// MaxEntriesPerParty.
	Entries map[string]int
}

// clone returns a copy deep enough that Apply can change it without
// touching p.
func (p *Package) clone() *Package {
	c := *p
	c.Requests = slices.Clone(p.Requests)
	c.Findings = slices.Clone(p.Findings)
	c.Deadlines = slices.Clone(p.Deadlines)
	c.Events = slices.Clone(p.Events)
	c.Entries = maps.Clone(p.Entries)
	if p.Dispute != nil {
		d := *p.Dispute
		d.Rulings = make(map[string]map[string]bool, len(p.Dispute.Rulings))
		for k, v := range p.Dispute.Rulings {
			d.Rulings[k] = maps.Clone(v)
		}
		c.Dispute = &d
	}
	return &c
}

// Compact returns a copy without what only readers of the history need:
// the target package's content, the event list, and the texts of the
// report and withdrawal. Apply gives the same results on a compact
// package; an auditor of a long log keeps memory small this way.
func (p *Package) Compact() *Package {
	c := *p
	c.Target, c.Events = nil, nil
	if p.Report != nil {
		c.Report = &mvmv1.ActionReport{Outcome: p.Report.Outcome}
	}
	if p.Withdrawn != nil {
		c.Withdrawn = &mvmv1.Withdrawal{}
	}
	return &c
}

// OpenRequests returns the ids of the open requests for information.
func (p *Package) OpenRequests() []string {
	var ids []string
	for _, r := range p.Requests {
		ids = append(ids, r.ID)
	}
	return ids
}

// Outcome returns the reported outcome in CLI form, "" if none.
func (p *Package) Outcome() string {
	if p.Report == nil {
		return ""
	}
	return OutcomeName(p.Report.Outcome)
}

func (p *Package) deadline(name string) *Deadline {
	for i := range p.Deadlines {
		if p.Deadlines[i].Name == name {
			return &p.Deadlines[i]
		}
	}
	return nil
}

func (p *Package) meet(name string, at time.Time) {
	if d := p.deadline(name); d != nil && d.Met.IsZero() {
		d.Met = at
	}
}
