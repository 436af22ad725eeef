package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/forkproof"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestVerifyForkRefuses: client verify-fork says "fork proven" only for
// two checkpoints the pinned log key signed that cannot both be true.
// Two copies of one checkpoint, and two different roots at one size
// signed by another key under the log's name, are each refused, with a
// non-zero exit; the same pair signed by the log key is proven.
func TestVerifyForkRefuses(t *testing.T) {
	e := testenv.New(t)
	mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2")
	resp, err := e.Client(testenv.Mediator).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	origin := genesisProto(t, e.Certs).LogOrigin
	sign := func(skey string, size uint64, root []byte) []byte {
		t.Helper()
		s, err := tlog.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := tlog.SignCheckpoint(s, origin, size, root)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	write := func(name string, p *forkproof.Proof) string {
		t.Helper()
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	rootA, rootB := bytes.Repeat([]byte{0xa}, 32), bytes.Repeat([]byte{0xb}, 32)
	strangerKey, _, err := tlog.GenerateLogKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := os.ReadFile(filepath.Join(e.Certs, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		name   string
		proof  *forkproof.Proof
		proven bool
	}{
		{"one checkpoint twice", &forkproof.Proof{Small: resp.Checkpoint, Large: resp.Checkpoint}, false},
		{"another key under the log's name", &forkproof.Proof{Small: sign(strangerKey, 5, rootA), Large: sign(strangerKey, 5, rootB)}, false},
		{"the log key, two roots at one size", &forkproof.Proof{Small: sign(strings.TrimSpace(string(logKey)), 5, rootA), Large: sign(strings.TrimSpace(string(logKey)), 5, rootB)}, true},
	} {
		t.Run(test.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "verify-fork", write("fork", test.proof))
			if test.proven {
				if code != 0 || !strings.HasPrefix(stdout, "fork proven: ") {
					t.Fatalf("verify-fork: exit %d\n%s%s\nwant the fork proven", code, stdout, stderr)
				}
				return
			}
			if code == 0 || strings.Contains(stdout, "fork proven") || !strings.Contains(stderr, "no fork proven") {
				t.Fatalf("verify-fork: exit %d\n%s%s\nwant a refusal: no fork proven", code, stdout, stderr)
			}
		})
	}
}
