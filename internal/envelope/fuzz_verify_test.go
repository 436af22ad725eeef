package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"testing"

	"github.com/mvm-exchange/mvm/internal/envelope"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// FuzzVerify mutates a sealed envelope: Parse and Verify must never panic,
// and a signature may verify only over the exact payload type and bytes
// that were signed.
func FuzzVerify(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	pub := seed.Public().(ed25519.PublicKey)
	s := envelope.Signer{Key: seed, Certificate: &x509.Certificate{Raw: []byte("fuzz certificate")}}
	m := &mvmv1.Acknowledgement{Header: &mvmv1.Header{MessageId: "fuzz"}, PackageId: "p"}
	sealed, err := envelope.Seal(m, s)
	if err != nil {
		f.Fatal(err)
	}
	orig, err := envelope.Parse(sealed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add(append(append([]byte(nil), sealed...), 0))
	f.Add(sealed[:len(sealed)/2])
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := envelope.Parse(raw)
		if err != nil {
			return
		}
		for _, sig := range env.Signatures {
			if envelope.Verify(env.PayloadType, env.Payload, sig.Sig, pub) != nil {
				continue
			}
			if env.PayloadType != orig.PayloadType || !bytes.Equal(env.Payload, orig.Payload) {
				t.Fatalf("a signature verified over other bytes: type %q payload %x", env.PayloadType, env.Payload)
			}
		}
	})
}
