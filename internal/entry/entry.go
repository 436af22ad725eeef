// Package entry admits signed envelopes into the log and encodes log leaves.
//
// [Admit] is every check that does not depend on workflow state: the
// envelope parses, its payload is a known, valid message, it is signed by
// the key of the certificate that authenticated the connection, and that
// certificate chains to the CA of the party it names. [Prepare] is the
// same checks with the signatures left to the caller, for batch
// verification: the server prepares each append on its caller's goroutine
// and verifies the signatures in batches before the writer; the auditor
// runs the same checks again on every stored leaf, with the leaf's receive
// time, so both apply the same rules.
//
// A leaf is a serialized [mvmv1.Entry]: index, receive time, the exact
// envelope bytes received, and the fingerprint of the peer certificate.
//
// # Receive times
//
// Deadlines run on receive times, so one rule governs them, here, for the
// server and the auditor alike:
//
//   - The receive time of an entry is [ReceiveTime]: the server's clock, or
//     the previous entry's receive time if the clock reads earlier (after
//     the clock was stepped back). Receive times never go backwards.
//   - The server refuses an envelope whose author's timestamp is further
//     than the agreement's clock skew from its clock ([CheckClock]), not
//     from the held receive time: a clock that ran ahead and was corrected
//     must not refuse every honest append until real time catches up.
//     Certificates are judged at the receive time, by both: the server
//     authenticates again an append held later than its clock.
//   - The auditor, who never saw the server's clock, checks what follows
//     from that ([CheckReceived]): receive times never go backwards; no
//     author signed more than the skew after its entry's receive time; and
//     an entry received more than the skew after its author signed it has
//     a held receive time, equal to the previous entry's.
//
// A receive time is thus never earlier than its author's time minus the
// skew (no backdating beyond it). The residual: an entry logged while the
// clock is held may be received later than its author signed by as much as
// the clock was stepped back, and a hold may start at an agreement entry,
// whose receive time no author's time bounds.
package entry

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// ErrNotPeer means the envelope was not signed by the key of the
// certificate that authenticated the connection.
var ErrNotPeer = errors.New("signer is not the authenticated peer")

// Admitted is an envelope that passed every state-independent check.
type Admitted struct {
	Raw      []byte // exact envelope bytes
	Envelope *mvmv1.Envelope
	Type     string
	Payload  proto.Message
	Author   identity.Identity
	// PeerSHA256 is the fingerprint of the authenticating certificate
	// (shared with the Peer it came from: read only).
	PeerSHA256 []byte
}

// MessageID is the author's message id.
func (a *Admitted) MessageID() string { return message.Header(a.Payload).GetMessageId() }

// Admit checks raw, received from the client authenticated by peer at time
// at, under the agreement in force ag.
func Admit(ag *agreement.Agreement, raw []byte, peer *x509.Certificate, at time.Time) (*Admitted, error) {
	adm, checks, err := Prepare(ag, raw, peer, at)
	if err != nil {
		return nil, err
	}
	for _, c := range checks {
		if err := c.Verify(); err != nil {
			return nil, err
		}
	}
	return adm, nil
}

// Prepare runs every check of [Admit] but the signature verification,
// which it returns instead: the peer's signatures (at least one), for the
// caller to verify, alone or in a batch with [envelope.VerifyBatch]. The
// envelope is admitted only if every one verifies.
func Prepare(ag *agreement.Agreement, raw []byte, peer *x509.Certificate, at time.Time) (*Admitted, []envelope.Check, error) {
	author, _, err := ag.Authenticate(peer, nil, at)
	if err != nil {
		return nil, nil, err
	}
	env, payload, err := openEnvelope(raw)
	if err != nil {
		return nil, nil, err
	}
	return prepare(raw, env, payload, author, NewPeer(peer))
}

// Peer is a signer's certificate with its digests, computed once for all
// the entries it signed (an auditor checks millions of entries signed by
// a few dozen certificates).
type Peer struct {
	Cert   *x509.Certificate
	SHA256 [sha256.Size]byte // of Cert.Raw
	KeyID  string            // envelope.Fingerprint(Cert.Raw)
}

// NewPeer returns c with its digests.
func NewPeer(c *x509.Certificate) *Peer {
	return &Peer{Cert: c, SHA256: sha256.Sum256(c.Raw), KeyID: envelope.Fingerprint(c.Raw)}
}

// PrepareOpened is [Prepare] for an entry already opened by [Open], signed
// by peer's certificate: the auditor's path, which opens every leaf once.
func PrepareOpened(ag *agreement.Agreement, o *Opened, peer *Peer, at time.Time) (*Admitted, []envelope.Check, error) {
	author, _, err := ag.Authenticate(peer.Cert, nil, at)
	if err != nil {
		return nil, nil, err
	}
	return prepare(o.Entry.Envelope, o.Envelope, o.Payload, author, peer)
}

