package tlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"golang.org/x/mod/sumdb/note"
)

// NewSigner parses a note signer key, as note.NewSigner does, and returns
// a signer whose signatures are note's byte for byte (Ed25519 signatures
// are deterministic) but computed with curve25519-voi, about twice as fast
// as crypto/ed25519 here: the writer signs a checkpoint per batch, on its
// critical path. A key it does not recognise as Ed25519, or a signature
// that differs from note's on a self-check, gives note's own signer.
func NewSigner(skey string) (note.Signer, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	// PRIVATE+KEY+<name>+<hash>+<base64(algorithm byte 1 || seed)>; the
	// base64 may hold '+' too, the name may not.
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return s, nil
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		return s, nil
	}
	fast := &voiSigner{Signer: s, key: voied.NewKeyFromSeed(key[1:])}
	msg := []byte("mvm checkpoint signer self-check\n")
	want, err1 := s.Sign(msg)
	got, err2 := fast.Sign(msg)
	if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
		return s, nil
	}
	return fast, nil
}

type voiSigner struct {
	note.Signer // name and key hash
	key         voied.PrivateKey
}

func (v *voiSigner) Sign(msg []byte) ([]byte, error) { return voied.Sign(v.key, msg), nil }
