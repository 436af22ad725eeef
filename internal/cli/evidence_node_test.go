package cli

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	node := testenv.NewNode(t, e, "tr-node")
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
	mustCLI(t, node.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--out", out)
	if b, _ := os.ReadFile(filepath.Join(out, "site.jpg")); !bytes.Equal(b, bodies[1]) {
		t.Error("site.jpg from the node differs")
	}
}
