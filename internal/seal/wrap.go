package seal

import (
	"crypto/hpke"
	"crypto/rand"
	"fmt"
)

// PackageKeySize is the size of a package key.
const PackageKeySize = 32

// WrappedKeySize is the size of a package key wrapped for one recipient in
// format version 1 (and of a channel key's wrap in version 2): the X-Wing
// encapsulation (1120 bytes), the key and the AEAD tag.
const WrappedKeySize = 1120 + PackageKeySize + 16

// PackageKey is the symmetric key of one target package. The submitter
// makes one per package and wraps it for each recipient party; every
// message on the package is sealed under keys derived from it.
type PackageKey [PackageKeySize]byte

// NewPackageKey returns a random package key.
func NewPackageKey() (PackageKey, error) {
	var k PackageKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("seal: generating a package key: %w", err)
	}
	return k, nil
}

// WrapContext is what a wrapped key is bound to.
type WrapContext struct {
	LogOrigin string // the log's checkpoint origin
	PackageID string // the target package's id
	Party     string // the recipient party
}

func (c WrapContext) info(keyID string) []byte {
	return context("mvm-seal/v1 package-key", c.LogOrigin, c.PackageID, c.Party, keyID)
}

var (
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES256GCM()
)

// Wrap encrypts key to the recipient's public key, bound to c and to the
// recipient's key id, in format version 1: the bare HPKE ciphertext of
// [WrappedKeySize] bytes. Each call encapsulates anew (about 100 µs of
// CPU); new packages are wrapped through [Channels] instead, and version 1
// stays readable so that older logs open and audit.
func Wrap(to *PublicKey, key PackageKey, c WrapContext) ([]byte, error) {
	ct, err := hpke.Seal(to.pk, kdf, aead, c.info(to.id), key[:])
	if err != nil {
		return nil, fmt.Errorf("seal: wrapping the package key for party %s: %w", c.Party, err)
	}
	return ct, nil
}

// Unwrap decrypts a key wrapped by [Wrap] or a [Channel] for k's public
// key and the same context, without a cache ([ChannelCache.Unwrap]). It
// fails with [ErrOpen] for another key, origin, package or party, or for
// changed bytes.
func Unwrap(k *PrivateKey, wrapped []byte, c WrapContext) (PackageKey, error) {
	return (*ChannelCache)(nil).Unwrap(k, wrapped, c)
}

func unwrapV1(k *PrivateKey, wrapped []byte, c WrapContext) (PackageKey, error) {
	var key PackageKey
	pt, err := hpke.Open(k.sk, kdf, aead, c.info(k.pub.id), wrapped)
	if err != nil {
		return key, fmt.Errorf("%w: package key of %s for party %s (key %s)", ErrOpen, c.PackageID, c.Party, k.pub.id)
	}
	if len(pt) != PackageKeySize {
		// Only an author holding the recipient's context can make this:
		// it wrapped a key of the wrong size.
		return key, fmt.Errorf("%w: the wrapped package key has %d bytes, want %d", ErrMalformed, len(pt), PackageKeySize)
	}
	copy(key[:], pt)
	return key, nil
}
