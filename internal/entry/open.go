package entry

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// The layers of a leaf, outermost first. [Open] wraps the error of the
// layer that failed in one of these, keeping its text, so a caller can
// tell which layer failed with errors.Is (a viewer still shows an entry
// whose payload does not decode; an auditor refuses it either way).
var (
	// ErrLeaf: the leaf is not a well-formed serialized Entry.
	ErrLeaf = errors.New("malformed leaf")
	// ErrEnvelope: the entry's envelope does not parse (see envelope.Parse).
	ErrEnvelope = errors.New("malformed envelope")
	// ErrPayload: the payload is of an unknown type or does not decode.
	ErrPayload = errors.New("undecodable payload")
	// ErrInvalid: the payload decodes but breaks a rule of message.Validate.
	ErrInvalid = errors.New("invalid payload")
)

// layerError names the layer that failed and keeps the error's text (the
// messages callers and tests know).
type layerError struct{ layer, err error }

func (e *layerError) Error() string   { return e.err.Error() }
func (e *layerError) Unwrap() []error { return []error{e.layer, e.err} }

// Opened is a leaf opened: every layer parsed, the payload decoded and
// valid. It says nothing yet of who signed it: that takes the agreement in
// force and the signer's certificate ([Prepare], [Admit]), which the
// auditor (package verify) and the writer hold.
type Opened struct {
	Leaf     []byte // exact leaf bytes
	Entry    *mvmv1.Entry
	Envelope *mvmv1.Envelope
	Type     string
	Payload  proto.Message
}

// Index is the index the leaf claims.
func (o *Opened) Index() uint64 { return o.Entry.Index }

// ReceivedAt is the entry's receive time.
func (o *Opened) ReceivedAt() time.Time { return o.Entry.ReceivedAt.AsTime() }

// IsAgreement tells an agreement (the genesis or an amendment).
func (o *Opened) IsAgreement() bool { return o.Type == message.TypeAgreement }

// MessageID is the author's message id.
func (o *Opened) MessageID() string { return message.Header(o.Payload).GetMessageId() }

// Open is the one way from leaf bytes to a decoded entry: the leaf
// ([DecodeLeaf]), its envelope (envelope.Parse), the payload
// (message.Decode) and its rules (message.Validate). The error names the
// layer that failed ([ErrLeaf], [ErrEnvelope], [ErrPayload],
// [ErrInvalid]).
//
// When a layer fails, Open still returns the layers above it (nil if the
// leaf itself is malformed), for viewers that list what they cannot
// trust; anything that acts on the entry must stop at the error.
func Open(leaf []byte) (*Opened, error) {
	e, err := DecodeLeaf(leaf)
	if err != nil {
		return nil, err
	}
	return OpenDecoded(leaf, e)
}

// OpenDecoded is [Open] for a leaf whose first layer the caller already
// decoded with [DecodeLeaf] (e): the auditor reads every leaf's index in
// log order and opens the rest of it on a worker.
func OpenDecoded(leaf []byte, e *mvmv1.Entry) (*Opened, error) {
	o := &Opened{Leaf: leaf, Entry: e}
	var err error
	o.Envelope, o.Payload, err = openEnvelope(e.Envelope)
	if o.Envelope != nil {
		o.Type = o.Envelope.PayloadType
	}
	return o, err
}

// OpenParsed is [OpenDecoded] for a leaf whose envelope the caller parsed
// already: env is what envelope.Parse returned for e.Envelope, without
// error (the auditor peeks at every envelope's type in log order, and
// opens the rest on a worker). env is not parsed again.
func OpenParsed(leaf []byte, e *mvmv1.Entry, env *mvmv1.Envelope) (*Opened, error) {
	o := &Opened{Leaf: leaf, Entry: e, Envelope: env, Type: env.PayloadType}
	var err error
	o.Payload, err = openPayload(env)
	return o, err
}

// openEnvelope parses raw and decodes and validates its payload. It
// returns what it opened before a failure.
func openEnvelope(raw []byte) (*mvmv1.Envelope, proto.Message, error) {
	env, err := envelope.Parse(raw)
	if err != nil {
		return nil, nil, &layerError{ErrEnvelope, err}
	}
	p, err := openPayload(env)
	return env, p, err
}

// openPayload decodes and validates a parsed envelope's payload; it
// returns the payload if it decodes, valid or not.
func openPayload(env *mvmv1.Envelope) (proto.Message, error) {
	p, err := message.Decode(env.PayloadType, env.Payload)
	if err != nil {
		return nil, &layerError{ErrPayload, err}
	}
	if err := message.Validate(p); err != nil {
		return p, &layerError{ErrInvalid, err}
	}
	return p, nil
}

// DecodeLeaf parses a leaf and checks its shape: the first layer of
// [Open], for callers that need only the index, the receive time or the
// envelope bytes. Its errors wrap [ErrLeaf].
func DecodeLeaf(leaf []byte) (*mvmv1.Entry, error) {
	e := &mvmv1.Entry{}
	if err := proto.Unmarshal(leaf, e); err != nil {
		return nil, leafError(fmt.Errorf("decode leaf: %w", err))
	}
	if len(e.ProtoReflect().GetUnknown()) > 0 {
		return nil, leafError(errors.New("decode leaf: unknown fields"))
	}
	if err := checkLeaf(e); err != nil {
		return nil, leafError(err)
	}
	return e, nil
}

// checkLeaf checks a decoded leaf's shape.
func checkLeaf(e *mvmv1.Entry) error {
	if err := e.ReceivedAt.CheckValid(); err != nil {
		return fmt.Errorf("decode leaf: received_at: %w", err)
	}
	if len(e.Envelope) == 0 {
		return errors.New("decode leaf: no envelope")
	}
	if e.Index != 0 && len(e.PeerCertificateSha256) != sha256.Size {
		return errors.New("decode leaf: peer certificate fingerprint missing")
	}
	return nil
}

func leafError(err error) error { return &layerError{ErrLeaf, err} }
