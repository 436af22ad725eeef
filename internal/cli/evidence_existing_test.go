package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/testenv"
)

// TestEvidenceGetKeepsOtherFile: evidence get never takes a file already
// at the output name for the evidence unless its SHA-256 is the logged
// one: another file there is refused, named, and left as it was; the
// evidence itself, once written, is recognised on the next get.
func TestEvidenceGetKeepsOtherFile(t *testing.T) {
	e := testenv.New(t)
	id := reportedPackage(t, e)
	bodies := logHostile(t, e, id, []string{"film.mp4"})
	out := t.TempDir()
	path := filepath.Join(out, "film.mp4")
	other := []byte("not the film the log names")
	if err := os.WriteFile(path, other, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--out", out)
	if code == 0 || !strings.Contains(stderr, path+" exists and is not this evidence file") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s\nwant a refusal naming the file in the way", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, other) {
		t.Errorf("the file in the way now holds %q, want it unchanged", b)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--out", out)
	if b, _ := os.ReadFile(path); !bytes.Equal(b, bodies[0]) {
		t.Fatalf("%s after get: %d bytes, want the logged film", path, len(b))
	}
	if again := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--out", out); !strings.Contains(again, "have "+path) {
		t.Errorf("second get:\n%s\nwant it to say it has %s", again, path)
	}
}
