package workflow

import (
	"cmp"
	"slices"
	"time"
)

// Deadline names.
const (
	DeadlineAcknowledge  = "acknowledge"
	DeadlineActionReport = "action-report"
	DeadlineEvidence     = "evidence"
)

// Breach is a deadline missed as of some time.
type Breach struct {
	PackageID string
	Party     string
	Deadline  string
	Due       time.Time
	// Late is how far past due the obligation was met, or, if still open,
	// how far past due it is at the as-of time.
	Late time.Duration
	Open bool
}

// Breaches returns every deadline of pkgs missed as of asOf, ordered by due
// time, then package id, then deadline. An obligation met exactly at its due
// time is on time; one still open at exactly its due time is not yet late.
// Entries received after asOf are not known at asOf and must not be in pkgs.
func Breaches(pkgs []*Package, asOf time.Time) []Breach {
	var out []Breach
	for _, p := range pkgs {
		for _, d := range p.Deadlines {
			if b, ok := BreachOf(p.ID, d, asOf); ok {
				out = append(out, b)
			}
		}
	}
	slices.SortFunc(out, func(a, b Breach) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.PackageID, b.PackageID), cmp.Compare(a.Deadline, b.Deadline))
	})
	return out
}

// BreachOf is the rule for one deadline of package packageID: the breach
// it is as of asOf, or false if it is none. Breaches applies it to every
// deadline; the server applies it to the deadlines its index holds.
func BreachOf(packageID string, d Deadline, asOf time.Time) (Breach, bool) {
	b := Breach{PackageID: packageID, Party: d.Party, Deadline: d.Name, Due: d.Due}
	switch {
	case !d.Met.IsZero() && !d.Met.After(asOf):
		b.Late = d.Met.Sub(d.Due)
	default:
		b.Late, b.Open = asOf.Sub(d.Due), true
	}
	return b, b.Late > 0
}

// Breachable reports whether a deadline is a breach at some as-of time: it
// is still open, or it was met late. One met on time is a breach at no
// time (before it was met it was not yet due), so an index of breaches
// need not hold it.
func Breachable(d Deadline) bool {
	return d.Met.IsZero() || d.Met.After(d.Due)
}
