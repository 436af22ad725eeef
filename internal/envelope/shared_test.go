package envelope_test

import (
	"bytes"
	"fmt"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/envelope"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestParseShared: ParseShared and Parse agree (the same error, or
// envelopes proto.Equal) on envelopes as proto.Marshal writes them and on
// every damage and other encoding of them tried here: each byte flipped,
// each length cut, fields repeated, out of order, of another wire type or
// unknown, strings that are not UTF-8, signatures interleaved with other
// fields. An envelope as proto.Marshal writes it is not copied: its
// payload is a slice of the input.
func TestParseShared(t *testing.T) {
	keyid := fmt.Sprintf("%064x", 7)
	sig := func(cert []byte) *mvmv1.Signature {
		return &mvmv1.Signature{Keyid: keyid, Sig: bytes.Repeat([]byte{9}, 64), Certificate: cert}
	}
	marshal := func(env *mvmv1.Envelope) []byte {
		b, err := proto.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	payload := bytes.Repeat([]byte("payload "), 12)
	written := [][]byte{
		marshal(&mvmv1.Envelope{PayloadType: ackType, Payload: payload, Signatures: []*mvmv1.Signature{sig(nil)}}),
		marshal(&mvmv1.Envelope{PayloadType: ackType, Payload: payload, Signatures: []*mvmv1.Signature{sig(nil), sig(nil), sig(nil)}}),
	}
	for i, b := range written {
		env, err := envelope.ParseShared(b)
		if err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
		if at := bytes.Index(b, payload); &env.Payload[0] != &b[at] {
			t.Errorf("envelope %d: the payload is a copy, not a slice of the input", i)
		}
	}

	field := func(num protowire.Number, typ protowire.Type, v []byte) []byte {
		b := protowire.AppendTag(nil, num, typ)
		if typ == protowire.BytesType {
			return protowire.AppendBytes(b, v)
		}
		return append(b, v...)
	}
	bt := protowire.BytesType
	typF := field(1, bt, []byte(ackType))
	payF := field(2, bt, payload)
	sigBody := cat(field(1, bt, []byte(keyid)), field(2, bt, bytes.Repeat([]byte{9}, 64)))
	sigF := field(3, bt, sigBody)
	cases := map[string][]byte{
		"in order":                      cat(typF, payF, sigF),
		"two signatures":                cat(typF, payF, sigF, sigF),
		"signature between fields":      cat(typF, sigF, payF, sigF),
		"payload twice":                 cat(typF, payF, payF, sigF),
		"type twice":                    cat(typF, field(1, bt, []byte("mvm.v1.Other")), payF, sigF),
		"out of order":                  cat(payF, typF, sigF),
		"unknown field":                 cat(typF, payF, sigF, field(7, bt, []byte{1})),
		"type as varint":                cat(field(1, protowire.VarintType, []byte{1}), payF, sigF),
		"type not UTF-8":                cat(field(1, bt, []byte{0xff, 0xfe}), payF, sigF),
		"keyid not UTF-8":               cat(typF, payF, field(3, bt, cat(field(1, bt, []byte{0xc0}), field(2, bt, []byte{1})))),
		"signature fields out of order": cat(typF, payF, field(3, bt, cat(field(2, bt, bytes.Repeat([]byte{9}, 64)), field(1, bt, []byte(keyid))))),
		"signature field twice":         cat(typF, payF, field(3, bt, cat(sigBody, field(2, bt, []byte{8})))),
		"signature unknown field":       cat(typF, payF, field(3, bt, cat(sigBody, field(5, bt, []byte{1})))),
		"signature with a certificate":  cat(typF, payF, field(3, bt, cat(sigBody, field(3, bt, []byte("cert"))))),
		"empty signature":               cat(typF, payF, field(3, bt, nil)),
		"empty payload":                 cat(typF, field(2, bt, nil), sigF),
		"empty":                         nil,
		"17 signatures":                 cat(typF, payF, bytes.Repeat(sigF, 17)),
	}
	for i, b := range written {
		cases[fmt.Sprint("written ", i)] = b
		for j := range b {
			flipped := bytes.Clone(b)
			flipped[j] ^= 0x41
			cases[fmt.Sprintf("written %d, byte %d flipped", i, j)] = flipped
			cases[fmt.Sprintf("written %d, cut at %d", i, j)] = b[:j]
		}
	}
	parsed := 0
	for name, b := range cases {
		want, wantErr := envelope.Parse(b)
		got, gotErr := envelope.ParseShared(bytes.Clone(b))
		if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) || !proto.Equal(want, got) {
			t.Errorf("%s: ParseShared gives %v, %v; Parse %v, %v", name, got, gotErr, want, wantErr)
		}
		if gotErr == nil {
			// Slices of the input at most, each capped at its end: an
			// append to one writes over none of the input.
			in := bytes.Clone(b)
			got, _ := envelope.ParseShared(in)
			grow := func(f []byte) { _ = append(f, bytes.Repeat([]byte{0xee}, 8)...) }
			grow(got.Payload)
			for _, sig := range got.Signatures {
				grow(sig.Sig)
				grow(sig.Certificate)
			}
			if !bytes.Equal(in, b) {
				t.Errorf("%s: appending to a parsed field wrote over the input", name)
			}
			parsed++
		}
	}
	if parsed < 5 {
		t.Errorf("only %d cases parse: the comparison tests little", parsed)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
