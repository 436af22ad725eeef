package report

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/workflow"
)

// Format names this JSON layout; a reader refuses another. Version 2
// added the package rows' salt: a version 1 report of a sealed log is
// computed anew, never verified as it is.
const Format = "mvm-monthly-report/2"

// Report is the monthly report: what the HTML shows and the JSON holds.
type Report struct {
	Format string    `json:"format"`
	Month  string    `json:"month"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// AsOf is when obligations are judged: the month's end, or, while the
	// log holds nothing after the month, its last entry's receive time.
	AsOf       time.Time  `json:"as_of"`
	Checkpoint Checkpoint `json:"checkpoint"`
	// Entries is how many entries of the log were read (the checkpoint's
	// size); LastEntry the receive time of the last one counted.
	Entries   uint64         `json:"entries"`
	LastEntry time.Time      `json:"last_entry"`
	Agreement AgreementTerms `json:"agreement"`
	// Complete says the log holds an entry received at or after the
	// month's end: the month is over as far as the log knows.
	Complete     bool         `json:"complete"`
	MonthFigures Figures      `json:"month_figures"`
	Cumulative   Figures      `json:"cumulative_figures"`
	Packages     []PackageRow `json:"packages"`
}

// Checkpoint is the signed checkpoint the report was computed at.
type Checkpoint struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   []byte `json:"root"`
	// Cosignatures names every signer of the note but the log itself.
	Cosignatures []string `json:"cosignatures"`
	// Signed is the checkpoint note as signed, cosignatures included.
	Signed string `json:"signed"`
}

// AgreementTerms is the agreement in force at the month's end.
type AgreementTerms struct {
	Index        uint64 `json:"index"`
	Title        string `json:"title"`
	Acknowledge  Secs   `json:"acknowledge_s"`
	ActionReport Secs   `json:"action_report_s"`
	Evidence     Secs   `json:"evidence_s"`
}

// Secs is a duration in whole seconds, as the JSON carries it.
type Secs int64

func secs(d time.Duration) Secs { return Secs(d / time.Second) }

// Figures are the numbers of one period.
type Figures struct {
	PackagesSubmitted int `json:"packages_submitted"`
	// Obligations: acknowledge, action-report, evidence, in that order.
	Obligations   []Obligation   `json:"obligations"`
	ActionReports map[string]int `json:"action_reports_by_outcome"`
	Findings      map[string]int `json:"findings_by_verdict"`
	Disputes      Disputes       `json:"disputes"`
	Breaches      []BreachCount  `json:"breaches"`
}

// Obligation counts one kind of deadline falling due in the period.
type Obligation struct {
	Name    string `json:"name"`
	OnTime  int    `json:"on_time"`
	Late    int    `json:"late"`
	Open    int    `json:"open"`    // overdue and not met at the end
	Pending int    `json:"pending"` // not yet due at the end (cumulative only)
	// Time taken to meet the obligation, from the entry that set it,
	// among those met; Deadline is the agreement's allowance.
	Met      int  `json:"met"`
	Median   Secs `json:"median_s"`
	P90      Secs `json:"p90_s"`
	Deadline Secs `json:"deadline_s"`
}

// Disputes counts disputes opened and ruled in the period.
type Disputes struct {
	Opened int `json:"opened"`
	Ruled  int `json:"ruled"`
	// Time from opening to ruling of those ruled.
	MedianToRuling Secs `json:"median_to_ruling_s"`
	P90ToRuling    Secs `json:"p90_to_ruling_s"`
}

// BreachCount is the breaches of one party's obligation.
type BreachCount struct {
	Party      string `json:"party"`
	Obligation string `json:"obligation"`
	Count      int    `json:"count"`
	Open       int    `json:"open"`
}

// PackageRow is one line of the package table.
type PackageRow struct {
	ID        string     `json:"id"`
	Status    string     `json:"status"`
	Outcome   string     `json:"outcome,omitempty"`
	TLP       string     `json:"tlp"`
	Submitted time.Time  `json:"submitted"`
	Acked     *time.Time `json:"acknowledged,omitempty"`
	Reported  *time.Time `json:"reported,omitempty"`
	Ruled     *time.Time `json:"ruled,omitempty"`
	Withdrawn *time.Time `json:"withdrawn,omitempty"`
	Breaches  int        `json:"breaches"`
	// Salt (hex) is the package's report salt, present when its sealed
	// body was opened: only the package's recipients can compute it, so
	// the report's SHA-256 tests no guess of Locations (THREAT_MODEL 24).
	Salt      string     `json:"salt,omitempty"`
	Locations []Location `json:"locations"`
}

// Location is a point of a package (WGS 84).
type Location struct {
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
	PrecisionM  float64 `json:"precision_m"`
	Description string  `json:"description,omitempty"`
}

var obligationNames = []string{workflow.DeadlineAcknowledge, workflow.DeadlineActionReport, workflow.DeadlineEvidence}

// Report computes the report from the entries added, at checkpoint cp.
func (b *Builder) Report(cp Checkpoint) *Report {
	end := b.month.End()
	r := &Report{Format: Format, Month: b.month.String(), From: b.month.Start, To: end, Checkpoint: cp,
		Entries: b.entries, LastEntry: b.last}
	if b.ag != nil {
		d := b.ag.Deadlines
		r.Agreement = AgreementTerms{Index: b.ag.Index, Title: b.ag.Proto.GetTitle(),
			Acknowledge: secs(d.Acknowledge), ActionReport: secs(d.ActionReport), Evidence: secs(d.Evidence)}
	}
	r.Complete = b.after > 0
	r.AsOf = end
	if !r.Complete {
		r.AsOf = b.last
	}
	r.MonthFigures = b.figures(func(t time.Time) bool { return b.month.holds(t) }, false, r.AsOf, r.Agreement)
	r.Cumulative = b.figures(func(t time.Time) bool { return t.Before(end) }, true, r.AsOf, r.Agreement)
	r.Packages = b.rows(r.AsOf, false)
	return r
}

func (b *Builder) figures(in func(time.Time) bool, cumulative bool, asOf time.Time, terms AgreementTerms) Figures {
	f := Figures{ActionReports: map[string]int{}, Findings: map[string]int{}}
	allow := map[string]Secs{workflow.DeadlineAcknowledge: terms.Acknowledge,
		workflow.DeadlineActionReport: terms.ActionReport, workflow.DeadlineEvidence: terms.Evidence}
	obl := map[string]*Obligation{}
	taken := map[string][]time.Duration{}
	for _, n := range obligationNames {
		obl[n] = &Obligation{Name: n, Deadline: allow[n]}
	}
	breaches := map[[2]string]*BreachCount{}
	for _, t := range b.order {
		pkg, id := t.pkg(), t.id
		if in(pkg.ReceivedAt) {
			f.PackagesSubmitted++
		}
		for _, d := range pkg.Deadlines {
			o := obl[d.Name]
			if o == nil {
				continue
			}
			if !d.Due.Before(asOf) && d.Met.IsZero() {
				// Not yet due: pending in the cumulative figures, and in
				// the month's if it falls due in it.
				if cumulative || in(d.Due) {
					o.Pending++
				}
				continue
			}
			if !in(d.Due) {
				// It belongs to the month it falls due in.
				continue
			}
			br, late := workflow.BreachOf(id, d, asOf)
			switch {
			case late && br.Open:
				o.Open++
			case late:
				o.Late++
			default:
				o.OnTime++
			}
			if late {
				k := [2]string{d.Party, d.Name}
				if breaches[k] == nil {
					breaches[k] = &BreachCount{Party: d.Party, Obligation: d.Name}
				}
				breaches[k].Count++
				if br.Open {
					breaches[k].Open++
				}
			}
			if !br.Open {
				taken[d.Name] = append(taken[d.Name], d.Met.Sub(t.started[slices.Index(obligationNames, d.Name)].time()))
			}
		}
	}
	for _, n := range obligationNames {
		o := obl[n]
		o.Met = len(taken[n])
		o.Median, o.P90 = percentile(taken[n], 50), percentile(taken[n], 90)
		f.Obligations = append(f.Obligations, *o)
	}
	for _, k := range slices.SortedFunc(maps.Keys(breaches), func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	}) {
		f.Breaches = append(f.Breaches, *breaches[k])
	}
	for _, o := range b.outcomes {
		if in(o.at) {
			f.ActionReports[o.name]++
		}
	}
	for _, v := range b.verdicts {
		if in(v.at) {
			f.Findings[v.name]++
		}
	}
	var toRuling []time.Duration
	for _, s := range b.disputes {
		if in(s.opened) {
			f.Disputes.Opened++
		}
		if !s.ruled.IsZero() && in(s.ruled) {
			f.Disputes.Ruled++
			toRuling = append(toRuling, s.ruled.Sub(s.opened))
		}
	}
	f.Disputes.MedianToRuling, f.Disputes.P90ToRuling = percentile(toRuling, 50), percentile(toRuling, 90)
	return f
}
