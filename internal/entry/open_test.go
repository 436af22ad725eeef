package entry_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestOpen: every layer of a leaf that fails gives its named error, with
// the text of the layer's own error, and the layers above it opened.
func TestOpen(t *testing.T) {
	k := newPKI(t)
	af := k.signer(t, "af-interior", false)
	fp := bytes.Repeat([]byte{0xab}, 32)
	leaf := func(raw []byte) []byte {
		t.Helper()
		l, err := entry.NewLeaf(5, at, raw, fp)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	invalid := ack()
	invalid.PackageId = ""
	// An envelope whose payload bytes are not an acknowledgement.
	undecodable := func() []byte {
		env, _ := envelope.Parse(seal(t, ack(), af))
		env.Payload = []byte{0xff, 0xff}
		b, _ := proto.Marshal(env)
		return b
	}()
	for _, tt := range []struct {
		name     string
		leaf     []byte
		want     error  // nil: opens
		wrapped  error  // the layer's own error, still matched
		text     string // in the error
		envelope bool   // the envelope layer opened
		payload  bool   // the payload decoded
	}{
		{"an acknowledgement", leaf(seal(t, ack(), af)), nil, nil, "", true, true},
		{"the genesis", leaf(k.genes), nil, nil, "", true, true},
		{"not a leaf", []byte{0xff, 0xff}, entry.ErrLeaf, nil, "decode leaf", false, false},
		{"a leaf without envelope", func() []byte { b, _ := entry.NewLeaf(5, at, nil, fp); return b }(), entry.ErrLeaf, nil, "no envelope", false, false},
		{"not an envelope", leaf([]byte("garbage")), entry.ErrEnvelope, envelope.ErrMalformed, "malformed", false, false},
		{"an unknown payload type", leaf(seal(t, &mvmv1.Cosignature{Header: ack().Header}, af)), entry.ErrPayload, message.ErrUnknownType, "unknown", true, false},
		{"a payload that does not decode", leaf(undecodable), entry.ErrPayload, message.ErrInvalid, "", true, false},
		{"a payload that breaks a rule", leaf(seal(t, invalid, af)), entry.ErrInvalid, message.ErrInvalid, "package_id", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := entry.Open(tt.leaf)
			openParsedAgrees(t, tt.leaf, o, err)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if !bytes.Equal(o.Leaf, tt.leaf) || o.Type != o.Envelope.PayloadType || message.TypeOf(o.Payload) != o.Type {
					t.Errorf("Open: got %+v", o)
				}
				return
			}
			for _, other := range []error{entry.ErrLeaf, entry.ErrEnvelope, entry.ErrPayload, entry.ErrInvalid} {
				if got := errors.Is(err, other); got != (other == tt.want) {
					t.Errorf("Open: %v; errors.Is(%v) = %v", err, other, got)
				}
			}
			if tt.wrapped != nil && !errors.Is(err, tt.wrapped) {
				t.Errorf("Open: %v does not wrap %v", err, tt.wrapped)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Open: %q does not say %q", err, tt.text)
			}
			if tt.want == entry.ErrLeaf {
				if o != nil {
					t.Errorf("Open returned an entry for a malformed leaf")
				}
				return
			}
			if o == nil || o.Entry == nil || o.Index() != 5 || !o.ReceivedAt().Equal(at) {
				t.Fatalf("Open: the leaf layer is not returned: %+v", o)
			}
			if (o.Envelope != nil) != tt.envelope || (o.Payload != nil) != tt.payload {
				t.Errorf("Open: envelope %v payload %v, want %v %v", o.Envelope != nil, o.Payload != nil, tt.envelope, tt.payload)
			}
		})
	}
}

// openParsedAgrees checks that OpenParsed, given the envelope parsed
// apart, opens leaf to what Open gave (o, err), where the envelope parses.
func openParsedAgrees(t *testing.T, leaf []byte, o *entry.Opened, err error) {
	t.Helper()
	e, lerr := entry.DecodeLeaf(leaf)
	if lerr != nil {
		return
	}
	env, perr := envelope.Parse(e.Envelope)
	if perr != nil {
		return
	}
	p, gerr := entry.OpenParsed(leaf, e, env)
	if (gerr == nil) != (err == nil) || (err != nil && gerr.Error() != err.Error()) {
		t.Fatalf("OpenParsed: %v, Open: %v", gerr, err)
	}
	for _, layer := range []error{entry.ErrLeaf, entry.ErrEnvelope, entry.ErrPayload, entry.ErrInvalid} {
		if errors.Is(gerr, layer) != errors.Is(err, layer) {
			t.Errorf("OpenParsed: %v; errors.Is(%v) differs from Open's", gerr, layer)
		}
	}
	if p.Envelope != env || p.Type != o.Type || p.Entry != e || !bytes.Equal(p.Leaf, leaf) ||
		(p.Payload == nil) != (o.Payload == nil) || (o.Payload != nil && !proto.Equal(p.Payload, o.Payload)) {
		t.Errorf("OpenParsed: %+v, Open: %+v", p, o)
	}
}
