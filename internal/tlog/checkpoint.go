package tlog

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a C2SP tlog-checkpoint body: origin, size and root hash.
type Checkpoint = log.Checkpoint

// GenerateLogKey generates an Ed25519 signed-note key pair for the log whose
// key name is the origin (golang.org/x/mod/sumdb/note.GenerateKey). skey is
// secret; vkey is published to every party.
func GenerateLogKey(origin string) (skey, vkey string, err error) {
	if err := checkOrigin(origin); err != nil {
		return "", "", err
	}
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("tlog: generating log key: %w", err)
	}
	return skey, vkey, nil
}

// SignCheckpoint returns the signed note for the checkpoint (origin, size,
// root). The signer's key name must be the origin and root must be HashSize
// bytes. The body is exactly log.Checkpoint.Marshal(): no extension lines.
func SignCheckpoint(s note.Signer, origin string, size uint64, root []byte) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil log signer", ErrInvalidKey)
	}
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	if s.Name() != origin {
		return nil, fmt.Errorf("%w: log key is named %q, origin is %q", ErrOriginMismatch, s.Name(), origin)
	}
	if len(root) != HashSize {
		return nil, fmt.Errorf("%w: root hash is %d bytes, want %d", ErrMalformed, len(root), HashSize)
	}
	body := log.Checkpoint{Origin: origin, Size: size, Hash: root}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(body)}, s)
	if err != nil {
		return nil, fmt.Errorf("tlog: signing checkpoint %s/%d: %w", origin, size, err)
	}
	return signed, nil
}

// OpenCheckpoint verifies that signed is a checkpoint signed by logKey for
// origin and returns the parsed checkpoint and note.
//
// The body must be exactly the canonical three lines (no extension lines)
// with a HashSize root hash. In the returned note, Sigs holds the log
// signature followed by each cosignature that verifies under one of the
// cosigners (at most one per key); every other signature line, including an
// invalid one from a known cosigner, is left in UnverifiedSigs and is not an
// error: a bad cosignature line does not invalidate the log's statement.
func OpenCheckpoint(signed []byte, origin string, logKey note.Verifier, cosigners ...note.Verifier) (*log.Checkpoint, *note.Note, error) {
	if logKey == nil {
		return nil, nil, fmt.Errorf("%w: nil log verifier", ErrInvalidKey)
	}
	n, err := note.Open(signed, note.VerifierList(logKey))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, nil, fmt.Errorf("%w: checkpoint not signed by %s+%08x: %w", ErrInvalidSignature, logKey.Name(), logKey.KeyHash(), err)
		case errors.As(err, &invalid):
			return nil, nil, fmt.Errorf("%w: checkpoint: %w", ErrInvalidSignature, err)
		default:
			return nil, nil, fmt.Errorf("%w: checkpoint note: %w", ErrMalformed, err)
		}
	}
	if len(n.Sigs) != 1 || !canonicalBase64(n.Sigs[0].Base64) {
		// The log signature must be byte-exact: base64 with non-zero padding
		// bits decodes to the same signature and would otherwise pass.
		return nil, nil, fmt.Errorf("%w: log signature is not canonical base64", ErrMalformed)
	}
	cp := &log.Checkpoint{}
	rest, err := cp.Unmarshal([]byte(n.Text))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: checkpoint body: %w", ErrMalformed, err)
	}
	if cp.Origin != origin {
		return nil, nil, fmt.Errorf("%w: got %q, want %q", ErrOriginMismatch, cp.Origin, origin)
	}
	if len(rest) != 0 {
		return nil, nil, fmt.Errorf("%w: checkpoint has %d bytes of extension lines", ErrMalformed, len(rest))
	}
	if len(cp.Hash) != HashSize {
		return nil, nil, fmt.Errorf("%w: checkpoint root hash is %d bytes, want %d", ErrMalformed, len(cp.Hash), HashSize)
	}
	if !bytes.Equal(cp.Marshal(), []byte(n.Text)) {
		return nil, nil, fmt.Errorf("%w: checkpoint body is not canonical", ErrMalformed)
	}
	verifyCosignatures(n, logKey, cosigners)
	return cp, n, nil
}

// Verified is an opened checkpoint (n, from [OpenCheckpoint]) encoded
// again with the signatures it verified only (the log's, when opened
// without cosigners), none of the lines it left unverified: what a
// replica, a witness or a restore stores as the log signed it.
func Verified(n *note.Note) ([]byte, error) {
	return note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs})
}

// verifyCosignatures moves the signatures of n.UnverifiedSigs that verify
// under one of cosigners into n.Sigs, at most one per key.
func verifyCosignatures(n *note.Note, logKey note.Verifier, cosigners []note.Verifier) {
	if len(cosigners) == 0 || len(n.UnverifiedSigs) == 0 {
		return
	}
	seen := map[nameHash]bool{verifierKey(logKey): true}
	var rest []note.Signature
	for _, s := range n.UnverifiedSigs {
		ok := false
		if !seen[keyOf(s)] {
			for _, v := range cosigners {
				if v != nil && verifySig(n.Text, s, v) == nil {
					ok = true
					break
				}
			}
		}
		if ok {
			seen[keyOf(s)] = true
			n.Sigs = append(n.Sigs, s)
		} else {
			rest = append(rest, s)
		}
	}
	n.UnverifiedSigs = rest
}

// checkOrigin checks that origin can be both a checkpoint origin line and a
// signed-note key name.
func checkOrigin(origin string) error {
	switch {
	case origin == "":
		return fmt.Errorf("%w: empty origin", ErrMalformed)
	case !utf8.ValidString(origin):
		return fmt.Errorf("%w: origin is not UTF-8", ErrMalformed)
	case strings.ContainsRune(origin, '+'):
		return fmt.Errorf("%w: origin %q contains '+'", ErrMalformed, origin)
	case strings.IndexFunc(origin, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("%w: origin %q contains a space or control character", ErrMalformed, origin)
	}
	return nil
}
