package cli

import (
	"fmt"
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
	ack, _ := appendFaultyAck(t, e, id)

	out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "watch", "--count", "3")
	why := "sealed: headers only: " + message.ErrFault.Error() + ": " + message.TypeAcknowledgement + " " + ack.Header.MessageId + ": the sealed body is invalid"
	if !strings.Contains(out, "SUMMARY-WATCH-4b2") || strings.Count(out, "[sealed: header only]") != 1 || !strings.Contains(out, why) {
		t.Errorf("tr watch:\n%s\nwant the package opened, the acknowledgement marked header only and a line %q", out, why)
	}
	if strings.Contains(out, "yyyy") {
		t.Errorf("watch printed the content of a faulty body:\n%s", out)
	}
}

// appendFaultyAck has af seal an acknowledgement of package id whose note
// is over the limit, skipping the author's checks, and append it signed:
// the server sees a valid header, a recipient an invalid body, the
// author's fault. It returns the acknowledgement and its index.
func appendFaultyAck(t *testing.T, e *testenv.Env, id string) (*mvmv1.Acknowledgement, uint64) {
	t.Helper()
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
	appended, err := af.Append(ctxT(t), header)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return ack, appended.Receipt.Index
}

// TestExportNamesSealedBodyFault: export and monthly-report name a body
// that is its author's fault by its entry index and author, use its
// header only (none of its content is exported), and count it in the one
// line of what stays sealed; the package's good entries open.
func TestExportNamesSealedBodyFault(t *testing.T) {
	e := testenv.NewPKI(t, devpki.Options{SealedBodies: true})
	id := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1.5", "--lon", "2.5", "--summary", "SUMMARY-EXPORT-FAULT-4b2"))[0]
	ack, index := appendFaultyAck(t, e, id)

	fault := fmt.Sprintf("sealed: entry %d is a fault of its author af/af-interior, its header only is shown: %s: %s %s: the sealed body is invalid",
		index, message.ErrFault, message.TypeAcknowledgement, ack.Header.MessageId)
	count := "sealed: 1 entries in 1 packages shown as headers only: their authors' faults (named above)\n"
	stix, stderr := exportRun(t, e, testenv.Mediator, "stix")
	if !strings.HasPrefix(stderr, fault) || !strings.HasSuffix(stderr, count) || strings.Count(stderr, "\n") != 2 {
		t.Errorf("tr's STIX export: stderr\n%s\nwant %q, then %q", stderr, fault, count)
	}
	if !strings.Contains(stix, "SUMMARY-EXPORT-FAULT-4b2") || strings.Contains(stix, "yyyy") {
		t.Errorf("tr's STIX export: want the package's summary, none of the faulty note")
	}
	validSTIX(t, stix)
	_, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "monthly-report", "--out", t.TempDir())
	if code != ExitOK || !strings.HasPrefix(stderr, fault) || !strings.HasSuffix(stderr, count) {
		t.Errorf("tr's monthly report: exit %d, stderr\n%s\nwant %q, then %q", code, stderr, fault, count)
	}
}
