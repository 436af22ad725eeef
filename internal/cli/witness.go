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
	return fmt.Sprintf("%d/%d mediators, %s", n, ag.WitnessQuorum, state)
}
