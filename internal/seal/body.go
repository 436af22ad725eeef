package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// Body format: version (1 byte) | salt (16) | AES-256-GCM ciphertext and tag.
const (
	bodyVersion = 1
	saltSize    = 16
	tagSize     = 16
	nonceSize   = 12
	keySize     = 32
	// BodyOverhead is what sealing adds to a body's plaintext.
	BodyOverhead = 1 + saltSize + tagSize
)

// BodyContext is what a sealed body is bound to besides its associated
// data: the derived key differs for every field.
type BodyContext struct {
	LogOrigin   string
	PackageID   string
	PayloadType string
	MessageID   string
}

func (c BodyContext) appendInfo(b []byte) []byte {
	return appendContext(b, "mvm-seal/v1 body", c.LogOrigin, c.PackageID, c.PayloadType, c.MessageID)
}

// derive returns the AEAD for one body: HKDF-SHA256 of the package key with
// the body's salt and context gives a fresh key and nonce.
func derive(key PackageKey, salt []byte, c BodyContext) (cipher.AEAD, []byte, error) {
	okm := make([]byte, keySize+nonceSize)
	var info [192]byte // a body's context fits: it stays on the stack
	hkdfSHA256(okm, key[:], salt, c.appendInfo(info[:0]))
	block, err := aes.NewCipher(okm[:keySize])
	if err != nil {
		return nil, nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	return g, okm[keySize:], nil
}

// SealBody encrypts plaintext under a key derived from the package key for
// context c, authenticating aad (the message's cleartext header bytes).
func SealBody(key PackageKey, c BodyContext, aad, plaintext []byte) ([]byte, error) {
	return AppendSealBody(make([]byte, 0, BodyOverhead+len(plaintext)), key, c, aad, plaintext)
}

// AppendSealBody is [SealBody] appending the sealed body to dst, so that
// a caller building a payload writes it in place: with BodyOverhead +
// len(plaintext) bytes of capacity left in dst it allocates nothing for
// the body. Neither plaintext nor aad may overlap dst's free capacity.
func AppendSealBody(dst []byte, key PackageKey, c BodyContext, aad, plaintext []byte) ([]byte, error) {
	out := append(dst, make([]byte, 1+saltSize)...)
	salt := out[len(dst)+1:]
	out[len(dst)] = bodyVersion
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("seal: salt: %w", err)
	}
	g, nonce, err := derive(key, salt, c)
	if err != nil {
		return nil, fmt.Errorf("seal: deriving the body key: %w", err)
	}
	return g.Seal(out, nonce, plaintext, aad), nil
}

// OpenBody decrypts a body sealed by [SealBody] with the same package key,
// context and associated data; any difference fails with [ErrOpen].
func OpenBody(key PackageKey, c BodyContext, aad, sealed []byte) ([]byte, error) {
	return AppendOpenBody(nil, key, c, aad, sealed)
}

// AppendOpenBody is [OpenBody] appending the plaintext to dst (as
// cipher.AEAD's Open does), so that a reader of many bodies reuses one
// buffer: with len(sealed) bytes of capacity left in dst it allocates
// nothing for the plaintext. dst must not overlap sealed or aad. On
// failure dst's free capacity may hold garbage, never plaintext.
func AppendOpenBody(dst []byte, key PackageKey, c BodyContext, aad, sealed []byte) ([]byte, error) {
	if len(sealed) < BodyOverhead {
		return nil, fmt.Errorf("%w: a sealed body has at least %d bytes, got %d", ErrMalformed, BodyOverhead, len(sealed))
	}
	if sealed[0] != bodyVersion {
		return nil, fmt.Errorf("%w: sealed body version %d, this version reads %d", ErrMalformed, sealed[0], bodyVersion)
	}
	g, nonce, err := derive(key, sealed[1:1+saltSize], c)
	if err != nil {
		return nil, fmt.Errorf("seal: deriving the body key: %w", err)
	}
	pt, err := g.Open(dst, nonce, sealed[1+saltSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: body of message %s (%s) on package %s", ErrOpen, c.MessageID, c.PayloadType, c.PackageID)
	}
	return pt, nil
}
