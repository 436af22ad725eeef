package message_test

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Faults of sealed payloads that TestOpenFaults does not reach: an
// evidence submission (whose header is compared by its own path, the
// files' sensitive fields being nested) and a payload carrying two sealed
// bodies. Each is the signed author's fault, never a payload that opens.

// TestOpenEvidenceContradictsHeader: an evidence submission whose sealed
// body names other files than its cleartext header (the stored digests
// and sizes the server checked its objects against) is its author's
// fault: a recipient must not take the body's files for the logged ones.
func TestOpenEvidenceContradictsHeader(t *testing.T) {
	ps := newSealParties(t, "pk", "af", "tr")
	_, key, err := message.SealPackage(secretTarget(), origin, ps.recipients("pk", "af", "tr"))
	if err != nil {
		t.Fatal(err)
	}
	d := bytes.Repeat([]byte{7}, message.EvidenceDigestLen)
	pd := bytes.Repeat([]byte{8}, message.EvidenceDigestLen)
	file := func(stored []byte, size int64) *mvmv1.EvidenceFile {
		return &mvmv1.EvidenceFile{StoredSha256: stored, StoredSize: size, Name: "raid.mp4", MediaType: "video/mp4", PlaintextSize: 3, PlaintextSha256: pd}
	}
	logged := &mvmv1.EvidenceSubmission{Header: validAck().Header, PackageId: "pkg-1", EvidenceSha256: [][]byte{d}, Files: []*mvmv1.EvidenceFile{file(d, 50)}}
	other := bytes.Repeat([]byte{9}, message.EvidenceDigestLen)
	for _, test := range []struct {
		name string
		body *mvmv1.EvidenceSubmission
	}{
		{"other stored digest", &mvmv1.EvidenceSubmission{Header: logged.Header, PackageId: "pkg-1", EvidenceSha256: [][]byte{other}, Files: []*mvmv1.EvidenceFile{file(other, 50)}}},
		{"other stored size", &mvmv1.EvidenceSubmission{Header: logged.Header, PackageId: "pkg-1", EvidenceSha256: [][]byte{d}, Files: []*mvmv1.EvidenceFile{file(d, 51)}}},
		{"one more file", &mvmv1.EvidenceSubmission{Header: logged.Header, PackageId: "pkg-1", EvidenceSha256: [][]byte{d, other}, Files: []*mvmv1.EvidenceFile{file(d, 50), file(other, 50)}}},
	} {
		t.Run(test.name, func(t *testing.T) {
			if err := message.Validate(test.body); err != nil {
				t.Fatalf("the body itself must be valid for this case: %v", err)
			}
			header := message.Redact(logged).(*mvmv1.EvidenceSubmission)
			aad := mustMarshal(t, header)
			body, err := seal.SealBody(key, seal.BodyContext{LogOrigin: origin, PackageID: "pkg-1", PayloadType: message.TypeEvidenceSubmission,
				MessageID: logged.Header.MessageId}, aad, mustMarshal(t, test.body))
			if err != nil {
				t.Fatal(err)
			}
			header.SealedBody = body
			if err := message.Validate(header); err != nil {
				t.Fatalf("the server would refuse the header (%v): the case tests nothing", err)
			}
			full, err := message.Open(origin, key, message.TypeEvidenceSubmission, mustMarshal(t, header))
			if !message.IsFault(err) || !strings.Contains(err.Error(), "contradicts its cleartext header") {
				t.Fatalf("Open = %v, %v; want the author's fault: the body contradicts its header", full, err)
			}
		})
	}
	// The honest submission opens (the case above is not refused for
	// another reason).
	sealed, err := message.SealMessage(logged, origin, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := message.Open(origin, key, message.TypeEvidenceSubmission, mustMarshal(t, sealed)); err != nil {
		t.Fatalf("Open(honest evidence submission) = %v", err)
	}
}

// TestOpenTwoSealedBodies: a signed payload carrying sealed_body twice is
// its author's fault, even when the body that protobuf keeps (the last)
// opens: the signed bytes would carry a second ciphertext nobody checks.
func TestOpenTwoSealedBodies(t *testing.T) {
	ps := newSealParties(t, "pk", "af", "tr")
	_, key, err := message.SealPackage(secretTarget(), origin, ps.recipients("pk", "af", "tr"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := message.SealMessage(validAck(), origin, key)
	if err != nil {
		t.Fatal(err)
	}
	payload := mustMarshal(t, sealed)
	if _, err := message.Open(origin, key, message.TypeAcknowledgement, payload); err != nil {
		t.Fatalf("Open(one body) = %v", err)
	}
	twice := protowire.AppendTag(bytes.Clone(payload), message.SealedBodyNumber, protowire.BytesType)
	twice = protowire.AppendBytes(twice, sealed.(*mvmv1.Acknowledgement).SealedBody)
	if _, err := message.Decode(message.TypeAcknowledgement, twice); err != nil {
		t.Fatalf("Decode(two bodies) = %v: protobuf accepts a repeated scalar field, the case must reach Open", err)
	}
	full, err := message.Open(origin, key, message.TypeAcknowledgement, twice)
	if !message.IsFault(err) || !strings.Contains(err.Error(), "two sealed_body fields") {
		t.Fatalf("Open(two bodies) = %v, %v; want the author's fault naming the two bodies", full, err)
	}
}
