package workflow_test

import (
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// In every status, every obligation on a package must either be
// satisfiable by its party now or be closed: otherwise Breaches reports
// the party late, growing with time, for something the workflow does not
// let it do.
//
// A dispute opened right after the acknowledgement (the submitter may do
// so) leaves the action report owed while ActionReport is refused in
// "disputed" and "ruled": if the mediators never agree, the responder
// would be in breach forever (issue 12, hole 5).
func TestNoStatusLeavesUnmeetableObligation(t *testing.T) {
	f := newFixture(t)
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			w, p := build(t, f, s)
			for _, d := range p.Deadlines {
				if !d.Met.IsZero() {
					continue
				}
				// The obligation is open: its party must be able to meet it now.
				var ok bool
				switch d.Name {
				case workflow.DeadlineAcknowledge:
					_, err := w.apply(p, af, w.ack(pkgID))
					ok = err == nil
				case workflow.DeadlineActionReport:
					_, err := w.apply(p, af, w.report(pkgID, mvmv1.Outcome_OUTCOME_NOT_FOUND, false))
					ok = err == nil
				case workflow.DeadlineEvidence:
					_, err := w.apply(p, af, w.evidence(pkgID))
					ok = err == nil
				}
				if !ok {
					late := workflow.Breaches([]*workflow.Package{p}, d.Due.Add(365*24*time.Hour))
					t.Errorf("status %s: obligation %q of %s is open and can no longer be met; a year after due Breaches reports %s",
						p.Status, d.Name, d.Party, fmtBreaches(late))
				}
			}
		})
	}
}
