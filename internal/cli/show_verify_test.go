package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestShowAcrossAmendment: show re-derives each entry of a package under
// the agreement in force when it was logged, not the latest one: a
// package submitted before an amendment doubling the acknowledgement
// deadline keeps the deadline it was submitted under, as the server's
// reducer gave it.
func TestShowAcrossAmendment(t *testing.T) {
	e := testenv.New(t)
	id := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2"))[0]
	cur := genesisProto(t, e.Certs).Deadlines.Acknowledge.AsDuration()
	amend(t, e, 0, func(p *mvmv1.Agreement) { p.Deadlines.Acknowledge = durationpb.New(2 * cur) })
	pkg, err := e.Client(testenv.Mediator).API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: id})
	if err != nil {
		t.Fatal(err)
	}
	en, err := entry.DecodeLeaf(pkg.Leaves[0])
	if err != nil {
		t.Fatal(err)
	}
	due := en.ReceivedAt.AsTime().Add(cur)
	out := mustCLI(t, e.Addr, e.Certs, testenv.Responder, "show", id)
	if want := "deadline: acknowledge by af due " + stamp(due) + ", open\n"; !strings.Contains(out, want) {
		t.Errorf("show:\n%s\nwant the line %q (the deadline of the agreement in force at submission)", out, want)
	}
}

// TestHostileServerShowCertificate: a server that answers a signer
// certificate request with another party's certificate is caught by the
// certificate's digest, which the signed leaf names, and show prints
// nothing of the package.
func TestHostileServerShowCertificate(t *testing.T) {
	e := testenv.New(t)
	id := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2"))[0]
	real := e.Client(testenv.Mediator)
	leaves := realLeaves(t, real)
	cp := realCheckpoint(t, real, 0)
	cert := readCertDER(t, filepath.Join(e.Certs, testenv.Responder+".crt"))
	addr := serveHostile(t, e.Certs, &hostileServer{real: real, leaves: leaves, checkpoint: cp, cert: cert})
	out, errs, code := runCLI(t, addr, e.Certs, testenv.Responder, "show", id)
	if code != ExitFail || out != "" || !strings.Contains(errs, "entry 1: the certificate served for") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, nothing shown, naming the certificate's digest", code, out, errs)
	}
}
