package cli

import (
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/testenv"
)

// TestHostileServerCheckpoint: a server that answers every GetCheckpoint
// with its latest checkpoint, signed and unwitnessed, cannot pass it off
// as the one asked for: checkpoint --size N refuses another size and
// checkpoint --witnessed refuses a checkpoint below the witness quorum of
// the agreement in force, printing no checkpoint.
func TestHostileServerCheckpoint(t *testing.T) {
	e := testenv.New(t)
	mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2")
	real := e.Client(testenv.Mediator)
	leaves := realLeaves(t, real)
	cp := realCheckpoint(t, real, 0)
	addr := serveHostile(t, e.Certs, &hostileServer{real: real, leaves: leaves, checkpoint: cp})
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"the latest", []string{"checkpoint"}, ""},
		{"its own size", []string{"checkpoint", "--size", "2"}, ""},
		{"another size", []string{"checkpoint", "--size", "1"}, "asked for the checkpoint of size 1, the server sent size 2"},
		{"unwitnessed", []string{"checkpoint", "--witnessed"}, "asked for a witnessed checkpoint, the server sent size 2 cosigned by 0/2 mediators, not witnessed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runCLI(t, addr, e.Certs, testenv.Responder, tc.args...)
			switch {
			case tc.wantErr == "" && (code != ExitOK || out != string(cp)):
				t.Errorf("exit %d, stdout %q, stderr %q; want the checkpoint", code, out, errs)
			case tc.wantErr != "" && (code != ExitFail || out != "" || !strings.Contains(errs, tc.wantErr)):
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, nothing printed, naming %q", code, out, errs, tc.wantErr)
			}
		})
	}
}
