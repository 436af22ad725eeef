package cli

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// A mediator node copies every evidence file its verified log names and
// keeps only what matches the logged digest: evidence get from the node
// writes the files, verified like from the primary; a file the primary's
// disk altered is not stored on the node, and get from the node refuses
// it.
func TestEvidenceFromNode(t *testing.T) {
	e := testenv.New(t)
	id := reportedPackage(t, e)
	bodies := logHostile(t, e, id, []string{"raid.mp4", "site.jpg"})
	altered := bytes.Clone(bodies[1])
	altered[0] ^= 1
	if err := os.WriteFile(filepath.Join(filepath.Dir(e.DB), "evidence", "objects", hex.EncodeToString(sha(bodies[1]))), altered, 0o600); err != nil {
		t.Fatal(err)
	}
	node := testenv.NewNode(t, e, "tr-node", func(c *server.Config) { c.Metrics = "127.0.0.1:0" })
	nodeObjects := filepath.Join(filepath.Dir(node.DB), "evidence", "objects")
	want := filepath.Join(nodeObjects, hex.EncodeToString(sha(bodies[0])))
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(want); err == nil {
			break
		}
	}
	if b, err := os.ReadFile(want); err != nil || !bytes.Equal(b, bodies[0]) {
		t.Fatalf("the node's copy of raid.mp4: %v", err)
	}
	if _, err := os.Stat(filepath.Join(nodeObjects, hex.EncodeToString(sha(bodies[1])))); err == nil {
		t.Fatal("the node stored a file whose bytes are not the logged ones")
	}
	// The file not copied shows in the node's status and metric.
	pending := func() (string, string) {
		t.Helper()
		resp, err := http.Get("http://" + node.Server.MetricsAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return mustCLI(t, node.Addr, e.Certs, testenv.Mediator, "status"), string(body)
	}
	var status, metrics string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		// Until the pass that copied raid.mp4 ends, both count.
		if status, metrics = pending(); strings.Contains(metrics, "mvm_node_evidence_pending 1\n") {
			break
		}
	}
	if !strings.Contains(status, "evidence files pending: 1\n") || !strings.Contains(metrics, "mvm_node_evidence_pending 1\n") {
		t.Errorf("with one file not copied, status:\n%s\nmetrics lack mvm_node_evidence_pending 1", status)
	}
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, node.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--out", out)
	if code != ExitFail || !strings.Contains(stdout, "wrote "+filepath.Join(out, "raid.mp4")) || !strings.Contains(stderr, "1 of 2 evidence files not written") {
		t.Fatalf("get from the node: exit %d\n%s%s", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "raid.mp4")); !bytes.Equal(b, bodies[0]) {
		t.Error("raid.mp4 from the node differs")
	}
	// Restored on the primary, the file reaches the node at a later pass.
	if err := os.WriteFile(filepath.Join(filepath.Dir(e.DB), "evidence", "objects", hex.EncodeToString(sha(bodies[1]))), bodies[1], 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(nodeObjects, hex.EncodeToString(sha(bodies[1])))); err == nil {
			break
		}
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if status, metrics = pending(); strings.Contains(metrics, "mvm_node_evidence_pending 0\n") {
			break
		}
	}
	if !strings.Contains(status, "evidence files pending: 0\n") || !strings.Contains(metrics, "mvm_node_evidence_pending 0\n") {
		t.Errorf("every file copied, status:\n%s\nmetrics lack mvm_node_evidence_pending 0", status)
	}
	mustCLI(t, node.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--out", out)
	if b, _ := os.ReadFile(filepath.Join(out, "site.jpg")); !bytes.Equal(b, bodies[1]) {
		t.Error("site.jpg from the node differs")
	}
}
