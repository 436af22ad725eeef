package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"testing"

	"filippo.io/edwards25519"

	"github.com/mvm-exchange/mvm/internal/envelope"
)

// rawSign signs msg under the secret scalar a with public key encoding
// pub and nonce point encoding rEnc (r its scalar): S = r + k·a, k =
// SHA-512(rEnc ‖ pub ‖ msg). It makes signatures that satisfy the
// equation with encodings crypto/ed25519 never produces.
func rawSign(t *testing.T, a, r *edwards25519.Scalar, rEnc, pub, msg []byte) []byte {
	t.Helper()
	h := sha512.New()
	h.Write(rEnc)
	h.Write(pub)
	h.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	S := edwards25519.NewScalar().MultiplyAdd(k, a, r)
	return append(bytes.Clone(rEnc), S.Bytes()...)
}

func secretScalar(t *testing.T, priv ed25519.PrivateKey) *edwards25519.Scalar {
	t.Helper()
	h := sha512.Sum512(priv.Seed())
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func randomScalar(t *testing.T) *edwards25519.Scalar {
	t.Helper()
	var b [64]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	s, err := edwards25519.NewScalar().SetUniformBytes(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBatchEquation: signatures that the batch equation would let through
// if it skipped a check of voi's one-by-one rule (an encoding, or the
// random weights that keep two forgeries from cancelling, or the key of
// each term) are refused in a batch as one by one, and the valid ones
// around them pass. Each batch holds 12 checks by 3 keys, the bad ones
// first, so that the whole batch's equation is tried first.
func TestBatchEquation(t *testing.T) {
	// (p+1) mod 2^255: a non-canonical encoding of y = 1, the identity.
	nonCanonicalIdentity := mustHex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	a := secretScalar(t, priv)
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		bad  func() []envelope.Check
	}{
		{"R a non-canonical encoding", func() []envelope.Check {
			// R = identity, r = 0: S = k·a satisfies [S]B = R + [k]A.
			payload := []byte("non-canonical R")
			sig := rawSign(t, a, edwards25519.NewScalar(), nonCanonicalIdentity, pub, envelope.PAE(ackType, payload))
			return []envelope.Check{{PayloadType: ackType, Payload: payload, Sig: sig, Key: pub}}
		}},
		{"A a non-canonical encoding", func() []envelope.Check {
			// A = identity (secret 0): S = r satisfies [S]B = R + [k]A.
			payload := []byte("non-canonical A")
			r := randomScalar(t)
			rEnc := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
			sig := rawSign(t, edwards25519.NewScalar(), r, rEnc, nonCanonicalIdentity, envelope.PAE(ackType, payload))
			return []envelope.Check{{PayloadType: ackType, Payload: payload, Sig: sig, Key: ed25519.PublicKey(nonCanonicalIdentity)}}
		}},
		{"two forgeries that cancel", func() []envelope.Check {
			// S_1 + d and S_2 - d: each equation fails, their sum holds.
			d := randomScalar(t)
			var out []envelope.Check
			for i, f := range []func(s *edwards25519.Scalar) *edwards25519.Scalar{
				func(s *edwards25519.Scalar) *edwards25519.Scalar { return s.Add(s, d) },
				func(s *edwards25519.Scalar) *edwards25519.Scalar { return s.Subtract(s, d) },
			} {
				payload := []byte{'c', byte(i)}
				sig := ed25519.Sign(priv, envelope.PAE(ackType, payload))
				s, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
				if err != nil {
					t.Fatal(err)
				}
				sig = append(sig[:32:32], f(s).Bytes()...)
				out = append(out, envelope.Check{PayloadType: ackType, Payload: payload, Sig: sig, Key: pub})
			}
			return out
		}},
		{"a signature under another member's key", func() []envelope.Check {
			// Valid for priv's key, checked under other's: both keys are
			// in the batch, so summing the terms per key must not mix them.
			payload := []byte("wrong key")
			sig := ed25519.Sign(priv, envelope.PAE(ackType, payload))
			return []envelope.Check{{PayloadType: ackType, Payload: payload, Sig: sig, Key: other.Public()}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.bad()
			cs := append([]envelope.Check{}, bad...)
			for i := len(cs); i < 12; i++ {
				k := []ed25519.PrivateKey{priv, other}[i%2]
				payload := []byte{'v', byte(i)}
				cs = append(cs, envelope.Check{PayloadType: ackType, Payload: payload,
					Sig: ed25519.Sign(k, envelope.PAE(ackType, payload)), Key: k.Public()})
			}
			for i, err := range envelope.VerifyBatch(cs) {
				if isBad := i < len(bad); isBad != (err != nil) {
					t.Errorf("check %d: batch verdict %v, want bad=%v", i, err, isBad)
				}
				if single := cs[i].Verify(); (single == nil) != (err == nil) {
					t.Errorf("check %d: batch says %v, alone %v", i, err, single)
				}
			}
		})
	}
}
