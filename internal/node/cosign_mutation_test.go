package node_test

import (
	"slices"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestCosignatureCopierOnlyListedValid: the node copies from the primary
// only cosignature lines that verify under a key the agreement lists for
// their name. The primary's store holds, besides the node's own witness
// line, a line under the listed witness name qa-node by another key, and
// a line under a name the agreement does not list at all; then tr's
// mediator cosigns. The primary serves the lines sorted by name, so both
// bad lines come before tr-verifier's in every pass of the node's copier:
// once tr-verifier's line is on the node, the copier has judged them.
func TestCosignatureCopierOnlyListedValid(t *testing.T) {
	c := newCosigned(t)
	w, n := c.w, c.n
	wrongKey, unlisted := c.forge(t, "qa-node"), c.forge(t, "aa-witness")
	c.plant(t, map[string]string{"qa-node": wrongKey, "aa-witness": unlisted})

	good := c.cosignAs(t, testenv.Mediator)
	tr := w.primary.Client(testenv.Mediator)
	served, err := tr.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: n})
	if err != nil {
		t.Fatal(err)
	}
	if lines := cosignatureLines(served.Checkpoint); !slices.Contains(lines, wrongKey) || !slices.Contains(lines, unlisted) ||
		slices.Index(lines, unlisted) > slices.Index(lines, good) || slices.Index(lines, wrongKey) > slices.Index(lines, good) {
		t.Fatalf("the primary serves %q: want both bad lines before tr-verifier's (the case tests nothing otherwise)", lines)
	}

	node := w.node.Client(testenv.Mediator)
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := node.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: n})
		if err != nil {
			t.Fatal(err)
		}
		lines := cosignatureLines(got.Checkpoint)
		if slices.Contains(lines, wrongKey) {
			t.Fatalf("the node copied a line under a listed name that does not verify under that name's key: %q", lines)
		}
		if slices.Contains(lines, unlisted) {
			t.Fatalf("the node copied a line under a name the agreement does not list: %q", lines)
		}
		if slices.Contains(lines, good) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node's checkpoint of size %d carries %q, want tr-verifier's cosignature copied", n, lines)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
