package entry_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

var (
	genTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at      = genTime.Add(24 * time.Hour)
)

type pki struct {
	dir   string
	ag    *agreement.Agreement
	genes []byte // agreement.envelope
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	if err := devpki.Generate(devpki.Options{Dir: dir, Now: genTime}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.Decode(env.PayloadType, env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	ag, err := agreement.Parse(m.(*mvmv1.Agreement), 0)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{dir: dir, ag: ag, genes: raw}
}

func (k *pki) signer(t *testing.T, name string, embed bool) envelope.Signer {
	t.Helper()
	tc, err := devpki.LoadKeyPair(k.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return envelope.Signer{Key: tc.PrivateKey.(crypto.Signer), Certificate: tc.Leaf, EmbedCertificate: embed}
}

func ack() *mvmv1.Acknowledgement {
	return &mvmv1.Acknowledgement{Header: &mvmv1.Header{MessageId: "ack-1", AuthoredAt: timestamppb.New(at)}, PackageId: "pkg-1"}
}

func seal(t *testing.T, m proto.Message, signers ...envelope.Signer) []byte {
	t.Helper()
	raw, err := envelope.Seal(m, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestAdmit(t *testing.T) {
	k := newPKI(t)
	if err := devpki.Issue(k.dir, "evil", "af", devpki.IssueOptions{CAParty: "pk", NotBefore: genTime}); err != nil {
		t.Fatal(err)
	}
	af := k.signer(t, "af-interior", false)
	pk := k.signer(t, "pk-liaison", false)
	evil := k.signer(t, "evil", false)

	// af's key id on a signature made by pk's key.
	forged := func() []byte {
		raw := seal(t, ack(), pk)
		env, _ := envelope.Parse(raw)
		env.Signatures[0].Keyid = envelope.Fingerprint(af.Certificate.Raw)
		b, _ := proto.Marshal(env)
		return b
	}
	// af's signature with pk's certificate embedded (and pk's key id).
	embeddedOther := func() []byte {
		raw := seal(t, ack(), af)
		env, _ := envelope.Parse(raw)
		env.Signatures[0].Certificate = pk.Certificate.Raw
		env.Signatures[0].Keyid = envelope.Fingerprint(pk.Certificate.Raw)
		b, _ := proto.Marshal(env)
		return b
	}
	invalid := ack()
	invalid.PackageId = ""
	tests := []struct {
		name string
		raw  []byte
		peer *x509.Certificate
		at   time.Time
		want error // nil = admitted
	}{
		{"signed by the peer", seal(t, ack(), af), af.Certificate, at, nil},
		{"signed by the peer, certificate embedded", seal(t, ack(), k.signer(t, "af-interior", true)), af.Certificate, at, nil},
		{"genesis agreement from one of its signers", k.genes, pk.Certificate, at, nil},
		{"signed by another identity", seal(t, ack(), pk), af.Certificate, at, entry.ErrNotPeer},
		{"peer's key id, another key's signature", forged(), af.Certificate, at, envelope.ErrBadSignature},
		{"embedded certificate of another identity", embeddedOther(), af.Certificate, at, entry.ErrNotPeer},
		{"two signatures on a package message", seal(t, ack(), af, pk), af.Certificate, at, envelope.ErrMalformed},
		{"peer from a cross-party CA", seal(t, ack(), evil), evil.Certificate, at, agreement.ErrUntrusted},
		{"peer certificate expired", seal(t, ack(), af), af.Certificate, genTime.AddDate(3, 0, 0), agreement.ErrUntrusted},
		{"garbage", []byte("garbage"), af.Certificate, at, envelope.ErrMalformed},
		{"invalid payload", seal(t, invalid, af), af.Certificate, at, message.ErrInvalid},
		{"not a payload type", seal(t, &mvmv1.Cosignature{Header: ack().Header}, af), af.Certificate, at, message.ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adm, err := entry.Admit(k.ag, tt.raw, tt.peer, tt.at)
			// Prepare plus a batch verification of its checks is Admit.
			padm, checks, perr := entry.Prepare(k.ag, tt.raw, tt.peer, tt.at)
			if perr == nil {
				if len(checks) == 0 {
					t.Fatal("Prepare admitted an envelope without a signature to verify")
				}
				perr = errors.Join(envelope.VerifyBatch(checks)...)
			}
			if (perr == nil) != (err == nil) || (tt.want != nil && !errors.Is(perr, tt.want)) {
				t.Errorf("Prepare + VerifyBatch: %v; Admit: %v", perr, err)
			}
			if err == nil && (padm == nil || !bytes.Equal(padm.Raw, adm.Raw)) {
				t.Errorf("Prepare: admission differs from Admit's")
			}
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Errorf("Admit: got %v, want %v", err, tt.want)
				}
				if adm != nil {
					t.Errorf("Admit returned an admission with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Admit: got %v, want nil", err)
			}
			if !bytes.Equal(adm.Raw, tt.raw) {
				t.Errorf("Raw: not the exact bytes received")
			}
			fp := sha256.Sum256(tt.peer.Raw)
			if !bytes.Equal(adm.PeerSHA256, fp[:]) {
				t.Errorf("PeerSHA256: got %x, want %x", adm.PeerSHA256, fp)
			}
			if adm.Author.Name != tt.peer.Subject.CommonName {
				t.Errorf("Author: got %v, want %v", adm.Author, tt.peer.Subject.CommonName)
			}
			if adm.Type != adm.Envelope.PayloadType || message.TypeOf(adm.Payload) != adm.Type {
				t.Errorf("Type: got %v, payload %v", adm.Type, message.TypeOf(adm.Payload))
			}
		})
	}
}

func TestLeafRoundTrip(t *testing.T) {
	received := time.Date(2026, 3, 2, 1, 2, 3, 456, time.UTC)
	fp := bytes.Repeat([]byte{0xab}, 32)
	leaf, err := entry.NewLeaf(7, received, []byte("envelope bytes"), fp)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := entry.NewLeaf(7, received, []byte("envelope bytes"), fp)
	if !bytes.Equal(leaf, again) {
		t.Errorf("NewLeaf is not deterministic")
	}
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		t.Fatalf("DecodeLeaf: %v", err)
	}
	if e.Index != 7 || !e.ReceivedAt.AsTime().Equal(received) || string(e.Envelope) != "envelope bytes" || !bytes.Equal(e.PeerCertificateSha256, fp) {
		t.Errorf("DecodeLeaf: got %v", e)
	}

	enc := func(e *mvmv1.Entry) []byte { b, _ := proto.Marshal(e); return b }
	ts := timestamppb.New(received)
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1)
	for _, tt := range []struct {
		name string
		leaf []byte
		ok   bool
	}{
		{"genesis without peer fingerprint", enc(&mvmv1.Entry{Index: 0, ReceivedAt: ts, Envelope: []byte("e")}), true},
		{"garbage", []byte{0xff, 0xff}, false},
		{"unknown field", append(enc(&mvmv1.Entry{Index: 1, ReceivedAt: ts, Envelope: []byte("e"), PeerCertificateSha256: fp}), unknown...), false},
		{"no received_at", enc(&mvmv1.Entry{Index: 1, Envelope: []byte("e"), PeerCertificateSha256: fp}), false},
		{"received_at out of range", enc(&mvmv1.Entry{Index: 1, ReceivedAt: &timestamppb.Timestamp{Nanos: -1}, Envelope: []byte("e"), PeerCertificateSha256: fp}), false},
		{"no envelope", enc(&mvmv1.Entry{Index: 1, ReceivedAt: ts, PeerCertificateSha256: fp}), false},
		{"no peer fingerprint after genesis", enc(&mvmv1.Entry{Index: 1, ReceivedAt: ts, Envelope: []byte("e")}), false},
		{"short peer fingerprint", enc(&mvmv1.Entry{Index: 1, ReceivedAt: ts, Envelope: []byte("e"), PeerCertificateSha256: fp[:31]}), false},
	} {
		_, err := entry.DecodeLeaf(tt.leaf)
		if (err == nil) != tt.ok {
			t.Errorf("DecodeLeaf(%s): got %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
