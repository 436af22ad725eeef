package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestAmendSignRefusesForgedSignature: a signature already on a proposal
// must verify before a party adds its own: one with a byte changed is
// refused, naming the file, and the file is left as it was.
func TestAmendSignRefusesForgedSignature(t *testing.T) {
	e := testenv.New(t)
	path := filepath.Join(t.TempDir(), "amend.pb")
	mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "amend", "propose", "--out", path, "--title", "v2")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := &mvmv1.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		t.Fatal(err)
	}
	env.Signatures[0].Sig[0] ^= 1
	forged, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code := runCLI(t, e.Addr, e.Certs, testenv.Responder, "amend", "sign", path, "--yes")
	if code != ExitFail || !strings.Contains(errs, path+": ") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming %s", code, errs, path)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, forged) {
		t.Error("the proposal file changed")
	}
}
