package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/agreement"
)

// witnesses counts, on the client, the mediator parties of ag whose
// cosignatures on the signed checkpoint verify, with the count the server
// runs (agreement.CountWitnesses): the server's own number is never taken
// on trust. ag must be the agreement in force at the checkpoint's size.
func witnesses(signed []byte, ag *agreement.Agreement, v note.Verifier) (int, error) {
	return ag.CountWitnesses(signed, v.Name(), v)
}

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

// pinnedAgreement reads the genesis agreement pinned in CERTS (or path).
func (e *env) pinnedAgreement(path string) (*agreement.Agreement, []byte, error) {
	if path == "" {
		path = filepath.Join(e.certs, "agreement.envelope")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("pinned agreement: %w", err)
	}
	ag, _, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("pinned agreement %s: %w", path, err)
	}
	return ag, raw, nil
}
