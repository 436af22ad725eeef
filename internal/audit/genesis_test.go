package audit_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/devpki"
)

// TestPinnedGenesis: the party CAs come from entry 0, so the auditor must
// compare the entry 0 it verifies, in the same pass, with its own pinned
// copy. A log whose genesis is another (fully signed) agreement fails at
// entry 0; the right pin passes.
func TestPinnedGenesis(t *testing.T) {
	x := newExchange(t)
	cp, _ := x.checkpoint(t)
	mine, err := os.ReadFile(filepath.Join(x.env.Certs, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: other}); err != nil {
		t.Fatal(err)
	}
	theirs, err := os.ReadFile(filepath.Join(other, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, x.tr, cp.Size, audit.Options{Genesis: mine}); err != nil {
		t.Fatalf("audit with the right pin: %v", err)
	}
	_, err = run(t, x.tr, cp.Size, audit.Options{Genesis: theirs})
	if err == nil || !strings.Contains(err.Error(), "entry 0: the genesis agreement is not the pinned one") {
		t.Fatalf("audit pinned to another agreement: got %v, want a failure at entry 0", err)
	}
}
