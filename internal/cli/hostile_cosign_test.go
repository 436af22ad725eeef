package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/testenv"
)

// TestHostileServerCosign: after a mediator's audit cosigns a checkpoint,
// the server's answer must be that checkpoint: another one (here an older
// size) is refused, not counted under the agreement of the audited size.
func TestHostileServerCosign(t *testing.T) {
	e := testenv.New(t)
	for range 2 {
		mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2")
	}
	real := e.Client(testenv.Responder)
	leaves := realLeaves(t, real)
	cp := realCheckpoint(t, real, 0)
	cp2 := realCheckpoint(t, real, 2)
	for _, tc := range []struct {
		name     string
		cosigned []byte
		want     string // on stdout, or else on stderr with exit 1
		fails    bool
	}{
		{"the checkpoint cosigned", cp, "cosigned checkpoint size 3 (0/2 mediators, not witnessed)", false},
		{"another checkpoint", cp2, "the server answered with the checkpoint of size 2, not the one cosigned", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveHostile(t, e.Certs, &hostileServer{real: real, leaves: leaves, checkpoint: cp, cosigned: tc.cosigned})
			out, errs, code := runCLI(t, addr, e.Certs, testenv.Mediator, "audit", "--state", filepath.Join(t.TempDir(), "state.json"), "--quiet")
			switch {
			case !tc.fails && (code != ExitOK || !strings.Contains(out, tc.want)):
				t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, out, errs, tc.want)
			case tc.fails && (code != ExitFail || !strings.Contains(errs, tc.want) || strings.Contains(out, "cosigned checkpoint")):
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 naming %q", code, out, errs, tc.want)
			}
		})
	}
}
