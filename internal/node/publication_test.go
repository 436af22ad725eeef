package node_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestFollowPublication: a report publication (an entry about no package)
// is copied like any entry, and gives the node's package index no package.
func TestFollowPublication(t *testing.T) {
	primary := testenv.New(t)
	submit(t, primary, 1)
	tr := primary.Client(testenv.Mediator)
	cp, err := tr.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	root := checkpointRoot(t, cp.Checkpoint)
	mustAppend(t, tr, &mvmv1.ReportPublication{Header: mvmclient.NewHeader(), Month: "2026-01",
		ReportSha256: bytes.Repeat([]byte{1}, 32), CheckpointSize: size(t, cp.Checkpoint), CheckpointRoot: root})
	node := testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, node)
	submit(t, primary, 1) // and after it, live
	caughtUp(t, primary, node)
	ntr := node.Client(testenv.Mediator)
	if got, want := entries(t, ntr), entries(t, tr); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("node's entries differ from the primary's (%d vs %d)", len(got), len(want))
	}
	if got, want := list(t, ntr), list(t, tr); !slices.Equal(got, want) || len(got) != 2 {
		t.Errorf("node's packages %v, primary's %v, want the same 2", got, want)
	}
}

// checkpointRoot is the root hash of a signed checkpoint.
func checkpointRoot(t *testing.T, signed []byte) []byte {
	t.Helper()
	var c tlog.Checkpoint
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	if _, err := c.Unmarshal(append(text, '\n')); err != nil {
		t.Fatal(err)
	}
	return c.Hash
}
