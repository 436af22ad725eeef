package agreement

import (
	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// CountWitnesses verifies signedCheckpoint under the log key and origin and
// counts its witnesses: the mediator parties of a with at least one valid
// cosignature on it, and the external witnesses a lists (C2SP
// tlog-witness, see [Witness]) with a valid cosignature on it. A party
// counts once however many of its keys cosigned, a witness once, and only
// keys a lists count: a key rotated out by an amendment no longer
// witnesses.
//
// The rule: a checkpoint is witnessed when this count reaches
// WitnessQuorum ([Agreement.Witnessed]); mediators and external witnesses
// count alike, each one vote.
//
// It is the one count of the system: the server answers GetCheckpoint with
// it, and every client recounts with it, under the agreement in force at the
// checkpoint's size (see [InForceAt]), never taking the server's number.
func (a *Agreement) CountWitnesses(signedCheckpoint []byte, origin string, logKey note.Verifier) (int, error) {
	n := 0
	count := func(keys []string) error {
		c, err := tlog.CountCosigners(signedCheckpoint, origin, logKey, keys)
		if c > 0 {
			n++
		}
		return err
	}
	for _, id := range a.order {
		p := a.parties[id]
		if p.Role != mvmv1.Role_ROLE_MEDIATOR || len(p.CosignerKeys) == 0 {
			continue
		}
		if err := count(p.CosignerKeys); err != nil {
			return 0, err
		}
	}
	for _, w := range a.Witnesses {
		if err := count([]string{w.Key}); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Witness returns the external witness of a named name.
func (a *Agreement) Witness(name string) (Witness, bool) {
	for _, w := range a.Witnesses {
		if w.Name == name {
			return w, true
		}
	}
	return Witness{}, false
}

// Witnessed reports whether n witnesses (mediator parties and external
// witnesses, see [Agreement.CountWitnesses]) meet the witness quorum. A
// quorum of zero means checkpoints are never witnessed.
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
