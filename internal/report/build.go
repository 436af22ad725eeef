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
	Payload    proto.Message // as signed and logged, the agreement's too: what the reducer runs on
	// Opened is Payload with its sealed body opened and validated
	// (message.Open) by the reader's key: the sensitive fields a
	// recipient reads. Nil when the entry is not sealed, or sealed to
	// keys the reader does not hold: the export shows its header only.
	Opened proto.Message
	// Salt is the report salt of Opened's package (seal.ReportSalt), set
	// when Opened is a sealed target package: the report writes it next
	// to the coordinates it opened, so that its published digest is no
	// test of guessed coordinates for a reader without the package key.
	Salt []byte
}

// Content is what the entry says, as far as the reader may read it: its
// opened payload if it has one, else its payload (a sealed one is its
// cleartext header).
func (e Entry) Content() proto.Message {
	if e.Opened != nil {
		return e.Opened
	}
	return e.Payload
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

// track is what the report remembers of one package. A report of a
// month can hold 100,000s of them, so it is small: the reducer state
// encoded (workflow.AppendCompact: about a fifth of the decoded state's
// memory, decoded for each entry of the package and for the figures),
// times as Unix nanoseconds.
type track struct {
	id      string
	state   []byte
	touched bool // an entry of it was received in the month
	tlp     mvmv1.Tlp
	// started is when each deadline was set, by its index in
	// obligationNames.
	started                           [3]instant
	acked, reported, withdrawn, ruled instant
	locations                         []Location
	salt                              []byte // Entry.Salt of its target package
}

// pkg decodes the package's reducer state.
func (t *track) pkg() *workflow.Package {
	p, err := workflow.DecodeCompact(t.state)
	if err != nil {
		// Only Add encodes it: this is a bug, not bad input.
		panic(fmt.Sprintf("report: package %s: %v", t.id, err))
	}
	return p
}

// instant is a time as Unix nanoseconds, 0 for none: 8 bytes, not a
// time.Time's 24.
type instant int64

func instantOf(t time.Time) instant { return instant(t.UnixNano()) }

// time is the instant in UTC, the zero time for none.
func (i instant) time() time.Time {
	if i == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(i)).UTC()
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
	order    []*track // in log order
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
		prev = t.pkg()
	}
	next, err := workflow.Apply(b.ag, prev, workflow.Input{Index: e.Index, ReceivedAt: e.ReceivedAt, Author: e.Author, Payload: e.Payload})
	if err != nil {
		return fmt.Errorf("report: the reducer refuses entry %d (the log was not verified?): %w", e.Index, err)
	}
	if t == nil {
		// Opened coordinates without their salt would let any reader of
		// the log test guesses of them against a published digest.
		switch {
		case e.Opened != nil && len(e.Salt) == 0:
			return fmt.Errorf("report: entry %d: target package %s is opened without its report salt (seal.ReportSalt): give the salt with every opened target package", e.Index, id)
		case e.Opened == nil && len(e.Salt) > 0:
			return fmt.Errorf("report: entry %d: target package %s has a report salt but is not opened: give a salt only with the opened package", e.Index, id)
		}
		tp := e.Content().(*mvmv1.TargetPackage)
		t = &track{id: id, tlp: tp.Tlp, salt: e.Salt}
		// Only the coordinates are kept, not the package's text; a
		// sealed package the reader cannot open has none.
		for _, l := range tp.Locations {
			t.locations = append(t.locations, Location{Lat: l.Lat, Lon: l.Lon, PrecisionM: l.PrecisionM, Description: l.Description})
		}
		b.pkgs[id] = t
		b.order = append(b.order, t)
	}
	at := instantOf(e.ReceivedAt)
	// A deadline starts with the entry that creates it.
	for _, d := range next.Deadlines {
		if i := slices.Index(obligationNames, d.Name); i >= 0 && t.started[i] == 0 {
			t.started[i] = at
		}
	}
	t.touched = t.touched || b.month.holds(e.ReceivedAt)
	switch p := e.Payload.(type) {
	case *mvmv1.Acknowledgement:
		t.acked = at
	case *mvmv1.ActionReport:
		t.reported = at
		b.outcomes = append(b.outcomes, dated{e.ReceivedAt, workflow.OutcomeName(p.Outcome)})
	case *mvmv1.Withdrawal:
		t.withdrawn = at
	case *mvmv1.VerificationFinding:
		b.verdicts = append(b.verdicts, dated{e.ReceivedAt, workflow.VerdictName(p.Verdict)})
	case *mvmv1.Dispute:
		s := &disputeSpan{opened: e.ReceivedAt}
		b.disputes = append(b.disputes, s)
		b.open[id] = s
	case *mvmv1.Ruling:
		if next.Status == workflow.StatusRuled && prev.Status != workflow.StatusRuled {
			t.ruled = at
			if s := b.open[id]; s != nil {
				s.ruled = e.ReceivedAt
				delete(b.open, id)
			}
		}
	}
	// Only what later entries and the figures need is kept (Apply gives
	// the same results on a compact state), encoded.
	t.state = next.AppendCompact(t.state[:0])
	return nil
}
