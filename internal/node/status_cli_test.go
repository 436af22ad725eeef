package node_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/cli"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// clientStatus runs `client --server ADDR status` as the mediator, the
// way an operator does, and returns its exit code and output.
func clientStatus(t *testing.T, e *testenv.Env) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run([]string{"--server", e.Addr, "--certs", e.Certs, "--as", testenv.Mediator, "status"}, &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

// TestStatusPrimaryBehind: a primary brought back to an older copy of its
// log (consistent with the node's, grown no other way) is no fork and no
// alarm, but `client status` says the primary is behind the node instead
// of showing a lag of 0 as if all were well.
func TestStatusPrimaryBehind(t *testing.T) {
	primary := testenv.New(t)
	pk := primary.Client(testenv.Submitter)
	mustAppend(t, pk, target("")) // size 2
	primary.Stop()
	old := filepath.Join(t.TempDir(), "old.db")
	copyFile(t, primary.DB, old)
	primary.Restart()
	pk = primary.Client(testenv.Submitter)
	for range 3 {
		mustAppend(t, pk, target("")) // sizes 3 to 5
	}
	node := testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, node)
	if code, out := clientStatus(t, node); code != 0 || !strings.Contains(out, "lag: 0 entries\n") {
		t.Fatalf("client status of a caught-up node: exit %d\n%s", code, out)
	}

	node.Stop()
	primary.Stop()
	copyFile(t, old, primary.DB)
	primary.Restart()
	node.Restart()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := clientStatus(t, node)
		if strings.Contains(out, "the primary is 3 entries behind the node") {
			if code != 0 || !strings.Contains(out, "alarm: none") {
				t.Errorf("client status: exit %d, want 0 and no alarm:\n%s", code, out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client status never said the primary is behind:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
