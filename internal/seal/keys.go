package seal

import (
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
)

// Sizes of the serialized keys of MLKEM768X25519.
const (
	PublicKeySize  = 1216 // ML-KEM-768 encapsulation key (1184) + X25519 point (32)
	PrivateKeySize = 32   // the X-Wing seed, from which both keys are expanded
)

// PEMType is the PEM block type of a private key file.
const PEMType = "MVM SEAL PRIVATE KEY"

var kem = hpke.MLKEM768X25519()

// PublicKey is a party's encryption key, as published in the agreement.
type PublicKey struct {
	pk hpke.PublicKey
	id string
}

// PrivateKey is a party's decryption key. It never leaves the party: the
// server never holds one.
type PrivateKey struct {
	sk  hpke.PrivateKey
	pub *PublicKey
}

// GenerateKey returns a new random key pair.
func GenerateKey() (*PrivateKey, error) {
	sk, err := kem.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("seal: generating an encryption key: %w", err)
	}
	return newPrivate(sk), nil
}

func newPrivate(sk hpke.PrivateKey) *PrivateKey {
	return &PrivateKey{sk: sk, pub: newPublic(sk.PublicKey())}
}

func newPublic(pk hpke.PublicKey) *PublicKey {
	sum := sha256.Sum256(pk.Bytes())
	return &PublicKey{pk: pk, id: hex.EncodeToString(sum[:8])}
}

// ParsePublicKey parses a serialized public key (as in the agreement).
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) != PublicKeySize {
		return nil, fmt.Errorf("%w: an MLKEM768X25519 public key has %d bytes, got %d", ErrMalformed, PublicKeySize, len(b))
	}
	pk, err := kem.NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrMalformed, err)
	}
	return newPublic(pk), nil
}

// ParsePrivateKey parses a serialized private key ([PrivateKey.Bytes]).
func ParsePrivateKey(b []byte) (*PrivateKey, error) {
	if len(b) != PrivateKeySize {
		return nil, fmt.Errorf("%w: an MLKEM768X25519 private key has %d bytes, got %d", ErrMalformed, PrivateKeySize, len(b))
	}
	sk, err := kem.NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrMalformed, err)
	}
	return newPrivate(sk), nil
}

// ParsePrivateKeyPEM parses a private key file written by
// [PrivateKey.MarshalPEM].
func ParsePrivateKeyPEM(data []byte) (*PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != PEMType {
		return nil, fmt.Errorf("%w: no %q PEM block", ErrMalformed, PEMType)
	}
	return ParsePrivateKey(block.Bytes)
}

// Bytes returns the serialized public key.
func (k *PublicKey) Bytes() []byte { return k.pk.Bytes() }

// ID names the key: the hex of the first 8 bytes of SHA-256 of its bytes.
// Wrapped keys carry it, so a party that rotated its key finds the private
// key that opens an older package.
func (k *PublicKey) ID() string { return k.id }

// Equal reports whether two public keys are the same key.
func (k *PublicKey) Equal(o *PublicKey) bool {
	return o != nil && k.id == o.id && string(k.Bytes()) == string(o.Bytes())
}

// Public returns the public key of k.
func (k *PrivateKey) Public() *PublicKey { return k.pub }

// Bytes returns the serialized private key (the 32-byte seed).
func (k *PrivateKey) Bytes() ([]byte, error) { return k.sk.Bytes() }

// MarshalPEM returns the private key as a PEM block, with the key id and KEM
// as headers for whoever looks at the file.
func (k *PrivateKey) MarshalPEM() ([]byte, error) {
	b, err := k.sk.Bytes()
	if err != nil {
		return nil, fmt.Errorf("seal: serializing a private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMType, Headers: map[string]string{
		"Kem": "MLKEM768X25519", "Key-Id": k.pub.id,
	}, Bytes: b}), nil
}
