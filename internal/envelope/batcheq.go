package envelope

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// batchHolds checks the batch equation of the Ed25519 checks at indexes
// in (their messages in msgs): true means every one of them is valid
// under ed25519Options, but with probability 2^-128 at most; false means
// one or more of them may not be (the caller bisects).
//
// The equation is curve25519-voi's (and RFC 8032's, cofactored), with
// random 128-bit z_i:
//
//	[8]( [-Σ z_i·S_i]B + Σ [z_i]R_i + Σ [z_i·k_i]A_i ) = 0
//
// with one difference in how it is computed: the terms of one key are
// summed into one, [Σ_{i: A_i = A} z_i·k_i]A, the same combination of the
// same equations. The exchange verifies many signatures by few keys (one
// per party member), so a batch of n signatures is one multi-scalar
// multiplication of n + 1 + (distinct keys) points instead of the 2n + 1
// of voi's batch verifier, which does not group them.
//
// Every encoding is checked as voi's ed25519Options do it before the
// equation is: A and R decompress and are canonical encodings, S is
// below the group order. Small-order A and R are allowed, as the rule
// (FIPS 186-5) allows them. A check that fails any of these makes the
// batch fail, and the one-by-one verification (voi's) names it.
func batchHolds(checks []Check, msgs [][]byte, in []int) bool {
	n := len(in)
	z := make([]byte, 16*n)
	if _, err := rand.Read(z); err != nil {
		panic("envelope: no randomness for batch verification: " + err.Error())
	}
	// Points and scalars: B, then each R_i, then each distinct A.
	pts := make([]curve.EdwardsPoint, 1+n, 1+n+8)
	scs := make([]scalar.Scalar, 1+n, 1+n+8)
	keyAt := make(map[[ed25519.PublicKeySize]byte]int, 8) // the key's place in pts
	var (
		h    = sha512.New()
		hash [sha512.Size]byte
		raw  [scalar.ScalarSize]byte
		s, k scalar.Scalar
		zk   scalar.Scalar
	)
	pts[0].Set(curve.ED25519_BASEPOINT_POINT)
	for j, i := range in {
		key := checks[i].Key.(ed25519.PublicKey)
		sig := checks[i].Sig
		a, ok := keyAt[[ed25519.PublicKeySize]byte(key)]
		if !ok {
			var A curve.EdwardsPoint
			if !decodeCanonical(&A, key) {
				return false
			}
			a = len(pts)
			pts = append(pts, A)
			scs = append(scs, scalar.Scalar{})
			keyAt[[ed25519.PublicKeySize]byte(key)] = a
		}
		// S < L, R canonical and on the curve.
		if !scalar.ScMinimalVartime(sig[32:]) || !decodeCanonical(&pts[1+j], sig[:32]) {
			return false
		}
		if _, err := s.SetBytesModOrder(sig[32:]); err != nil {
			return false
		}
		// k = SHA-512(R ‖ A ‖ M) mod L.
		h.Reset()
		h.Write(sig[:32])
		h.Write(key)
		h.Write(msgs[i])
		h.Sum(hash[:0])
		if _, err := k.SetBytesModOrderWide(hash[:]); err != nil {
			return false
		}
		// z_j: 128 random bits, 2^128 for zero (voi's choice), so never 0.
		zj := &scs[1+j]
		raw = [scalar.ScalarSize]byte{}
		copy(raw[:16], z[16*j:])
		if raw == ([scalar.ScalarSize]byte{}) {
			raw[16] = 1
		}
		if _, err := zj.SetBytesModOrder(raw[:]); err != nil {
			return false
		}
		scs[0].Add(&scs[0], s.Mul(zj, &s))
		scs[a].Add(&scs[a], zk.Mul(zj, &k))
	}
	scs[0].Neg(&scs[0])
	pp := make([]*curve.EdwardsPoint, len(pts))
	sp := make([]*scalar.Scalar, len(scs))
	for i := range pts {
		pp[i], sp[i] = &pts[i], &scs[i]
	}
	var sum curve.EdwardsPoint
	return sum.MultiscalarMulVartime(sp, pp).IsSmallOrder()
}

// decodeCanonical decodes a point as ed25519Options require of A and R:
// it decompresses, and b is its canonical encoding.
func decodeCanonical(p *curve.EdwardsPoint, b []byte) bool {
	var c curve.CompressedEdwardsY
	if _, err := c.SetBytes(b); err != nil {
		return false
	}
	if _, err := p.SetCompressedY(&c); err != nil {
		return false
	}
	return c.IsCanonicalVartime()
}
