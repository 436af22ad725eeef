package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestWitnessCountsAgree: the server (GetCheckpoint's count) and the CLI
// (checkpoint) count witnesses with the same function under the agreement
// in force at the checkpoint's size. After an amendment rotating tr's
// cosigner key and giving qa a second key: tr's new key counts, qa counts
// once with both keys, and the checkpoint before the amendment is still
// witnessed under the genesis keys.
func TestWitnessCountsAgree(t *testing.T) {
	e := testenv.New(t)
	mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2")
	for _, m := range []string{testenv.Mediator, testenv.Mediator2} {
		mustCLI(t, e.Addr, e.Certs, m, "audit", "--state", filepath.Join(t.TempDir(), m+".json"), "--quiet")
	}
	// Size 2 is cosigned by both mediators with their genesis keys.
	trNew, trNewV, err := tlog.GenerateCosignerKey("tr-verifier-2")
	if err != nil {
		t.Fatal(err)
	}
	qa2, qa2V, err := tlog.GenerateCosignerKey("qa-verifier-2")
	if err != nil {
		t.Fatal(err)
	}
	idx := amend(t, e, 0, func(p *mvmv1.Agreement) {
		partyIn(t, p, "tr").CosignerKeys = []string{trNewV}
		qa := partyIn(t, p, "qa")
		qa.CosignerKeys = append(qa.CosignerKeys, qa2V)
	})
	if idx != 2 {
		t.Fatalf("amendment at index %d, want 2", idx)
	}
	// tr now cosigns with its new key; qa with its old one and, directly,
	// with its second.
	if err := os.WriteFile(filepath.Join(e.Certs, testenv.Mediator+".cosign.key"), []byte(trNew+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{testenv.Mediator, testenv.Mediator2} {
		mustCLI(t, e.Addr, e.Certs, m, "audit", "--state", filepath.Join(t.TempDir(), m+".json"), "--quiet")
	}
	qa := e.Client(testenv.Mediator2)
	cp, err := qa.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	v, err := (&env{certs: e.Certs}).logVerifier("")
	if err != nil {
		t.Fatal(err)
	}
	line, err := tlog.Cosign(qa2, cp.Checkpoint, v.Name(), v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := qa.API.AddCosignature(ctxT(t), &mvmv1.AddCosignatureRequest{Checkpoint: cp.Checkpoint, SignatureLine: line}); err != nil {
		t.Fatalf("qa's second key: %v", err)
	}

	for _, tc := range []struct {
		size       uint64
		agreement  uint64 // index of the agreement in force at size
		cosigLines int    // mediator lines on the checkpoint
		names      string // the cosigners counted, in agreement order
	}{
		{2, 0, 2, "tr-verifier, qa-verifier"},
		// tr's old key no longer counts under the amendment.
		{3, 2, 3, "tr-verifier-2, qa-verifier, qa-verifier-2"},
	} {
		t.Run(fmt.Sprintf("size %d", tc.size), func(t *testing.T) {
			resp, err := qa.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: tc.size})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(string(resp.Checkpoint), "\n— ") - 1; got != tc.cosigLines {
				t.Fatalf("checkpoint carries %d cosignature lines, want %d:\n%s", got, tc.cosigLines, resp.Checkpoint)
			}
			if resp.Cosigners != 2 || resp.WitnessQuorum != 2 {
				t.Errorf("server: %d/%d cosigners, want 2/2", resp.Cosigners, resp.WitnessQuorum)
			}
			out := mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "checkpoint", "--size", fmt.Sprint(tc.size))
			want := fmt.Sprintf("cosignatures checked against the agreement in force at size %d (index %d): 2/2 mediators, witnessed; cosigners: %s\n", tc.size, tc.agreement, tc.names)
			if !strings.Contains(out, want) {
				t.Errorf("CLI: got\n%s\nwant %q", out, want)
			}
		})
	}
	out := mustCLI(t, e.Addr, e.Certs, testenv.Responder, "checkpoint", "--witnessed")
	if !strings.Contains(out, "\n3\n") || !strings.Contains(out, "at size 3 (index 2): 2/2 mediators, witnessed") {
		t.Errorf("checkpoint --witnessed: got\n%s\nwant size 3, 2/2 witnessed under the amendment", out)
	}
}
