package cli

import (
	"fmt"

	"github.com/mvm-exchange/mvm/internal/agreement"
)

// witnessLine describes how many mediators witnessed a checkpoint.
func witnessLine(n int, ag *agreement.Agreement) string {
	state := "not witnessed"
	if ag.Witnessed(n) {
		state = "witnessed"
	}
	if len(ag.Witnesses) > 0 {
		// External witnesses count alongside the mediators.
		return fmt.Sprintf("%d/%d witnesses (mediators and %d external), %s", n, ag.WitnessQuorum, len(ag.Witnesses), state)
	}
	return fmt.Sprintf("%d/%d mediators, %s", n, ag.WitnessQuorum, state)
}
