package cli

import (
	"fmt"
	"strings"

	"github.com/mvm-exchange/mvm/internal/agreement"
)

// witnessLine describes who witnessed a checkpoint: the count toward the
// quorum (mediator parties, by their verifiers or their nodes, and
// external witnesses), whether it is reached, and the names whose
// cosignatures counted.
func witnessLine(t agreement.Tally, ag *agreement.Agreement) string {
	n := t.Count()
	state := "not witnessed"
	if ag.Witnessed(n) {
		state = "witnessed"
	}
	external := 0
	for _, w := range ag.Witnesses {
		if w.Party == "" {
			external++
		}
	}
	var s string
	if external > 0 {
		// External witnesses count alongside the mediators.
		s = fmt.Sprintf("%d/%d witnesses (%d mediators, %d of %d external), %s", n, ag.WitnessQuorum, t.Mediators, t.External, external, state)
	} else {
		s = fmt.Sprintf("%d/%d mediators, %s", n, ag.WitnessQuorum, state)
	}
	if len(t.Names) > 0 {
		s += "; cosigners: " + strings.Join(t.Names, ", ")
	}
	return s
}
