package devpki_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// TestAddWitness: the dev agreement lists the added witness, is signed by
// every party again and the PKI still checks; a key that is not the
// witness's changes nothing.
func TestAddWitness(t *testing.T) {
	dir := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	_, vkey, err := tlog.GenerateCosignerKey("witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	if err := devpki.AddWitness(dir, "witness.example/w2", vkey); err == nil {
		t.Fatal("a key named witness.example/w1 added as witness.example/w2")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "agreement.envelope")); string(after) != string(before) {
		t.Fatal("a refused witness changed the agreement")
	}
	if err := devpki.AddWitness(dir, "witness.example/w1", vkey); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	ag, env, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agreement.VerifyAllSigned(env, time.Now(), ag); err != nil {
		t.Fatalf("the new agreement is not signed by every party: %v", err)
	}
	if w, ok := ag.Witness("witness.example/w1"); !ok || w.Key != vkey {
		t.Fatalf("witness not listed: %+v", ag.Witnesses)
	}
	if err := devpki.Check(dir, time.Time{}); err != nil {
		t.Fatalf("the PKI no longer checks: %v", err)
	}
}
