// Package seal is the cryptography of sealed bodies: what lets the log hold
// ciphertext for what is sensitive while only the recipient parties can read
// it. It knows nothing of payloads, the log or storage; package message
// decides what is sealed and with which associated data.
//
// Three layers, each binding its context:
//
//   - A party's encryption key pair ([GenerateKey], [ParsePublicKey],
//     [ParsePrivateKey]) is an HPKE (RFC 9180) key of the hybrid KEM
//     MLKEM768X25519 (X-Wing): ML-KEM-768 for protection against a future
//     quantum computer, X25519 so that a flaw in the new scheme alone does
//     not break it. The public key is published in the agreement; its
//     [PublicKey.ID] names it in wrapped keys, so a rotated key is found.
//   - A [PackageKey] is 32 random bytes, one per target package, wrapped
//     for each recipient party. Version 2 (what [Channels] writes): a
//     sender's channel key, HPKE-wrapped once (MLKEM768X25519, HKDF-SHA256,
//     AES-256-GCM; info binding the log origin, the recipient party, its
//     key id and the channel id) and reused for [ChannelLifetime] or
//     [ChannelMaxPackages] packages, plus an AES-256-GCM wrap of the
//     package key under a key derived from the channel key over the log
//     origin, package id, party, key id and channel id. Version 1 ([Wrap]):
//     one HPKE wrap of the package key per package, the info binding the
//     log origin, package id, party and key id; it still opens. [Unwrap]
//     (and [ChannelCache.Unwrap], which decapsulates each channel once)
//     with any other origin, package, party or key fails, so a wrap cannot
//     be moved to another log, package or party.
//   - [SealBody] encrypts one message's body under a key derived from the
//     package key (HKDF-SHA256 over the log origin, package id, payload
//     type and message id, with a fresh random salt), with AES-256-GCM and
//     the caller's associated data (the message's cleartext header bytes).
//     [OpenBody] fails if any of them differs or a byte of the body was
//     changed. The random salt gives every seal its own key and nonce, so
//     two authors reusing a message id never reuse a nonce.
//   - [ReportSalt] derives from the package key (HKDF-SHA256 over the log
//     origin and package id, no random salt) the salt a monthly report
//     writes next to the package's opened coordinates: the same for every
//     holder of the key, out of reach of everyone else, so the report's
//     published SHA-256 cannot be used to test guessed coordinates.
//
// Overheads: a wrapped key is [WrappedKeySizeV2] bytes per recipient
// ([WrappedKeySize] in version 1); a sealed body is its plaintext plus
// [BodyOverhead] bytes.
//
// The package is pure (no I/O but crypto/rand) and safe for concurrent use.
package seal

import (
	"encoding/binary"
	"errors"
)

// Errors a caller may branch on.
var (
	// ErrOpen means a wrapped key or a body did not decrypt with the key
	// and context given: the wrong key, another package, party or message,
	// changed associated data, or changed ciphertext. Which one is not
	// told, by design of the AEAD.
	ErrOpen = errors.New("sealed data does not open with this key and context")
	// ErrMalformed means bytes are not a key, wrapped key or body of this
	// format (wrong length, unknown version).
	ErrMalformed = errors.New("malformed sealed data")
)

// context encodes labelled, length-prefixed strings, so that no two
// different contexts share an encoding ("ab","c" differs from "a","bc").
func context(label string, fields ...string) []byte {
	return appendContext(make([]byte, 0, 64), label, fields...)
}

// appendContext appends context(label, fields...) to b.
func appendContext(b []byte, label string, fields ...string) []byte {
	b = append(b, label...)
	b = append(b, 0)
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}
