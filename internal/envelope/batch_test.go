package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"filippo.io/edwards25519"

	"github.com/mvm-exchange/mvm/internal/envelope"
)

const ackType = "mvm.v1.Acknowledgement"

// checks returns n valid Ed25519 checks by signers distinct keys (keys
// repeat, as party members' keys do).
func checks(t testing.TB, n, keys int) []envelope.Check {
	t.Helper()
	var signers []envelope.Signer
	for range keys {
		signers = append(signers, ed25519Signer(t, false))
	}
	out := make([]envelope.Check, n)
	for i := range out {
		s := signers[i%keys]
		payload := fmt.Appendf(nil, "payload %d", i)
		sig, err := envelope.Sign(ackType, payload, s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = envelope.Check{PayloadType: ackType, Payload: payload, Sig: sig.Sig, Key: s.Certificate.PublicKey}
	}
	return out
}

func TestVerifyBatch(t *testing.T) {
	p256 := ecdsaSigner(t, elliptic.P256(), false)
	p256sig, err := envelope.Sign(ackType, []byte("p256"), p256)
	if err != nil {
		t.Fatal(err)
	}
	p256check := envelope.Check{PayloadType: ackType, Payload: []byte("p256"), Sig: p256sig.Sig, Key: p256.Certificate.PublicKey}

	flip := func(c envelope.Check) envelope.Check {
		c.Sig = bytes.Clone(c.Sig)
		c.Sig[5] ^= 1
		return c
	}
	otherPayload := func(c envelope.Check) envelope.Check {
		c.Payload = append(bytes.Clone(c.Payload), '!')
		return c
	}
	short := func(c envelope.Check) envelope.Check { c.Sig = c.Sig[:63]; return c }
	highS := func(c envelope.Check) envelope.Check {
		// S + L: the same equation, a non-canonical S (RFC 8032 refuses it).
		c.Sig = bytes.Clone(c.Sig)
		s, err := edwards25519.NewScalar().SetCanonicalBytes(c.Sig[32:])
		if err != nil {
			t.Fatal(err)
		}
		c.Sig = append(c.Sig[:32:32], addL(s.Bytes())...)
		return c
	}

	tests := []struct {
		name string
		n    int
		bad  map[int]func(envelope.Check) envelope.Check
		p256 bool
	}{
		{name: "empty", n: 0},
		{name: "one valid", n: 1},
		{name: "one forged", n: 1, bad: map[int]func(envelope.Check) envelope.Check{0: flip}},
		{name: "64 valid", n: 64},
		{name: "first of 64 forged", n: 64, bad: map[int]func(envelope.Check) envelope.Check{0: flip}},
		{name: "three of 64 bad", n: 64, bad: map[int]func(envelope.Check) envelope.Check{3: flip, 40: otherPayload, 63: short}},
		{name: "non-canonical S", n: 16, bad: map[int]func(envelope.Check) envelope.Check{7: highS}},
		{name: "with a P-256 signature", n: 8, p256: true},
		{name: "every one forged", n: 5, bad: map[int]func(envelope.Check) envelope.Check{0: flip, 1: flip, 2: flip, 3: flip, 4: flip}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := checks(t, tc.n, 3)
			for i, f := range tc.bad {
				cs[i] = f(cs[i])
			}
			if tc.p256 {
				cs = append(cs, p256check)
			}
			errs := envelope.VerifyBatch(cs)
			if len(errs) != len(cs) {
				t.Fatalf("%d verdicts for %d checks", len(errs), len(cs))
			}
			for i, err := range errs {
				_, isBad := tc.bad[i]
				if isBad != (err != nil) {
					t.Errorf("check %d: batch verdict %v, want bad=%v", i, err, isBad)
				}
				if isBad && !errors.Is(err, envelope.ErrBadSignature) {
					t.Errorf("check %d: %v, want ErrBadSignature", i, err)
				}
				// Batch and single verification agree, check by check.
				if single := cs[i].Verify(); (single == nil) != (err == nil) {
					t.Errorf("check %d: batch says %v, alone %v", i, err, single)
				}
			}
		})
	}
}

