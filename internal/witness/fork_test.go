package witness_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/mvm-exchange/mvm/internal/forkproof"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestHandlerProvesForks: two real servers sign with one log key from two
// databases (a forked primary). A witness that cosigned a checkpoint of
// one refuses the other's and hands OnFork a proof that verifies, when the
// request proves the fork; a wrong proof alone, or a standard proof from a
// power-of-two size, proves nothing and hands nothing.
func TestHandlerProvesForks(t *testing.T) {
	dir := pki(t)
	skey, vkey := newWitnessKey(t, dir, ours)
	a := testenv.Start(t, dir, filepath.Join(t.TempDir(), "a.db"))
	appendN(t, a, 4) // sizes 1 to 5
	b := testenv.Start(t, dir, filepath.Join(t.TempDir(), "b.db"))
	appendN(t, b, 6) // sizes 1 to 7
	cp := func(e *testenv.Env, size uint64) []byte {
		r, err := e.Client(testenv.Mediator).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: size})
		if err != nil {
			t.Fatal(err)
		}
		return r.Checkpoint
	}
	proof := func(e *testenv.Env, from, to uint64) [][]byte {
		r, err := e.Client(testenv.Mediator).API.GetConsistencyProof(ctxT(t), &mvmv1.GetConsistencyProofRequest{From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		return r.Hashes
	}
	_, logKey := logKeys(t, dir)
	tampered := proof(a, 3, 5)
	tampered[0] = append([]byte(nil), tampered[0]...)
	tampered[0][0] ^= 1

	for _, c := range []struct {
		name      string
		held      []byte // the witness first cosigns this
		old       uint64
		proof     [][]byte
		cp        []byte
		want      error // nil: a 409
		wantSizes [2]uint64
	}{
		{"same size, another root", cp(a, 3), 3, nil, cp(b, 3), nil, [2]uint64{3, 3}},
		{"same size, another old size sent", cp(a, 3), 2, proof(b, 2, 3), cp(b, 3), nil, [2]uint64{3, 3}},
		{"the other branch's own proof from 3", cp(a, 3), 3, proof(b, 3, 7), cp(b, 7), witness.ErrInconsistent, [2]uint64{3, 7}},
		{"a standard proof from 4 leaves the node out", cp(a, 4), 4, proof(b, 4, 7), cp(b, 7), witness.ErrInconsistent, [2]uint64{}},
		{"a wrong proof proves nothing", cp(a, 3), 3, tampered, cp(a, 5), witness.ErrInconsistent, [2]uint64{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := ourWitness(t, dir, skey, filepath.Join(t.TempDir(), "state"))
			var got []*forkproof.Proof
			h.OnFork = func(p *forkproof.Proof) { got = append(got, p) }
			w := serve(t, h)
			cl := &witness.Client{Target: witness.Target{Name: ours, URL: w.URL()}, Key: vkey}
			if _, err := cl.AddCheckpoint(ctxT(t), 0, nil, c.held); err != nil {
				t.Fatal(err)
			}
			_, err := cl.AddCheckpoint(ctxT(t), c.old, c.proof, c.cp)
			var conflict *witness.ConflictError
			if c.want == nil && !errors.As(err, &conflict) {
				t.Errorf("got %v, want a 409", err)
			} else if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
			if c.wantSizes == [2]uint64{} {
				if len(got) != 0 {
					t.Errorf("OnFork called %d times, want none", len(got))
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("OnFork called %d times, want once", len(got))
			}
			f, err := forkproof.Verify(got[0], logKey)
			if err != nil {
				t.Fatalf("the proof handed to OnFork: %v", err)
			}
			if sizes := [2]uint64{f.Small.Size, f.Large.Size}; sizes != c.wantSizes {
				t.Errorf("proof of sizes %v, want %v", sizes, c.wantSizes)
			}
		})
	}
}
