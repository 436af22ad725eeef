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
			b := Breach{PackageID: p.ID, Party: d.Party, Deadline: d.Name, Due: d.Due}
			switch {
			case !d.Met.IsZero() && !d.Met.After(asOf):
				b.Late = d.Met.Sub(d.Due)
			default:
				b.Late, b.Open = asOf.Sub(d.Due), true
			}
			if b.Late > 0 {
				out = append(out, b)
			}
		}
	}
	slices.SortFunc(out, func(a, b Breach) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.PackageID, b.PackageID), cmp.Compare(a.Deadline, b.Deadline))
	})
	return out
}