// TestVerifyBatchConcurrent: batches verified at the same time, with
// messages of every size and forged signatures that make them bisect,
// each get their own verdicts (the messages of a batch are written into a
// buffer reused from batch to batch: no batch may see another's).
func TestVerifyBatchConcurrent(t *testing.T) {
	signer := ed25519Signer(t, false)
	batch := func(g int) ([]envelope.Check, map[int]bool) {
		cs := make([]envelope.Check, 40+g*7)
		forged := map[int]bool{}
		for i := range cs {
			payload := bytes.Repeat([]byte{byte(g), byte(i)}, (i*37+g*101)%3000+1)
			sig, err := envelope.Sign(ackType, payload, signer)
			if err != nil {
				t.Fatal(err)
			}
			cs[i] = envelope.Check{PayloadType: ackType, Payload: payload, Sig: sig.Sig, Key: signer.Certificate.PublicKey}
			if (i+g)%13 == 0 {
				cs[i].Sig[9] ^= 2
				forged[i] = true
			}
		}
		return cs, forged
	}
	var wg sync.WaitGroup
	for g := range 6 {
		cs, forged := batch(g)
		wg.Go(func() {
			for range 20 {
				for i, err := range envelope.VerifyBatch(cs) {
					if forged[i] != (err != nil) {
						t.Errorf("batch %d, check %d: %v, forged: %v", g, i, err, forged[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestVerifyAll(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{0, 2}, {1, 2}, {31, 2}, {64, 2}, {100, 3}, {100, 1}, {257, 8}} {
		t.Run(fmt.Sprintf("n=%d,workers=%d", tc.n, tc.workers), func(t *testing.T) {
			cs := checks(t, tc.n, 5)
			for i := 7; i < tc.n; i += 29 {
				cs[i].Sig = bytes.Clone(cs[i].Sig)
				cs[i].Sig[40] ^= 4
			}
			errs := envelope.VerifyAll(cs, tc.workers)
			if len(errs) != tc.n {
				t.Fatalf("%d verdicts for %d checks", len(errs), tc.n)
			}
			for i, err := range errs {
				if forged := i >= 7 && (i-7)%29 == 0; forged != errors.Is(err, envelope.ErrBadSignature) || (!forged && err != nil) {
					t.Errorf("check %d: %v (forged: %v)", i, err, forged)
				}
			}
		})
	}
}

// TestMalformedKeys: an Ed25519 key of the wrong length is refused, alone
// and in a batch, without a panic.
func TestMalformedKeys(t *testing.T) {
	cs := checks(t, 6, 2)
	good := cs[0].Key.(ed25519.PublicKey)
	cs[1].Key = good[:31]
	cs[2].Key = append(bytes.Clone(good), 0)
	cs[3].Key = ed25519.PublicKey(nil)
	for i, err := range envelope.VerifyBatch(cs) {
		if bad := i >= 1 && i <= 3; bad != errors.Is(err, envelope.ErrBadSignature) && bad != errors.Is(err, envelope.ErrUnsupportedKey) {
			t.Errorf("check %d: %v", i, err)
		}
		if single := cs[i].Verify(); (single == nil) != (err == nil) {
			t.Errorf("check %d: batch %v, alone %v", i, err, single)
		}
	}
}

// addL returns the little-endian encoding of s + L (the group order).
func addL(s []byte) []byte {
	l, _ := hex.DecodeString("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	out := make([]byte, 32)
	carry := 0
	for i := range 32 {
		v := int(s[i]) + int(l[i]) + carry
		out[i], carry = byte(v), v>>8
	}
	return out
}

// TestSignMatchesStandardLibrary: signatures are the deterministic RFC 8032
// ones, byte for byte what crypto/ed25519 makes.
func TestSignMatchesStandardLibrary(t *testing.T) {
	s := ed25519Signer(t, false)
	for _, payload := range [][]byte{[]byte("x"), bytes.Repeat([]byte{7}, 5000)} {
		sig, err := envelope.Sign(ackType, payload, s)
		if err != nil {
			t.Fatal(err)
		}
		want := ed25519.Sign(s.Key.(ed25519.PrivateKey), envelope.PAE(ackType, payload))
		if !bytes.Equal(sig.Sig, want) {
			t.Fatalf("signature differs from crypto/ed25519's")
		}
	}
}

// TestCofactoredRule pins the verification rule: a signature whose R has a
// small-order component (which only the key's holder can make) satisfies
// the cofactored equation of RFC 8032 and FIPS 186-5 but not the
// cofactorless one of crypto/ed25519. The exchange accepts it, one by one
// and in a batch alike; what matters is that every verifier of the
// exchange applies the same rule.
func TestCofactoredRule(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	h := sha512.Sum512(seed)
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	var rb [64]byte
	if _, err := rand.Read(rb[:]); err != nil {
		t.Fatal(err)
	}
	r, _ := edwards25519.NewScalar().SetUniformBytes(rb[:])
	// (0, -1), the point of order 2.
	torsion, err := new(edwards25519.Point).SetBytes(mustHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"))
	if err != nil {
		t.Fatal(err)
	}
	R := new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(r), torsion)
	payload := []byte("torsion")
	msg := envelope.PAE(ackType, payload)
	kh := sha512.New()
	kh.Write(R.Bytes())
	kh.Write(pub)
	kh.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	S := edwards25519.NewScalar().MultiplyAdd(k, a, r)
	sig := append(R.Bytes(), S.Bytes()...)

	if ed25519.Verify(pub, msg, sig) {
		t.Fatal("crypto/ed25519 accepted a torsioned R: the test does not make what it claims")
	}
	c := envelope.Check{PayloadType: ackType, Payload: payload, Sig: sig, Key: pub}
	if err := c.Verify(); err != nil {
		t.Errorf("Verify: %v, want the cofactored rule to accept", err)
	}
	batch := append(checks(t, 8, 2), c)
	for i, err := range envelope.VerifyBatch(batch) {
		if err != nil {
			t.Errorf("VerifyBatch check %d: %v", i, err)
		}
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func BenchmarkVerifyBatch(b *testing.B) {
	for _, n := range []int{1, 8, 32, 64, 94, 128, 512} {
		cs := checks(b, n, 4)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				for _, err := range envelope.VerifyBatch(cs) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/sig")
		})
	}
}
