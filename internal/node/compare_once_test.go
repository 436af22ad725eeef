package node_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"

	"github.com/mvm-exchange/mvm/internal/node"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// TestCompareCheckpointOnce: a comparison verifies the checkpoint handed
// over once, and the node's own latest once per head, not at every step
// of the proof; once a fork is proven, asking again verifies the same
// one signature and leaves the proof file written the first time as it
// is.
func TestCompareCheckpointOnce(t *testing.T) {
	primary := testenv.New(t)
	pk := primary.Client(testenv.Submitter)
	for range 3 {
		mustAppend(t, pk, target(""))
	}
	n := testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, n)
	nc := n.Client(testenv.Mediator)
	latest, err := nc.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// A checkpoint of size 2 the log key signed over another root: a
	// fork, proven from the node's own tree.
	signer, err := tlog.NewSigner(strings.TrimSpace(string(must(os.ReadFile(filepath.Join(n.Certs, "log.key"))))))
	if err != nil {
		t.Fatal(err)
	}
	forked, err := tlog.SignCheckpoint(signer, signer.Name(), 2, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}

	var verified atomic.Int64
	defer node.CountVerifications(&verified)()
	compare := func(cp []byte, want mvmv1.Comparison) int64 {
		t.Helper()
		before := verified.Load()
		r, err := nc.API.CompareCheckpoint(ctxT(t), &mvmv1.CompareCheckpointRequest{Checkpoint: cp})
		if err != nil || r.Comparison != want {
			t.Fatalf("CompareCheckpoint: %v, %v; want %v", r, err, want)
		}
		return verified.Load() - before
	}
	for _, tc := range []struct {
		name string
		cp   []byte
		want mvmv1.Comparison
		// verifications: the first call's, the next ones'.
		first, next int64
	}{
		{"the node's own latest", latest.Checkpoint, mvmv1.Comparison_COMPARISON_CONSISTENT, 2, 1},
		{"a fork", forked, mvmv1.Comparison_COMPARISON_FORK, 1, 1},
	} {
		if got := compare(tc.cp, tc.want); got != tc.first {
			t.Errorf("%s: %d signatures verified by the first comparison, want %d", tc.name, got, tc.first)
		}
		if tc.want == mvmv1.Comparison_COMPARISON_FORK {
			// The proof is written once: a file there is kept.
			proofs, _ := filepath.Glob(n.DB + ".fork-*")
			if len(proofs) != 1 {
				t.Fatalf("fork proofs %v, want one", proofs)
			}
			if err := os.WriteFile(proofs[0], []byte("kept"), 0o600); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if b, _ := os.ReadFile(proofs[0]); string(b) != "kept" {
					t.Errorf("the proof file was written again by a later comparison")
				}
			}()
		}
		for range 2 {
			if got := compare(tc.cp, tc.want); got != tc.next {
				t.Errorf("%s: %d signatures verified by a later comparison, want %d", tc.name, got, tc.next)
			}
		}
	}
}
