package agreement

import (
	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// CountWitnesses verifies signedCheckpoint under the log key and origin and
// counts the mediator parties of a with at least one valid cosignature on
// it. A party counts once however many of its keys cosigned, and only keys
// a lists count: a key rotated out by an amendment no longer witnesses.
//
// It is the one count of the system: the server answers GetCheckpoint with
// it, and every client recounts with it, under the agreement in force at the
// checkpoint's size (see [InForceAt]), never taking the server's number.
func (a *Agreement) CountWitnesses(signedCheckpoint []byte, origin string, logKey note.Verifier) (int, error) {
	n := 0
	for _, id := range a.order {
		p := a.parties[id]
		if p.Role != mvmv1.Role_ROLE_MEDIATOR || len(p.CosignerKeys) == 0 {
			continue
		}
		c, err := tlog.CountCosigners(signedCheckpoint, origin, logKey, p.CosignerKeys)
		if err != nil {
			return 0, err
		}
		if c > 0 {
			n++
		}
	}
	return n, nil
}

// Witnessed reports whether n witnessing mediators meet the witness quorum.
// A quorum of zero means checkpoints are never witnessed.
func (a *Agreement) Witnessed(n int) bool { return a.WitnessQuorum > 0 && n >= a.WitnessQuorum }

// InForceAt returns, from history (every agreement of a log, in log
// order), the one in force for a checkpoint of the given size: the last
// agreement among its first size entries. It returns nil if none is.
func InForceAt(history []*Agreement, size uint64) *Agreement {
	var in *Agreement
	for _, a := range history {
		if a.Index < size {
			in = a
		}
	}
	return in
}
