package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// witnesses counts, on the client, the mediator parties of ag whose
// cosignatures on the signed checkpoint verify: the server's own count is
// never taken on trust.
func witnesses(signed []byte, ag *agreement.Agreement, v note.Verifier) (int, error) {
	n := 0
	for _, keys := range ag.CosignerKeys() {
		c, err := tlog.CountCosigners(signed, v.Name(), v, keys)
		if err != nil {
			return 0, err
		}
		if c > 0 {
			n++
		}
	}
	return n, nil
}

// witnessLine describes how many mediators witnessed a checkpoint.
func witnessLine(n int, ag *agreement.Agreement) string {
	state := "not witnessed"
	if ag.WitnessQuorum > 0 && n >= ag.WitnessQuorum {
		state = "witnessed"
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
