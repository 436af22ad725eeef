package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestShowSealedFaults: an author who signs a sealed body its recipients
// cannot accept (valid signature, invalid plaintext; a body that
// contradicts its header; a body sealed under another key) gets it logged
// (the server sees headers only), and show names each such entry as its
// author's fault, while opening the others.
func TestShowSealedFaults(t *testing.T) {
	e := testenv.NewPKI(t, devpki.Options{SealedBodies: true})
	out := mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1.5", "--lon", "2.5", "--summary", "SEALED-SUMMARY-3c3c")
	id := strings.Fields(out)[0]
	af := e.Client(testenv.Responder)
	resp, err := af.Package(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := entryOf(resp.Leaves[0])
	if err != nil {
		t.Fatal(err)
	}
	target := opened.(*mvmv1.TargetPackage)
	kr, err := mvmclient.LoadKeyring("af", filepath.Join(e.Certs, devpki.SealKeyFile("af")))
	if err != nil {
		t.Fatal(err)
	}
	origin := genesisProto(t, e.Certs).LogOrigin
	key, err := kr.PackageKey(origin, target)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := seal.NewPackageKey()
	// sealBad seals plaintext under header as a careless or malicious
	// author would, skipping every check, and appends it signed.
	sealBad := func(header, plaintext proto.Message, k seal.PackageKey) {
		t.Helper()
		aad, err := proto.Marshal(header)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := proto.Marshal(plaintext)
		if err != nil {
			t.Fatal(err)
		}
		body, err := seal.SealBody(k, seal.BodyContext{LogOrigin: origin, PackageID: id, PayloadType: message.TypeOf(header),
			MessageID: message.Header(header).GetMessageId()}, aad, pt)
		if err != nil {
			t.Fatal(err)
		}
		h := proto.Clone(header)
		h.ProtoReflect().Set(h.ProtoReflect().Descriptor().Fields().ByName("sealed_body"), protoValueBytes(body))
		if _, err := af.Append(ctxT(t), h); err != nil {
			t.Fatalf("append %s: %v", message.TypeOf(h), err)
		}
	}
	ack := &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id, Note: strings.Repeat("x", message.MaxText+1)}
	sealBad(message.Redact(ack), ack, key) // entry 2: invalid plaintext
	rfi := &mvmv1.RequestForInformation{Header: mvmclient.NewHeader(), PackageId: id, Question: "SEALED-QUESTION-1"}
	lying := proto.Clone(rfi).(*mvmv1.RequestForInformation)
	lying.Header.AuthoredAt = timestamppb.New(rfi.Header.AuthoredAt.AsTime().Add(1))
	sealBad(message.Redact(rfi), lying, key) // entry 3: body contradicts header
	rfi2 := &mvmv1.RequestForInformation{Header: mvmclient.NewHeader(), PackageId: id, Question: "SEALED-QUESTION-2"}
	sealBad(message.Redact(rfi2), rfi2, otherKey) // entry 4: sealed to the wrong key
	rfi3 := &mvmv1.RequestForInformation{Header: mvmclient.NewHeader(), PackageId: id, Question: "SEALED-QUESTION-3"}
	sealed, err := message.SealMessage(rfi3, origin, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := af.Append(ctxT(t), sealed); err != nil { // entry 5: good
		t.Fatal(err)
	}

	out = mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "show", id)
	for _, want := range []string{
		"sealed: entry 2 is a fault of its author af/af-interior, its header only is shown: ",
		"the sealed body is invalid: note: 4097 bytes",
		"sealed: entry 3 is a fault of its author af/af-interior, its header only is shown: ",
		"contradicts its cleartext header",
		"sealed: entry 4 is a fault of its author af/af-interior, its header only is shown: ",
		"does not open with the package key",
		"summary: SEALED-SUMMARY-3c3c",
		"question: SEALED-QUESTION-3",
		"sealed: opened 2 of 5 entries with party tr's key",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show:\n%s\nwant it to say %q", out, want)
		}
	}
	if strings.Contains(out, "SEALED-QUESTION-2") {
		t.Errorf("show printed the content of a body that does not open:\n%s", out)
	}

	// audit with the key of --as (by default CERTS/seal-<party>.key) opens
	// every body and fails naming each faulty entry; without a key it
	// verifies everything else, as before.
	stdout, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "audit", "--no-cosign")
	for _, want := range []string{
		"sealed bodies: 5 sealed entries, 2 opened and valid with party tr's key, 0 in packages it may not read",
		"sealed: entry 2 (mvm.v1.Acknowledgement ", "sealed: entry 3 (mvm.v1.RequestForInformation ", "sealed: entry 4 (mvm.v1.RequestForInformation ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("audit:\n%s\nwant it to say %q", stdout, want)
		}
	}
	if code == 0 || !strings.Contains(stderr, "FAILED: 3 sealed bodies are their signed authors' faults (first: entry 2 ") {
		t.Errorf("audit exited %d, stderr %q; want a failure naming the faults", code, stderr)
	}
	if err := os.Remove(filepath.Join(e.Certs, devpki.SealKeyFile("tr"))); err != nil {
		t.Fatal(err)
	}
	if out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "audit", "--no-cosign"); !strings.Contains(out, "audit: OK") || strings.Contains(out, "sealed bodies:") {
		t.Errorf("audit without a key:\n%s\nwant OK, bodies not opened", out)
	}
}

func entryOf(leaf []byte) (proto.Message, error) {
	o, err := entry.Open(leaf)
	if err != nil {
		return nil, err
	}
	return o.Payload, nil
}

func protoValueBytes(b []byte) protoreflect.Value { return protoreflect.ValueOfBytes(b) }
