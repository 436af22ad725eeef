package agreement

import (
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// CountWitnesses verifies signedCheckpoint under the log key and origin and
// counts its witnesses: the mediator parties of a with at least one valid
// cosignature on it, by one of their cosigner keys or by one of their
// nodes (witnesses a lists with the party), and the external witnesses a
// lists (C2SP tlog-witness, see [Witness], no party) with a valid
// cosignature on it. A party counts once however many of its keys and
// nodes cosigned, an external witness once, and only keys a lists count: a
// key rotated out by an amendment no longer witnesses.
//
// The rule: a checkpoint is witnessed when this count reaches
// WitnessQuorum ([Agreement.Witnessed]). Mediator parties and external
// witnesses are counted separately and then added, each one vote: a
// party's node speaks for its party, so with the dev agreement (two
// mediators, each with a node, quorum 2) two parties' word is needed,
// never one party's verifier and node.
//
// It is the one count of the system: the server answers GetCheckpoint with
// it, and every client recounts with it, under the agreement in force at the
// checkpoint's size (see [InForceAt]), never taking the server's number.
func (a *Agreement) CountWitnesses(signedCheckpoint []byte, origin string, logKey note.Verifier) (int, error) {
	t, err := a.Tally(signedCheckpoint, origin, logKey)
	return t.Count(), err
}

// Tally is a witness count in its two parts ([Agreement.Tally]).
type Tally struct {
	// Mediators is the number of mediator parties that cosigned, by a
	// cosigner key or a node; External, of external witnesses.
	Mediators, External int
	// Names are the cosigners whose valid cosignatures counted, in
	// agreement order: each party's cosigner key names and nodes, then
	// the external witnesses.
	Names []string
}

// Count is the count toward the witness quorum.
func (t Tally) Count() int { return t.Mediators + t.External }

// Tally verifies signedCheckpoint as [Agreement.CountWitnesses] does and
// returns the count in its two parts, with the names that cosigned.
func (a *Agreement) Tally(signedCheckpoint []byte, origin string, logKey note.Verifier) (Tally, error) {
	var t Tally
	// signed reports which of keys cosigned (by key name).
	signed := func(keys []string) (bool, error) {
		any := false
		for _, k := range keys {
			c, err := tlog.CountCosigners(signedCheckpoint, origin, logKey, []string{k})
			if err != nil {
				return false, err
			}
			if c > 0 {
				any = true
				name, _, _ := strings.Cut(k, "+")
				t.Names = append(t.Names, name)
			}
		}
		return any, nil
	}
	for _, id := range a.order {
		p := a.parties[id]
		if p.Role != mvmv1.Role_ROLE_MEDIATOR {
			continue
		}
		keys := slices.Clone(p.CosignerKeys)
		for _, w := range a.Witnesses {
			if w.Party == id {
				keys = append(keys, w.Key)
			}
		}
		if len(keys) == 0 {
			continue
		}
		ok, err := signed(keys)
		if err != nil {
			return Tally{}, err
		}
		if ok {
			t.Mediators++
		}
	}
	for _, w := range a.Witnesses {
		if w.Party != "" {
			continue
		}
		ok, err := signed([]string{w.Key})
		if err != nil {
			return Tally{}, err
		}
		if ok {
			t.External++
		}
	}
	return t, nil
}

// Witness returns the witness of a named name (a node or an external one).
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
