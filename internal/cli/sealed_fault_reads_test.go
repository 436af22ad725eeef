package cli

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestWatchNamesSealedBodyFault: a body whose package key opens but which
// is its author's fault (valid signature, invalid plaintext) is shown by
// watch as its header only, marked, and watch says why, naming the
// message; the package's good entries open. (TestWrongWrap covers a
// package key that does not open; this is the body of a later message.)
func TestWatchNamesSealedBodyFault(t *testing.T) {
	e := testenv.NewPKI(t, devpki.Options{SealedBodies: true})
	id := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1.5", "--lon", "2.5", "--summary", "SUMMARY-WATCH-4b2"))[0]
	af := e.Client(testenv.Responder)
	resp, err := af.Package(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	target, err := entryOf(resp.Leaves[0])
	if err != nil {
		t.Fatal(err)
	}
	kr, err := mvmclient.LoadKeyring("af", e.Certs+"/"+devpki.SealKeyFile("af"))
	if err != nil {
		t.Fatal(err)
	}
	origin := genesisProto(t, e.Certs).LogOrigin
	key, err := kr.PackageKey(origin, target.(*mvmv1.TargetPackage))
	if err != nil {
		t.Fatal(err)
	}
	// af seals an acknowledgement whose note is over the limit, skipping
	// the author's checks, and appends it signed: the server sees a valid
	// header.
	ack := &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id, Note: strings.Repeat("y", message.MaxText+1)}
	header := message.Redact(ack).(*mvmv1.Acknowledgement)
	aad, err := proto.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := proto.Marshal(ack)
	if err != nil {
		t.Fatal(err)
	}
	header.SealedBody, err = seal.SealBody(key, seal.BodyContext{LogOrigin: origin, PackageID: id, PayloadType: message.TypeAcknowledgement,
		MessageID: ack.Header.MessageId}, aad, pt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := af.Append(ctxT(t), header); err != nil {
		t.Fatalf("append: %v", err)
	}

	out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "watch", "--count", "3")
	why := "sealed: headers only: " + message.ErrFault.Error() + ": " + message.TypeAcknowledgement + " " + ack.Header.MessageId + ": the sealed body is invalid"
	if !strings.Contains(out, "SUMMARY-WATCH-4b2") || strings.Count(out, "[sealed: header only]") != 1 || !strings.Contains(out, why) {
		t.Errorf("tr watch:\n%s\nwant the package opened, the acknowledgement marked header only and a line %q", out, why)
	}
	if strings.Contains(out, "yyyy") {
		t.Errorf("watch printed the content of a faulty body:\n%s", out)
	}
}