func prepare(raw []byte, env *mvmv1.Envelope, payload proto.Message, author identity.Identity, p *Peer) (*Admitted, []envelope.Check, error) {
	peer, keyid := p.Cert, p.KeyID
	if env.PayloadType != message.TypeAgreement && len(env.Signatures) != 1 {
		return nil, nil, fmt.Errorf("%w: %d signatures, a %s carries exactly one", envelope.ErrMalformed,
			len(env.Signatures), env.PayloadType)
	}
	// The peer's own signature must be present and valid; for multi-party
	// agreements the other signatures are checked by the workflow.
	var checks []envelope.Check
	for _, s := range env.Signatures {
		if s.Keyid != keyid {
			continue
		}
		if len(s.Certificate) > 0 && !bytes.Equal(s.Certificate, peer.Raw) {
			return nil, nil, fmt.Errorf("%w: embedded certificate differs from the connection's", ErrNotPeer)
		}
		checks = append(checks, envelope.Check{PayloadType: env.PayloadType, Payload: env.Payload, Sig: s.Sig, Key: peer.PublicKey})
	}
	if len(checks) == 0 {
		return nil, nil, fmt.Errorf("%w: no signature by the key of %s's certificate", ErrNotPeer, author)
	}
	return &Admitted{Raw: raw, Envelope: env, Type: env.PayloadType, Payload: payload, Author: author, PeerSHA256: p.SHA256[:]}, checks, nil
}

// NewLeaf builds and serializes the leaf for an admitted envelope.
func NewLeaf(index uint64, receivedAt time.Time, raw []byte, peerSHA256 []byte) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(&mvmv1.Entry{
		Index:                 index,
		ReceivedAt:            timestamppb.New(receivedAt),
		Envelope:              raw,
		PeerCertificateSha256: peerSHA256,
	})
}

// ReceiveTime is the receive time of an entry logged when the server's
// clock reads clock, after an entry received at prev.
func ReceiveTime(clock, prev time.Time) time.Time {
	if clock.Before(prev) {
		return prev
	}
	return clock
}

// CheckClock refuses an entry whose author's timestamp is further than the
// agreement's clock skew from clock, the server's clock when it logs the
// entry (not the receive time, which [ReceiveTime] may hold at a later
// time). Agreements are exempt (their parties sign them over days).
func CheckClock(ag *agreement.Agreement, adm *Admitted, clock time.Time) error {
	if adm.Type == message.TypeAgreement {
		return nil
	}
	authored := message.Header(adm.Payload).GetAuthoredAt().AsTime()
	skew := authored.Sub(clock)
	if skew <= ag.ClockSkew && -skew <= ag.ClockSkew {
		return nil
	}
	return skewError(ag, authored, skew, clock, "")
}

// CheckReceived is the auditor's check of a logged entry's receive time
// received, after an entry received at prev (see the package doc).
// adm is nil for agreements, whose authors' times are not checked.
// A receive time moved back past both its author's time and the previous
// entry's is named as the author's (the checks before this rule did).
func CheckReceived(ag *agreement.Agreement, adm *Admitted, received, prev time.Time) error {
	var authored time.Time
	var skew time.Duration
	clocked := adm != nil && adm.Type != message.TypeAgreement
	if clocked {
		authored = message.Header(adm.Payload).GetAuthoredAt().AsTime()
		skew = authored.Sub(received)
	}
	switch {
	case clocked && skew > ag.ClockSkew:
		return skewError(ag, authored, skew, received, "")
	case received.Before(prev):
		return fmt.Errorf("receive time %s is before the previous entry's %s",
			received.UTC().Format(time.RFC3339Nano), prev.UTC().Format(time.RFC3339Nano))
	case clocked && -skew > ag.ClockSkew && !received.Equal(prev):
		return skewError(ag, authored, skew, received, ", and it is not held at the previous entry's receive time")
	}
	return nil
}

func skewError(ag *agreement.Agreement, authored time.Time, skew time.Duration, at time.Time, more string) error {
	dir := "ahead of"
	if skew < 0 {
		dir, skew = "behind", -skew
	}
	return &message.FieldError{Field: "header.authored_at", Reason: fmt.Sprintf(
		"%s is %s %s the receive time %s; the agreement allows at most %s of skew%s",
		authored.Format(time.RFC3339), skew.Round(time.Second), dir, at.UTC().Format(time.RFC3339), ag.ClockSkew, more)}
}
