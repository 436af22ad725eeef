package envelope_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/envelope"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// newSigner makes a real self-signed certificate for key.
func newSigner(t testing.TB, key crypto.Signer, embed bool) envelope.Signer {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "envelope test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return envelope.Signer{Key: key, Certificate: cert, EmbedCertificate: embed}
}

func ed25519Signer(t testing.TB, embed bool) envelope.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newSigner(t, k, embed)
}

func ecdsaSigner(t testing.TB, curve elliptic.Curve, embed bool) envelope.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newSigner(t, k, embed)
}

func samplePayload() *mvmv1.Acknowledgement {
	return &mvmv1.Acknowledgement{
		Header:    &mvmv1.Header{MessageId: "ack-1", AuthoredAt: timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))},
		PackageId: "pkg-1",
		Note:      "received",
	}
}

func TestPAE(t *testing.T) {
	tests := []struct {
		typ     string
		payload string
		want    string
	}{
		// The test vector of the DSSE specification (protocol.md).
		{"http://example.com/HelloWorld", "hello world", "DSSEv1 29 http://example.com/HelloWorld 11 hello world"},
		{"", "", "DSSEv1 0  0 "},
		{"t", "a b", "DSSEv1 1 t 3 a b"},
		{"mvm.v1.Acknowledgement", strings.Repeat("x", 1234), "DSSEv1 22 mvm.v1.Acknowledgement 1234 " + strings.Repeat("x", 1234)},
	}
	for _, tt := range tests {
		if got := string(envelope.PAE(tt.typ, []byte(tt.payload))); got != tt.want {
			t.Errorf("PAE(%q, %.20q) = %.80q, want %.80q", tt.typ, tt.payload, got, tt.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 test vector.
	got := envelope.Fingerprint([]byte("abc"))
	want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got != want {
		t.Errorf("Fingerprint(abc) = %v, want %v", got, want)
	}
}

func TestTypeOf(t *testing.T) {
	if got, want := envelope.TypeOf(&mvmv1.TargetPackage{}), "mvm.v1.TargetPackage"; got != want {
		t.Errorf("TypeOf = %v, want %v", got, want)
	}
}

func TestSealVerifyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signer envelope.Signer
	}{
		{"ed25519", ed25519Signer(t, false)},
		{"ed25519-embedded", ed25519Signer(t, true)},
		{"ecdsa-p256", ecdsaSigner(t, elliptic.P256(), false)},
		{"ecdsa-p256-embedded", ecdsaSigner(t, elliptic.P256(), true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := samplePayload()
			raw, err := envelope.Seal(m, tc.signer)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			env, err := envelope.Parse(raw)
			if err != nil {
				t.Fatalf("Parse(Seal(...)): %v", err)
			}
			if got, want := env.PayloadType, "mvm.v1.Acknowledgement"; got != want {
				t.Errorf("payload type: got %v, want %v", got, want)
			}
			back := &mvmv1.Acknowledgement{}
			if err := proto.Unmarshal(env.Payload, back); err != nil {
				t.Fatalf("payload: %v", err)
			}
			if !proto.Equal(back, m) {
				t.Errorf("payload: got %v, want %v", back, m)
			}
			if got, want := len(env.Signatures), 1; got != want {
				t.Fatalf("signatures: got %v, want %v", got, want)
			}
			s := env.Signatures[0]
			if got, want := s.Keyid, envelope.Fingerprint(tc.signer.Certificate.Raw); got != want {
				t.Errorf("keyid: got %v, want %v", got, want)
			}
			if got, want := len(s.Certificate) > 0, tc.signer.EmbedCertificate; got != want {
				t.Errorf("certificate embedded: got %v, want %v", got, want)
			}
			if tc.signer.EmbedCertificate && !bytes.Equal(s.Certificate, tc.signer.Certificate.Raw) {
				t.Errorf("embedded certificate differs from the signer's")
			}
			if err := envelope.Verify(env.PayloadType, env.Payload, s.Sig, tc.signer.Certificate.PublicKey); err != nil {
				t.Errorf("Verify: got %v, want nil", err)
			}
		})
	}
}

func TestSealMultipleSigners(t *testing.T) {
	signers := []envelope.Signer{ed25519Signer(t, true), ecdsaSigner(t, elliptic.P256(), true), ed25519Signer(t, true)}
	raw, err := envelope.Seal(samplePayload(), signers...)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	env, err := envelope.Parse(raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := len(env.Signatures), len(signers); got != want {
		t.Fatalf("signatures: got %v, want %v", got, want)
	}
	for i, s := range env.Signatures {
		if err := envelope.Verify(env.PayloadType, env.Payload, s.Sig, signers[i].Certificate.PublicKey); err != nil {
			t.Errorf("signature %d: got %v, want nil", i, err)
		}
		// Each signature is bound to its own key only.
		other := signers[(i+1)%len(signers)].Certificate.PublicKey
		if err := envelope.Verify(env.PayloadType, env.Payload, s.Sig, other); err == nil {
			t.Errorf("signature %d verifies under signer %d's key", i, (i+1)%len(signers))
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestVerifyRejectsAnyFlippedByte(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signer envelope.Signer
	}{
		{"ed25519", ed25519Signer(t, false)},
		{"ecdsa-p256", ecdsaSigner(t, elliptic.P256(), false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := envelope.Seal(samplePayload(), tc.signer)
			if err != nil {
				t.Fatal(err)
			}
			env, err := envelope.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			typ, payload, sig := env.PayloadType, env.Payload, env.Signatures[0].Sig
			pub := tc.signer.Certificate.PublicKey
			if err := envelope.Verify(typ, payload, sig, pub); err != nil {
				t.Fatalf("unmodified: got %v, want nil", err)
			}
			for i := range payload {
				if err := envelope.Verify(typ, flip(payload, i), sig, pub); !errors.Is(err, envelope.ErrBadSignature) {
					t.Errorf("payload byte %d flipped: got %v, want %v", i, err, envelope.ErrBadSignature)
				}
			}
			for i := range len(typ) {
				if err := envelope.Verify(string(flip([]byte(typ), i)), payload, sig, pub); !errors.Is(err, envelope.ErrBadSignature) {
					t.Errorf("payload type byte %d flipped: got %v, want %v", i, err, envelope.ErrBadSignature)
				}
			}
			for i := range sig {
				if err := envelope.Verify(typ, payload, flip(sig, i), pub); !errors.Is(err, envelope.ErrBadSignature) {
					t.Errorf("signature byte %d flipped: got %v, want %v", i, err, envelope.ErrBadSignature)
				}
			}
			// Truncation and extension are not tolerated either.
			if err := envelope.Verify(typ, payload[:len(payload)-1], sig, pub); !errors.Is(err, envelope.ErrBadSignature) {
				t.Errorf("truncated payload: got %v, want %v", err, envelope.ErrBadSignature)
			}
			if err := envelope.Verify(typ, append(bytes.Clone(payload), 0), sig, pub); !errors.Is(err, envelope.ErrBadSignature) {
				t.Errorf("extended payload: got %v, want %v", err, envelope.ErrBadSignature)
			}
			if err := envelope.Verify(typ, payload, sig[:len(sig)-1], pub); !errors.Is(err, envelope.ErrBadSignature) {
				t.Errorf("truncated signature: got %v, want %v", err, envelope.ErrBadSignature)
			}
			if err := envelope.Verify(typ, payload, nil, pub); !errors.Is(err, envelope.ErrBadSignature) {
				t.Errorf("empty signature: got %v, want %v", err, envelope.ErrBadSignature)
			}
		})
	}
}

func TestVerifyWrongKey(t *testing.T) {
	ed1, ed2 := ed25519Signer(t, false), ed25519Signer(t, false)
	ec1, ec2 := ecdsaSigner(t, elliptic.P256(), false), ecdsaSigner(t, elliptic.P256(), false)
	for _, tc := range []struct {
		name         string
		signer       envelope.Signer
		verifyWith   crypto.PublicKey
		wantSentinel error
	}{
		{"ed25519 under another ed25519 key", ed1, ed2.Certificate.PublicKey, envelope.ErrBadSignature},
		{"ecdsa under another ecdsa key", ec1, ec2.Certificate.PublicKey, envelope.ErrBadSignature},
		{"ed25519 under an ecdsa key", ed1, ec1.Certificate.PublicKey, envelope.ErrBadSignature},
		{"ecdsa under an ed25519 key", ec1, ed1.Certificate.PublicKey, envelope.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := envelope.Sign("mvm.v1.Acknowledgement", []byte("payload"), tc.signer)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			err = envelope.Verify("mvm.v1.Acknowledgement", []byte("payload"), sig.Sig, tc.verifyWith)
			if !errors.Is(err, tc.wantSentinel) {
				t.Errorf("Verify: got %v, want %v", err, tc.wantSentinel)
			}
		})
	}
}

func TestUnsupportedKeys(t *testing.T) {
	p384 := ecdsaSigner(t, elliptic.P384(), false)
	if _, err := envelope.Sign("t", []byte("p"), p384); !errors.Is(err, envelope.ErrUnsupportedKey) {
		t.Errorf("Sign with P-384: got %v, want %v", err, envelope.ErrUnsupportedKey)
	}
	if err := envelope.Verify("t", []byte("p"), []byte("sig"), p384.Certificate.PublicKey); !errors.Is(err, envelope.ErrUnsupportedKey) {
		t.Errorf("Verify with P-384: got %v, want %v", err, envelope.ErrUnsupportedKey)
	}
	if err := envelope.Verify("t", []byte("p"), []byte("sig"), "not a key"); !errors.Is(err, envelope.ErrUnsupportedKey) {
		t.Errorf("Verify with a string key: got %v, want %v", err, envelope.ErrUnsupportedKey)
	}
	ok := ed25519Signer(t, false)
	if _, err := envelope.Sign("t", []byte("p"), envelope.Signer{Key: ok.Key}); err == nil {
		t.Errorf("Sign without certificate: got nil error, want an error")
	}
	if _, err := envelope.Sign("t", []byte("p"), envelope.Signer{Certificate: ok.Certificate}); err == nil {
		t.Errorf("Sign without key: got nil error, want an error")
	}
}

// validEnvelope returns a parsed, valid envelope with one embedded-cert
// signature, and the signer.
func validEnvelope(t testing.TB) (*mvmv1.Envelope, envelope.Signer) {
	t.Helper()
	s := ed25519Signer(t, true)
	raw, err := envelope.Seal(samplePayload(), s)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return env, s
}

func marshal(t testing.TB, env *mvmv1.Envelope) []byte {
	t.Helper()
	b, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse(t *testing.T) {
	base, _ := validEnvelope(t)
	other := ed25519Signer(t, true)
	unknownTop := protowire.AppendTag(nil, 99, protowire.VarintType)
	unknownTop = protowire.AppendVarint(unknownTop, 1)

	mod := func(f func(e *mvmv1.Envelope)) []byte {
		e := proto.Clone(base).(*mvmv1.Envelope)
		f(e)
		return marshal(t, e)
	}
	sigs := func(n int) []*mvmv1.Signature {
		out := make([]*mvmv1.Signature, n)
		for i := range out {
			out[i] = proto.Clone(base.Signatures[0]).(*mvmv1.Signature)
		}
		return out
	}
	tests := []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"valid", marshal(t, base), true},
		{"valid without certificate", mod(func(e *mvmv1.Envelope) { e.Signatures[0].Certificate = nil }), true},
		{"16 signatures", mod(func(e *mvmv1.Envelope) { e.Signatures = sigs(16) }), true},
		{"payload type of 128 bytes", mod(func(e *mvmv1.Envelope) { e.PayloadType = strings.Repeat("a", 128) }), true},

		{"garbage", []byte("\xff\xff\xff\xff not a protobuf"), false},
		{"empty input", nil, false},
		{"truncated", marshal(t, base)[:10], false},
		{"unknown top-level field", append(marshal(t, base), unknownTop...), false},
		{"unknown field in a signature", mod(func(e *mvmv1.Envelope) {
			e.Signatures[0].ProtoReflect().SetUnknown(unknownTop)
		}), false},
		{"empty payload", mod(func(e *mvmv1.Envelope) { e.Payload = nil }), false},
		{"empty payload type", mod(func(e *mvmv1.Envelope) { e.PayloadType = "" }), false},
		{"payload type of 129 bytes", mod(func(e *mvmv1.Envelope) { e.PayloadType = strings.Repeat("a", 129) }), false},
		{"no signatures", mod(func(e *mvmv1.Envelope) { e.Signatures = nil }), false},
		{"17 signatures", mod(func(e *mvmv1.Envelope) { e.Signatures = sigs(17) }), false},
		{"empty signature bytes", mod(func(e *mvmv1.Envelope) { e.Signatures[0].Sig = nil }), false},
		{"empty keyid", mod(func(e *mvmv1.Envelope) { e.Signatures[0].Keyid = "" }), false},
		{"keyid of 63 hex digits", mod(func(e *mvmv1.Envelope) {
			e.Signatures[0].Keyid = e.Signatures[0].Keyid[:63]
			e.Signatures[0].Certificate = nil
		}), false},
		{"keyid of 65 hex digits", mod(func(e *mvmv1.Envelope) {
			e.Signatures[0].Keyid += "0"
			e.Signatures[0].Certificate = nil
		}), false},
		{"keyid not hex", mod(func(e *mvmv1.Envelope) {
			e.Signatures[0].Keyid = strings.Repeat("zz", 32)
			e.Signatures[0].Certificate = nil
		}), false},
		// The keyid is defined as lower-case hex; an upper-case spelling is
		// a second encoding of the same key id.
		{"keyid in upper case", mod(func(e *mvmv1.Envelope) {
			e.Signatures[0].Keyid = strings.ToUpper(e.Signatures[0].Keyid)
			e.Signatures[0].Certificate = nil
		}), false},
		{"keyid not matching the embedded certificate", mod(func(e *mvmv1.Envelope) {
			e.Signatures[0].Certificate = other.Certificate.Raw
		}), false},
		{"second signature bad, first good", mod(func(e *mvmv1.Envelope) {
			e.Signatures = sigs(2)
			e.Signatures[1].Keyid = "nothex"
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := envelope.Parse(tt.raw)
			if tt.ok {
				if err != nil {
					t.Fatalf("Parse: got %v, want nil", err)
				}
				if env == nil {
					t.Fatalf("Parse: got nil envelope with nil error")
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse: got nil error, want %v", envelope.ErrMalformed)
			}
			if !errors.Is(err, envelope.ErrMalformed) {
				t.Errorf("Parse: got %v, want errors.Is(err, %v)", err, envelope.ErrMalformed)
			}
			if env != nil {
				t.Errorf("Parse: got an envelope with an error")
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	ed := ed25519Signer(f, true)
	ec := ecdsaSigner(f, elliptic.P256(), false)
	for _, s := range []envelope.Signer{ed, ec} {
		raw, err := envelope.Seal(samplePayload(), s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
	}
	multi, err := envelope.Seal(samplePayload(), ed, ec)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(multi)
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Add([]byte{0x0a, 0x01, 'x', 0x12, 0x01, 'y', 0x1a, 0x00})

	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := envelope.Parse(b)
		if err != nil {
			if env != nil {
				t.Fatalf("Parse returned an envelope with error %v", err)
			}
			if !errors.Is(err, envelope.ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Whatever Parse accepts satisfies its documented shape.
		if env.PayloadType == "" || len(env.PayloadType) > envelope.MaxPayloadTypeLen {
			t.Fatalf("accepted payload type of %d bytes", len(env.PayloadType))
		}
		if len(env.Payload) == 0 {
			t.Fatalf("accepted an empty payload")
		}
		if n := len(env.Signatures); n < 1 || n > envelope.MaxSignatures {
			t.Fatalf("accepted %d signatures", n)
		}
		for i, s := range env.Signatures {
			if len(s.Keyid) != 64 || len(s.Sig) == 0 {
				t.Fatalf("signature %d: accepted keyid %q with %d signature bytes", i, s.Keyid, len(s.Sig))
			}
			if len(s.Certificate) > 0 && envelope.Fingerprint(s.Certificate) != s.Keyid {
				t.Fatalf("signature %d: keyid does not match the certificate", i)
			}
		}
		// Verify must not panic on arbitrary input either.
		_ = envelope.Verify(env.PayloadType, env.Payload, env.Signatures[0].Sig, ed.Certificate.PublicKey)
		_ = envelope.Verify(env.PayloadType, env.Payload, env.Signatures[0].Sig, ec.Certificate.PublicKey)
		// Re-serializing what was accepted is accepted again.
		again, err := proto.Marshal(env)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		if _, err := envelope.Parse(again); err != nil {
			t.Fatalf("re-parse of an accepted envelope: %v", err)
		}
	})
}
