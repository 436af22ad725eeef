package message

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestPlaintextScratchWiped: a buffer OpenDecoded opened a body into goes
// back to its pool holding none of the plaintext.
func TestPlaintextScratchWiped(t *testing.T) {
	const note = "SECRET-NOTE-pooled"
	pkg := &mvmv1.TargetPackage{
		Header:   &mvmv1.Header{MessageId: "pkg-1", AuthoredAt: timestamppb.Now()},
		Priority: mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_AMBER,
		Responder: "tr", Summary: "s", Locations: []*mvmv1.Location{{Lat: 1, Lon: 2, Description: "d"}},
	}
	priv, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := SealPackage(pkg, "o", []Recipient{{Party: "tr", Key: priv.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	ack := &mvmv1.Acknowledgement{Header: &mvmv1.Header{MessageId: "ack-1", AuthoredAt: timestamppb.Now()}, PackageId: "pkg-1", Note: note}
	header, err := SealMessage(ack, "o", key)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := proto.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for range 20 {
		if _, err := OpenDecoded("o", key, header, payload); err != nil {
			t.Fatal(err)
		}
		buf := plaintextScratch.Get().(*[]byte)
		if all := (*buf)[:cap(*buf)]; len(all) > 0 {
			seen++
			if bytes.Contains(all, []byte(note)) || !bytes.Equal(all, make([]byte, len(all))) {
				t.Fatalf("a pooled plaintext buffer holds %q", all)
			}
		}
		plaintextScratch.Put(buf)
	}
	if seen == 0 {
		t.Fatal("no opening left a buffer in the pool: the wipe was not checked")
	}
}
