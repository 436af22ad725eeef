package node_test

import (
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// TestForgedCheckpointNotStored: a lying primary serves entries that all
// verify one by one but signs (with the log key) a checkpoint over another
// tree. The node stores none of them under that checkpoint: the root it
// computed is not the one signed, so the piece is refused whole (the
// entries are not proven a prefix of the signed tree), the alarm names the
// piece's last entry and the node keeps the 2 entries of its first piece.
func TestForgedCheckpointNotStored(t *testing.T) {
	primary := testenv.New(t)
	pk := primary.Client(testenv.Submitter)
	for range 8 {
		mustAppend(t, pk, target("")) // sizes 2 … 9
	}
	primary.Stop()
	dropCheckpoints(t, primary.DB, 3, 9) // the second piece runs from 2 to 9
	forgeTree(t, primary.Certs, primary.DB, 3)
	primary.Restart()

	node := testenv.NewNode(t, primary, nodeName, func(c *server.Config) { c.Node.Piece = 2 })
	tr := node.Client(testenv.Mediator)
	st := alarmed(t, tr)
	if st.AlarmIndex != 8 || !strings.Contains(st.Alarm, "do not hash to the primary's signed checkpoint of size 9") {
		t.Fatalf("status %v: want an alarm at entry 8: the entries do not hash to the signed checkpoint", st)
	}
	if st.Size != 2 || st.VerifiedSize != 2 {
		t.Errorf("node holds %d entries (verified %d), want 2: entries 2-8 are not the tree the primary signed", st.Size, st.VerifiedSize)
	}
	checkpointSize(t, tr, 2)
}

// TestForkedPrimarySameSize: the primary's database is replaced by an
// older copy (3 entries) that grows back to exactly the 6 entries the node
// verified, on another branch. Nothing is there to copy, yet the root the
// primary signs at the node's own size is not the node's: a fork, proven
// and alarmed, not a primary the node is caught up with.
func TestForkedPrimarySameSize(t *testing.T) {
	primary, node, old := branched(t, 2, 3) // sizes 2, 3, the copy, then 4 to 6
	rolledBack(t, primary, node, old, 3)    // sizes 4 to 6 again, another branch
	node.Restart()
	_, f := forkAlarm(t, node)
	if f.Small.Size != 6 || f.Large.Size != 6 {
		t.Errorf("a fork proven at sizes %d and %d, want 6 and 6", f.Small.Size, f.Large.Size)
	}
	if st := status_(t, node.Client(testenv.Mediator)); st.Size != 6 {
		t.Errorf("the node holds %d entries, want the 6 it verified", st.Size)
	}
}
