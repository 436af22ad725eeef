package node_test

import (
	"bytes"
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
	primary, node, old := branched(t, 1, 3) // size 2, the copy, then 3 to 5
	if code, out := clientStatus(t, node); code != 0 || !strings.Contains(out, "lag: 0 entries\n") {
		t.Fatalf("client status of a caught-up node: exit %d\n%s", code, out)
	}

	rolledBack(t, primary, node, old, 0)
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
