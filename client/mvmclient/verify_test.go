package mvmclient_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestVerifyPackage: a package answer verifies only as the log holds it:
// its own entries, in log order, within the checkpoint, with a summary
// that agrees with what the reducer derives from them.
func TestVerifyPackage(t *testing.T) {
	env := testenv.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pk, af := env.Client(testenv.Submitter), env.Client(testenv.Responder)
	var ids []string
	for range 2 {
		p := bench.Package(64)
		if _, err := pk.Append(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.Header.MessageId)
	}
	if _, err := af.Append(ctx, &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: ids[0]}); err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(filepath.Join(env.Certs, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := os.ReadFile(filepath.Join(env.Certs, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	tr := env.Client(testenv.Mediator)
	cp, err := tr.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ver, err := audit.VerifyLog(ctx, tr, cp.Checkpoint, v, nil, nil, audit.Options{AgreementsOnly: true, Genesis: genesis})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.API.GetPackage(ctx, &mvmv1.GetPackageRequest{PackageId: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	other, err := tr.API.GetPackage(ctx, &mvmv1.GetPackageRequest{PackageId: ids[1]})
	if err != nil {
		t.Fatal(err)
	}
	// Entry 3, the acknowledgement, is beyond the checkpoint of size 3.
	cp3, err := tr.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	smaller, _, err := tlog.OpenCheckpoint(cp3.Checkpoint, v.Name(), v)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(r *mvmv1.GetPackageResponse)
		want string // "" = verifies
	}{
		{"as logged", func(r *mvmv1.GetPackageResponse) {}, ""},
		{"no entries", func(r *mvmv1.GetPackageResponse) { r.Leaves = nil }, "no signed entries"},
		{"another package's entry", func(r *mvmv1.GetPackageResponse) { r.Leaves = append(r.Leaves, other.Leaves[0]) }, "entry 2: out of log order"},
		{"another package's entry in order", func(r *mvmv1.GetPackageResponse) { r.Leaves = [][]byte{r.Leaves[0], other.Leaves[0]} }, "entry 2: is about package"},
		{"out of order", func(r *mvmv1.GetPackageResponse) { r.Leaves = append(r.Leaves, r.Leaves[0]) }, "entry 1: out of log order after entry 3"},
		{"summary lies", func(r *mvmv1.GetPackageResponse) { r.Package.Outcome = "raid" }, `the server's summary says outcome "raid"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := proto.Clone(resp).(*mvmv1.GetPackageResponse)
			tc.edit(r)
			got, err := tr.VerifyPackage(ctx, r, ids[0], ver.Checkpoint, ver.Agreements)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want it verified", err)
			case tc.want == "" && (got.State.Status != "acknowledged" || len(got.Entries) != 2):
				t.Errorf("derived %s with %d entries, want acknowledged with 2", got.State.Status, len(got.Entries))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
	if _, err := tr.VerifyPackage(ctx, resp, ids[0], smaller, ver.Agreements); err == nil || !strings.Contains(err.Error(), "entry 3: beyond the checkpoint of size 3") {
		t.Errorf("entry beyond the checkpoint: got %v", err)
	}
}
