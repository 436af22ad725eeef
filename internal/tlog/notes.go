package tlog

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// maxNoteSignatures is the most signature lines note.Open accepts.
const maxNoteSignatures = 100

type nameHash struct {
	name string
	hash uint32
}

func keyOf(s note.Signature) nameHash { return nameHash{s.Name, s.Hash} }

func verifierKey(v note.Verifier) nameHash { return nameHash{v.Name(), v.KeyHash()} }

// parseNote parses a signed note without verifying any signature: every
// signature ends up in UnverifiedSigs (note.Open drops repeated identical
// lines).
func parseNote(signed []byte) (*note.Note, error) {
	_, err := note.Open(signed, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if errors.As(err, &unverified) {
		return unverified.Note, nil
	}
	if err == nil { // Cannot happen with no verifiers.
		return nil, fmt.Errorf("%w: note verified without verifiers", ErrMalformed)
	}
	return nil, fmt.Errorf("%w: signed note: %w", ErrMalformed, err)
}

// parseSigLine parses one signature line ("— name base64\n"; the final
// newline may be omitted) as a signature on text. The line must be in
// canonical form.
func parseSigLine(text, line string) (note.Signature, error) {
	if !strings.HasSuffix(line, "\n") {
		line += "\n"
	}
	n, err := parseNote([]byte(text + "\n" + line))
	if err != nil {
		return note.Signature{}, fmt.Errorf("%w: signature line %q", ErrMalformed, line)
	}
	if len(n.UnverifiedSigs) != 1 || n.Text != text {
		return note.Signature{}, fmt.Errorf("%w: %q is not exactly one signature line", ErrMalformed, line)
	}
	s := n.UnverifiedSigs[0]
	if sigLine(s) != line || !canonicalBase64(s.Base64) {
		return note.Signature{}, fmt.Errorf("%w: signature line %q is not canonical", ErrMalformed, line)
	}
	return s, nil
}

// sigLine formats s the way note.Sign does.
func sigLine(s note.Signature) string {
	return "— " + s.Name + " " + s.Base64 + "\n"
}

// verifySig reports whether signature s on text verifies under v, using
// note.Open on the note made of text and that single signature.
func verifySig(text string, s note.Signature, v note.Verifier) error {
	if v.Name() != s.Name || v.KeyHash() != s.Hash {
		return fmt.Errorf("signature is by %s+%08x, verifier is %s+%08x", s.Name, s.Hash, v.Name(), v.KeyHash())
	}
	n, err := note.Open([]byte(text+"\n"+sigLine(s)), note.VerifierList(v))
	if err != nil {
		return err
	}
	if len(n.Sigs) != 1 {
		return fmt.Errorf("got %d verified signatures, want 1", len(n.Sigs))
	}
	return nil
}

// canonicalBase64 reports whether b64 is the standard, padded encoding of
// what it decodes to (no non-zero padding bits, no ignored characters).
func canonicalBase64(b64 string) bool {
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	return err == nil && base64.StdEncoding.EncodeToString(raw) == b64
}

// DecodeHash decodes one line of a proof in the C2SP text formats (the
// witness's add-checkpoint request, a fork proof): the standard padded
// base64 of a 32-byte hash and nothing else. Go's decoder skips '\r' and
// '\n' even in strict mode, so a line is accepted only if it is exactly the
// encoding of what it decodes to; every parser shares this one check.
func DecodeHash(line string) ([]byte, bool) {
	h, err := base64.StdEncoding.Strict().DecodeString(line)
	if err != nil || len(h) != HashSize || base64.StdEncoding.EncodeToString(h) != line {
		return nil, false
	}
	return h, true
}

// encodeNote re-emits a parsed note with note.Sign (verified signatures
// first, then unverified ones, each line as parsed).
func encodeNote(n *note.Note) ([]byte, error) {
	out, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs, UnverifiedSigs: n.UnverifiedSigs})
	if err != nil {
		return nil, fmt.Errorf("%w: re-encoding note: %w", ErrMalformed, err)
	}
	return out, nil
}
