// Package envelope signs and verifies DSSE-style envelopes.
//
// An author serializes a payload message once and signs
// PAE(payloadType, payload), the DSSE pre-authentication encoding, with the
// key of its X.509 certificate. The envelope carries the exact payload bytes;
// verification runs against those bytes, so a verifier never needs to
// re-encode anything and a single flipped byte invalidates the signature.
//
// Guarantees:
//   - [Verify] accepts a signature only if it is valid over PAE for the given
//     public key (Ed25519, or ECDSA P-256 with SHA-256).
//   - [VerifyBatch] gives, check by check, the same verdicts as [Verify];
//     it only costs less (Ed25519 signatures are verified together).
//   - Ed25519 follows RFC 8032 and FIPS 186-5 exactly: canonical encodings
//     of the key, R and S, and the cofactored verification equation, one
//     by one and in batches alike. Every signature a standard signer makes
//     verifies; a signature that only the cofactored equation accepts can
//     be made only by the key's holder (it needs a torsion component in R),
//     and it is accepted here, by the server and by every audit, the same
//     way.
//   - [Parse] rejects envelopes with unknown fields, empty payloads or
//     malformed signatures, so what is stored is exactly what was checked.
//     [ParseShared] gives exactly what Parse gives, reading the envelope's
//     bytes in place instead of copying them.
//
// The package is pure: no I/O, no gRPC, no storage.
package envelope

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"google.golang.org/protobuf/proto"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Errors a caller may branch on.
var (
	// ErrMalformed means the envelope bytes do not parse or are incomplete.
	ErrMalformed = errors.New("malformed envelope")
	// ErrBadSignature means a signature does not verify over the payload.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrUnsupportedKey means the key is neither Ed25519 nor ECDSA P-256.
	ErrUnsupportedKey = errors.New("unsupported key type (want Ed25519 or ECDSA P-256)")
)

// PAE is the DSSE pre-authentication encoding:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body.
func PAE(payloadType string, payload []byte) []byte {
	return appendPAE(make([]byte, 0, paeSize(payloadType, payload)), payloadType, payload)
}

// paeSize is at least len(PAE(payloadType, payload)).
func paeSize(payloadType string, payload []byte) int { return 64 + len(payloadType) + len(payload) }

// appendPAE appends PAE(payloadType, payload) to b.
func appendPAE(b []byte, payloadType string, payload []byte) []byte {
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	b = append(b, payload...)
	return b
}

// Fingerprint is the key id of a certificate: lower-case hex SHA-256 of its
// DER encoding.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Signer is a private key with its certificate.
type Signer struct {
	Key         crypto.Signer
	Certificate *x509.Certificate
	// EmbedCertificate puts the certificate into the signature, as
	// multi-party envelopes (agreements) require.
	EmbedCertificate bool
}

// TypeOf returns the payload type of a message: its full protobuf name.
func TypeOf(m proto.Message) string {
	return string(m.ProtoReflect().Descriptor().FullName())
}

// Seal serializes m once and signs it with every signer. It returns the
// serialized envelope, ready to send.
func Seal(m proto.Message, signers ...Signer) ([]byte, error) {
	payload, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("serialize payload: %w", err)
	}
	return SealPayload(TypeOf(m), payload, signers...)
}

// SealPayload signs a payload its author serialized already (payload is
// the exact bytes, payloadType the full protobuf name of its message) with
// every signer, and returns the serialized envelope, ready to send. It
// saves serializing again what was just built (a sealed message's bytes).
func SealPayload(payloadType string, payload []byte, signers ...Signer) ([]byte, error) {
	env := &mvmv1.Envelope{PayloadType: payloadType, Payload: payload}
	for _, s := range signers {
		sig, err := Sign(env.PayloadType, payload, s)
		if err != nil {
			return nil, err
		}
		env.Signatures = append(env.Signatures, sig)
	}
	return proto.Marshal(env)
}

// Sign produces one signature over PAE(payloadType, payload).
func Sign(payloadType string, payload []byte, s Signer) (*mvmv1.Signature, error) {
	if s.Key == nil || s.Certificate == nil {
		return nil, errors.New("sign: signer needs a key and a certificate")
	}
	msg := PAE(payloadType, payload)
	var sig []byte
	var err error
	switch k := s.Key.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("sign: Ed25519 private key of %d bytes", len(k))
		}
		// The same deterministic RFC 8032 signature as crypto/ed25519
		// makes, in half the time (precomputed base point tables).
		sig = voied.Sign(voied.PrivateKey(k), msg)
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, ErrUnsupportedKey
		}
		digest := sha256.Sum256(msg)
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest[:])
	default:
		return nil, ErrUnsupportedKey
	}
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	out := &mvmv1.Signature{Keyid: Fingerprint(s.Certificate.Raw), Sig: sig}
	if s.EmbedCertificate {
		out.Certificate = s.Certificate.Raw
	}
	return out, nil
}

// Verify checks sig over PAE(payloadType, payload) with pub.
func Verify(payloadType string, payload, sig []byte, pub crypto.PublicKey) error {
	msg := PAE(payloadType, payload)
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if !verifyEd25519(k, msg, sig) {
			return ErrBadSignature
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return ErrUnsupportedKey
		}
		digest := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(k, digest[:], sig) {
			return ErrBadSignature
		}
	default:
		return ErrUnsupportedKey
	}
	return nil
}

// Limits on what Parse accepts.
const (
	MaxSignatures     = 16
	MaxPayloadTypeLen = 128
)

// Parse decodes a serialized envelope and checks its shape: a payload type,
// a non-empty payload, 1..MaxSignatures signatures each with a key id and
// signature bytes, and no unknown fields.
func Parse(b []byte) (*mvmv1.Envelope, error) {
	env := &mvmv1.Envelope{}
	if err := proto.Unmarshal(b, env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return checkShape(env)
}

// checkShape checks a decoded envelope as Parse does.
func checkShape(env *mvmv1.Envelope) (*mvmv1.Envelope, error) {
	switch {
	case len(env.ProtoReflect().GetUnknown()) > 0:
		return nil, fmt.Errorf("%w: unknown fields", ErrMalformed)
	case env.PayloadType == "" || len(env.PayloadType) > MaxPayloadTypeLen:
		return nil, fmt.Errorf("%w: payload_type missing or longer than %d", ErrMalformed, MaxPayloadTypeLen)
	case len(env.Payload) == 0:
		return nil, fmt.Errorf("%w: empty payload", ErrMalformed)
	case len(env.Signatures) == 0:
		return nil, fmt.Errorf("%w: no signatures", ErrMalformed)
	case len(env.Signatures) > MaxSignatures:
		return nil, fmt.Errorf("%w: %d signatures, at most %d", ErrMalformed, len(env.Signatures), MaxSignatures)
	}
	for i, s := range env.Signatures {
		if len(s.ProtoReflect().GetUnknown()) > 0 || len(s.Sig) == 0 || len(s.Keyid) != 64 {
			return nil, fmt.Errorf("%w: signature %d needs a 64-hex-digit keyid and signature bytes", ErrMalformed, i)
		}
		if _, err := hex.DecodeString(s.Keyid); err != nil || strings.ToLower(s.Keyid) != s.Keyid {
			return nil, fmt.Errorf("%w: signature %d keyid must be lower-case hex", ErrMalformed, i)
		}
		if len(s.Certificate) > 0 && Fingerprint(s.Certificate) != s.Keyid {
			return nil, fmt.Errorf("%w: signature %d keyid is not the SHA-256 of its certificate", ErrMalformed, i)
		}
	}
	return env, nil
}
