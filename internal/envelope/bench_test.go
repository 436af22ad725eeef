package envelope_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/mvm-exchange/mvm/internal/envelope"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func benchSigner(b *testing.B) (envelope.Signer, ed25519.PublicKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return envelope.Signer{Key: priv, Certificate: &x509.Certificate{Raw: []byte("benchmark certificate")}}, pub
}

func benchPayload() *mvmv1.TargetPackage {
	summary := make([]byte, 430)
	for i := range summary {
		summary[i] = 'x'
	}
	return &mvmv1.TargetPackage{Header: &mvmv1.Header{MessageId: "bench"}, Summary: string(summary),
		Locations: []*mvmv1.Location{{Lat: 34, Lon: 71}}}
}

// BenchmarkSeal: serialize a ~512-byte payload and sign it (Ed25519).
func BenchmarkSeal(b *testing.B) {
	s, _ := benchSigner(b)
	m := benchPayload()
	for b.Loop() {
		if _, err := envelope.Seal(m, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseVerify: parse a sealed envelope and verify its signature.
func BenchmarkParseVerify(b *testing.B) {
	s, pub := benchSigner(b)
	raw, err := envelope.Seal(benchPayload(), s)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		env, err := envelope.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := envelope.Verify(env.PayloadType, env.Payload, env.Signatures[0].Sig, pub); err != nil {
			b.Fatal(err)
		}
	}
}
