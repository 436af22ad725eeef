package seal

import (
	"crypto/sha256"
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
// stays there; and the pooled hasher is wiped before it goes back.
func hkdfSHA256(out []byte, secret, salt, info []byte) {
	h := hashers.Get().(*hmacSHA256)
	defer h.release()
	h.derive(out, secret, salt, info)
}

// hmacSHA256 is the state of one derivation: the pads, the PRK, the last
// T block and a scratch buffer, each HMAC hashed whole from the scratch
// with sha256.Sum256 (whose digest lives on the stack of the call), so
// that everything a derivation leaves behind is in these fields.
type hmacSHA256 struct {
	ipad, opad [sha256.BlockSize]byte
	ih, prk, t [sha256.Size]byte
	buf        []byte // a pad ‖ a message, or a key longer than a block
	single     [1]byte
}

var hashers = sync.Pool{New: func() any { return new(hmacSHA256) }}

// derive is hkdfSHA256 on h.
func (h *hmacSHA256) derive(out []byte, secret, salt, info []byte) {
	if len(out) > 2*sha256.Size {
		panic("seal: hkdfSHA256 expands at most two blocks")
	}
	// Extract: PRK = HMAC(salt, secret); a salt longer than a block is
	// hashed first (RFC 2104), an empty one is a block of zeros either way.
	h.key(salt)
	h.mac(&h.prk, secret, nil, nil)
	// Expand: T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i).
	h.key(h.prk[:])
	var prev []byte
	for i := byte(1); len(out) > 0; i++ {
		h.single[0] = i
		h.mac(&h.t, prev, info, h.single[:])
		n := copy(out, h.t[:])
		out = out[n:]
		prev = h.t[:]
	}
}

// key sets the pads for an HMAC under k.
func (h *hmacSHA256) key(k []byte) {
	if len(k) > sha256.BlockSize {
		h.buf = append(h.buf[:0], k...)
		h.ih = sha256.Sum256(h.buf)
		k = h.ih[:]
	}
	h.ipad, h.opad = [sha256.BlockSize]byte{}, [sha256.BlockSize]byte{}
	copy(h.ipad[:], k)
	copy(h.opad[:], k)
	for i := range h.ipad {
		h.ipad[i] ^= 0x36
		h.opad[i] ^= 0x5c
	}
}

// mac writes the HMAC of a ‖ b ‖ c under the key set into out (which may
// be one of them: they are copied first).
func (h *hmacSHA256) mac(out *[sha256.Size]byte, a, b, c []byte) {
	h.buf = append(append(append(append(h.buf[:0], h.ipad[:]...), a...), b...), c...)
	h.ih = sha256.Sum256(h.buf)
	h.buf = append(append(h.buf[:0], h.opad[:]...), h.ih[:]...)
	*out = sha256.Sum256(h.buf)
}

// release wipes every field (the pads hold the salt or the PRK, ih an
// inner digest or a hashed key, prk and t theirs, the scratch the secret
// and the context) before the hasher goes back to the pool, so a pooled
// hasher never keeps a body's keys past its derivation.
func (h *hmacSHA256) release() {
	clear(h.buf[:cap(h.buf)])
	*h = hmacSHA256{buf: h.buf[:0]}
	hashers.Put(h)
}
