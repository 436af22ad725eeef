package report

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Entry is one verified, decoded entry of the log.
type Entry struct {
	Index      uint64
	ReceivedAt time.Time
	Author     identity.Identity
	Payload    proto.Message // the agreement's too
}

// Month is a calendar month in UTC.
type Month struct{ Start time.Time }

// ParseMonth parses "2006-01".
func ParseMonth(s string) (Month, error) {
	t, err := time.ParseInLocation("2006-01", s, time.UTC)
	if err != nil {
		return Month{}, fmt.Errorf("month %q: want YYYY-MM, e.g. 2026-11", s)
	}
	return Month{t}, nil
}

// MonthOf is the month holding t.
func MonthOf(t time.Time) Month {
	t = t.UTC()
	return Month{time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)}
}

// End is the first instant of the next month.
func (m Month) End() time.Time { return m.Start.AddDate(0, 1, 0) }

func (m Month) String() string { return m.Start.Format("2006-01") }

func (m Month) holds(t time.Time) bool { return !t.Before(m.Start) && t.Before(m.End()) }

// track is what the report remembers of one package beyond its state.
type track struct {
	pkg     *workflow.Package
	touched bool // an entry of it was received in the month
	// started is when each deadline was set, by its index in
	// obligationNames (a map per package would cost more than the rest).
	started   [3]time.Time
	acked     time.Time
	reported  time.Time
	withdrawn time.Time
	ruled     time.Time
	locations []Location
	tlp       mvmv1.Tlp
}

// disputeSpan is one dispute, opened and perhaps ruled.
type disputeSpan struct {
	opened, ruled time.Time
}

// Builder accumulates verified entries in log order; [Builder.Report]
// computes the figures once the log they came from has verified.
type Builder struct {
	month    Month
	ag       *agreement.Agreement
	ags      []*agreement.Agreement
	pkgs     map[string]*track
	order    []string
	disputes []*disputeSpan
	open     map[string]*disputeSpan // package id → its open dispute
	outcomes []dated
	verdicts []dated
	last     time.Time
	entries  uint64
	after    uint64 // entries received at or after the month's end
}

// dated is a name counted at a time (an outcome, a verdict).
type dated struct {
	at   time.Time
	name string
}

// NewBuilder starts the report of month m.
func NewBuilder(m Month) *Builder {
	return &Builder{month: m, pkgs: map[string]*track{}, open: map[string]*disputeSpan{}}
}

// Add applies one entry. Entries must come in log order, from index 0 (the
// genesis agreement). Entries received at or after the month's end are
// counted in no figure.
func (b *Builder) Add(e Entry) error {
	if e.Index != b.entries {
		return fmt.Errorf("report: entry %d out of order, expected %d", e.Index, b.entries)
	}
	b.entries++
	if ap, ok := e.Payload.(*mvmv1.Agreement); ok {
		if !e.ReceivedAt.Before(b.month.End()) {
			b.after++
			return nil
		}
		ag, err := agreement.Parse(ap, e.Index)
		if err != nil {
			return fmt.Errorf("report: agreement at index %d: %w", e.Index, err)
		}
		b.ag = ag
		b.ags = append(b.ags, ag)
		return nil
	}
	if !e.ReceivedAt.Before(b.month.End()) {
		// Before the genesis check: a month that ended before the log
		// began counts no entry, the genesis included.
		b.after++
		return nil
	}
	if b.ag == nil {
		return fmt.Errorf("report: entry %d comes before the genesis agreement", e.Index)
	}
	b.last = e.ReceivedAt
	id := message.PackageID(e.Payload)
	if id == "" {
		return nil // a report publication: about no package, in no figure
	}
	t := b.pkgs[id]
	var prev *workflow.Package
	if t != nil {
		prev = t.pkg
	}
	next, err := workflow.Apply(b.ag, prev, workflow.Input{Index: e.Index, ReceivedAt: e.ReceivedAt, Author: e.Author, Payload: e.Payload})
	if err != nil {
		return fmt.Errorf("report: the reducer refuses entry %d (the log was not verified?): %w", e.Index, err)
	}
	if t == nil {
		tp := e.Payload.(*mvmv1.TargetPackage)
		t = &track{tlp: tp.Tlp}
		// Only the coordinates are kept, not the package's text.
		for _, l := range tp.Locations {
			t.locations = append(t.locations, Location{Lat: l.Lat, Lon: l.Lon, PrecisionM: l.PrecisionM, Description: l.Description})
		}
		b.pkgs[id] = t
		b.order = append(b.order, id)
	}
	// A deadline starts with the entry that creates it.
	for _, d := range next.Deadlines {
		if i := slices.Index(obligationNames, d.Name); i >= 0 && t.started[i].IsZero() {
			t.started[i] = e.ReceivedAt
		}
	}
	t.touched = t.touched || b.month.holds(e.ReceivedAt)
	switch p := e.Payload.(type) {
	case *mvmv1.Acknowledgement:
		t.acked = e.ReceivedAt
	case *mvmv1.ActionReport:
		t.reported = e.ReceivedAt
		b.outcomes = append(b.outcomes, dated{e.ReceivedAt, workflow.OutcomeName(p.Outcome)})
	case *mvmv1.Withdrawal:
		t.withdrawn = e.ReceivedAt
	case *mvmv1.VerificationFinding:
		b.verdicts = append(b.verdicts, dated{e.ReceivedAt, workflow.VerdictName(p.Verdict)})
	case *mvmv1.Dispute:
		s := &disputeSpan{opened: e.ReceivedAt}
		b.disputes = append(b.disputes, s)
		b.open[id] = s
	case *mvmv1.Ruling:
		if next.Status == workflow.StatusRuled && prev.Status != workflow.StatusRuled {
			t.ruled = e.ReceivedAt
			if s := b.open[id]; s != nil {
				s.ruled = e.ReceivedAt
				delete(b.open, id)
			}
		}
	}
	// Only what later entries and the figures need is kept (Apply gives
	// the same results on a compact state).
	t.pkg = next.Compact()
	return nil
}
