package seal

import (
	"crypto/sha256"
	"hash"
	"sync"
)

// hkdfSHA256 is HKDF-SHA256 (RFC 5869) for what a body or a wrapped
// package key needs: one extract and an expand of at most two blocks (the
// 44 bytes of a body's key and nonce), written into out. It gives exactly
// the bytes of crypto/hkdf.Key(sha256.New, secret, salt, info, len(out))
// (TestHKDFMatchesStandardLibrary) without its allocations: an audit
// derives one body key an entry, and crypto/hkdf's HMACs, made afresh for
// each derivation, cost it more than the hashing itself.
func hkdfSHA256(out []byte, secret, salt []byte, info string) {
	if len(out) > 2*sha256.Size {
		panic("seal: hkdfSHA256 expands at most two blocks")
	}
	h := hashers.Get().(*hmacSHA256)
	defer h.release()
	var prk, t [sha256.Size]byte
	// Extract: PRK = HMAC(salt, secret); a salt longer than a block is
	// hashed first (RFC 2104), an empty one is a block of zeros either way.
	h.key(salt)
	h.inner.Write(secret)
	h.sum(prk[:0])
	// Expand: T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i).
	h.key(prk[:])
	var prev []byte
	for i := byte(1); len(out) > 0; i++ {
		if i > 1 {
			h.reset()
		}
		h.inner.Write(prev)
		h.inner.Write([]byte(info))
		h.inner.Write([]byte{i})
		h.sum(t[:0])
		n := copy(out, t[:])
		out = out[n:]
		prev = t[:]
	}
}

// hmacSHA256 is an HMAC-SHA256 whose digests are reused from one key to
// the next.
type hmacSHA256 struct {
	inner, outer hash.Hash
	ipad, opad   [sha256.BlockSize]byte
	ih           [sha256.Size]byte
}

var hashers = sync.Pool{New: func() any { return &hmacSHA256{inner: sha256.New(), outer: sha256.New()} }}

// key starts an HMAC under k.
func (h *hmacSHA256) key(k []byte) {
	if len(k) > sha256.BlockSize {
		h.inner.Reset()
		h.inner.Write(k)
		k = h.inner.Sum(h.ih[:0])
	}
	h.ipad, h.opad = [sha256.BlockSize]byte{}, [sha256.BlockSize]byte{}
	copy(h.ipad[:], k)
	copy(h.opad[:], k)
	for i := range h.ipad {
		h.ipad[i] ^= 0x36
		h.opad[i] ^= 0x5c
	}
	h.reset()
}

// reset starts a new message under the same key.
func (h *hmacSHA256) reset() {
	h.inner.Reset()
	h.inner.Write(h.ipad[:])
}

// sum appends the HMAC of what was written to b.
func (h *hmacSHA256) sum(b []byte) []byte {
	ih := h.inner.Sum(h.ih[:0])
	h.outer.Reset()
	h.outer.Write(h.opad[:])
	h.outer.Write(ih)
	return h.outer.Sum(b)
}

// release wipes the key material (the pads hold the salt or the PRK, the
// last inner digest a T block) before the hasher goes back to the pool, so
// a pooled hasher never keeps a body's keys past its derivation.
func (h *hmacSHA256) release() {
	h.ipad, h.opad, h.ih = [sha256.BlockSize]byte{}, [sha256.BlockSize]byte{}, [sha256.Size]byte{}
	h.inner.Reset()
	h.outer.Reset()
	hashers.Put(h)
}
