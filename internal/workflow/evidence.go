package workflow

import (
	"github.com/mvm-exchange/mvm/internal/agreement"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// needsEvidence: an action that took place must be evidenced; a site not
// found, not reached or declined has nothing to show.
func needsEvidence(o mvmv1.Outcome) bool {
	switch o {
	case mvmv1.Outcome_OUTCOME_RAID_CONDUCTED, mvmv1.Outcome_OUTCOME_SITE_DESTROYED, mvmv1.Outcome_OUTCOME_ARRESTS:
		return true
	}
	return false
}

// addEvidence takes evidence on a reported package; whether it meets the
// evidence deadline is ag's rule (package doc, "The evidence deadline").
func (p *Package) addEvidence(ag *agreement.Agreement, es *mvmv1.EvidenceSubmission, in Input) error {
	if p.Report == nil {
		return refuse(ErrPrecondition, "cannot add evidence to package %s: status is %s (no action reported)", p.ID, p.Status)
	}
	// A package with a report was never withdrawn (withdrawal needs no
	// report), so evidence is taken in every status from here on.
	if ag.EvidenceNeedsFiles && len(es.Files) == 0 {
		return nil
	}
	p.meet(DeadlineEvidence, in.ReceivedAt)
	return nil
}
