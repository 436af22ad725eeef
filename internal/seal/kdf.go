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
//
// Nothing it is given escapes (what it hashes is copied into the pooled
// hasher's scratch first), so a caller's key or context on its stack
// stays there.
func hkdfSHA256(out []byte, secret, salt, info []byte) {
	if len(out) > 2*sha256.Size {
		panic("seal: hkdfSHA256 expands at most two blocks")
	}
	h := hashers.Get().(*hmacSHA256)
	defer h.release()
	// Extract: PRK = HMAC(salt, secret); a salt longer than a block is
	// hashed first (RFC 2104), an empty one is a block of zeros either way.
	h.key(salt)
	h.write(secret)
	h.sum(h.prk[:0])
	// Expand: T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i).
	h.key(h.prk[:])
	var prev []byte
	for i := byte(1); len(out) > 0; i++ {
		if i > 1 {
			h.reset()
		}
		h.inner.Write(prev)
		h.buf = append(append(h.buf[:0], info...), i)
		h.inner.Write(h.buf)
		h.sum(h.t[:0])
		n := copy(out, h.t[:])
		out = out[n:]
		prev = h.t[:]
	}
}

// hmacSHA256 is an HMAC-SHA256 whose digests are reused from one key to
// the next.
type hmacSHA256 struct {
	inner, outer hash.Hash
	ipad, opad   [sha256.BlockSize]byte
	ih           [sha256.Size]byte
	// prk and t are the derivation's PRK and last T block; buf is the
	// scratch what is hashed is copied into (the secret, then info ‖ i).
	prk, t [sha256.Size]byte
	buf    []byte
}

// write hashes b into the inner digest through the scratch buffer: a
// slice handed to the hash.Hash interface escapes, a copy into buf does
// not make the caller's escape.
func (h *hmacSHA256) write(b []byte) {
	h.buf = append(h.buf[:0], b...)
	h.inner.Write(h.buf)
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
// last inner digest a T block, prk and t theirs, the scratch the secret) before the hasher goes back to the pool, so
// a pooled hasher never keeps a body's keys past its derivation.
func (h *hmacSHA256) release() {
	h.ipad, h.opad, h.ih = [sha256.BlockSize]byte{}, [sha256.BlockSize]byte{}, [sha256.Size]byte{}
	h.prk, h.t = [sha256.Size]byte{}, [sha256.Size]byte{}
	clear(h.buf[:cap(h.buf)])
	h.buf = h.buf[:0]
	h.inner.Reset()
	h.outer.Reset()
	hashers.Put(h)
}
