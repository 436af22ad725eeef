package audit_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestCheckAgainst: a checkpoint is believed only if it extends the one a
// client verified before: the same log, no rollback, no fork, and a
// consistency proof that verifies.
func TestCheckAgainst(t *testing.T) {
	nodes := tlog.NodeMap{}
	tree, err := tlog.NewTree(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := map[uint64][]byte{}
	for i := range 9 {
		h := sha256.Sum256(fmt.Appendf(nil, "leaf %d", i))
		if err := tree.Append(tlog.LeafHash(h[:]), func(id compact.NodeID, hash []byte) { nodes[id] = hash }); err != nil {
			t.Fatal(err)
		}
		roots[tree.Size()], _ = tree.Root()
	}
	cp := func(size uint64) *tlog.Checkpoint {
		return &tlog.Checkpoint{Origin: "log", Size: size, Hash: roots[size]}
	}
	honest := func(from, to uint64) ([][]byte, error) { return tlog.ConsistencyProof(nodes, from, to) }
	other := sha256.Sum256([]byte("another root"))
	for _, tc := range []struct {
		name      string
		prev, cur *tlog.Checkpoint
		proof     audit.ProofFunc
		want      string // "" = believed
	}{
		{"no state", nil, cp(5), honest, ""},
		{"extends it", cp(3), cp(9), honest, ""},
		{"extends it, no server to ask (bundle)", cp(3), cp(9), nil, ""},
		{"same checkpoint", cp(5), cp(5), honest, ""},
		{"another log", &tlog.Checkpoint{Origin: "other", Size: 3, Hash: roots[3]}, cp(5), honest, `state is for log "other", this is "log"`},
		{"rolled back", cp(7), cp(5), honest, "log rolled back: had size 7, server now shows 5"},
		{"forked at the same size", &tlog.Checkpoint{Origin: "log", Size: 5, Hash: other[:]}, cp(5), honest, "same size, different root (forked log)"},
		{"forked before", &tlog.Checkpoint{Origin: "log", Size: 3, Hash: other[:]}, cp(9), honest, "inconsistent with checkpoint of size 3"},
		{"no proof given", cp(3), cp(9), func(uint64, uint64) ([][]byte, error) { return nil, errors.New("unavailable") }, "consistency proof from size 3: unavailable"},
		{"a wrong proof", cp(3), cp(9), func(from, to uint64) ([][]byte, error) { return tlog.ConsistencyProof(nodes, from+1, to) }, "inconsistent with checkpoint of size 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := audit.CheckAgainst(tc.prev, tc.cur, tc.proof)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want it believed", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// TestVerifyLogAgainstEarlierRoot: without a server to ask for a
// consistency proof (a bundle), the log's first entries must still hash to
// the root of the checkpoint verified before: a state whose root differs
// is refused, the honest one accepted.
func TestVerifyLogAgainstEarlierRoot(t *testing.T) {
	x := newExchange(t)
	x.populate(t)
	_, signed := x.checkpoint(t)
	other := sha256.Sum256([]byte("another root"))
	for _, tc := range []struct {
		name string
		hash []byte
		want string
	}{
		{"the root at size 2", nil, ""},
		{"another root at size 2", other[:], "inconsistent with checkpoint of size 2: its first 2 entries hash to another root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := x.tr.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: 2})
			if err != nil {
				t.Fatal(err)
			}
			prev, _, err := tlog.OpenCheckpoint(resp.Checkpoint, x.v.Name(), x.v)
			if err != nil {
				t.Fatal(err)
			}
			if tc.hash != nil {
				prev.Hash = tc.hash
			}
			_, err = audit.VerifyLog(ctxT(t), x.tr, signed, x.v, prev, nil, audit.Options{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want it verified", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
