package tlog

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// GenerateCosignerKey generates an Ed25519 key pair for a cosigner (a
// mediator) producing C2SP tlog-cosignature cosignature/v1 signatures. skey
// is a standard signed-note Ed25519 private key, which
// formats/note.NewSignerForCosignatureV1 accepts; vkey is the
// cosignature/v1 (algorithm 0x04) verifier key that
// formats/note.NewVerifierForCosignatureV1 accepts.
func GenerateCosignerKey(name string) (skey, vkey string, err error) {
	if err := checkOrigin(name); err != nil {
		return "", "", fmt.Errorf("tlog: cosigner name: %w", err)
	}
	skey, plain, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("tlog: generating cosigner key: %w", err)
	}
	vkey, err = fnote.VKeyToCosignatureV1(plain)
	if err != nil {
		return "", "", fmt.Errorf("%w: converting cosigner key: %w", ErrInvalidKey, err)
	}
	return skey, vkey, nil
}

// Cosign verifies signedCheckpoint (log signature, origin, canonical body)
// and returns the cosignature/v1 signature line ("— name base64\n") of the
// cosigner key skey over it, ready for AddCosignatures. The caller is
// responsible for anything else a cosigner must check first, such as
// consistency with the last checkpoint it cosigned.
func Cosign(skey string, signedCheckpoint []byte, origin string, logKey note.Verifier) (string, error) {
	_, n, err := OpenCheckpoint(signedCheckpoint, origin, logKey)
	if err != nil {
		return "", err // already says which check failed
	}
	signer, err := NewCosigner(skey)
	if err != nil {
		return "", err
	}
	return CosignOpened(signer, n)
}

// NewCosigner parses the cosigner key skey once, for [CosignOpened] (a
// witness that cosigns many checkpoints).
func NewCosigner(skey string) (note.Signer, error) {
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, fmt.Errorf("%w: cosigner key: %w", ErrInvalidKey, err)
	}
	return signer, nil
}

// CosignOpened is [Cosign] of a checkpoint the caller has opened: n must
// be the note [OpenCheckpoint] returned (log signature, origin and
// canonical body verified), which is not verified again; signer is from
// [NewCosigner].
func CosignOpened(signer note.Signer, n *note.Note) (string, error) {
	out, err := note.Sign(&note.Note{Text: n.Text}, signer)
	if err != nil {
		return "", fmt.Errorf("tlog: cosign: %w", err)
	}
	return string(out[len(n.Text)+1:]), nil
}

// AddCosignatures returns signedCheckpoint with the given signature lines
// appended. Lines from a key (name and key hash) that already signed the
// note, or that appear earlier in sigLines, are dropped: note.Open only ever
// looks at the first signature of each key, so the log signature can never
// be displaced. The lines are checked for syntax only; verify each with
// VerifyCosignature before adding it. The result, like the input, must stay
// within the 100 signatures note.Open accepts.
func AddCosignatures(signedCheckpoint []byte, sigLines []string) ([]byte, error) {
	n, err := parseNote(signedCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("add cosignatures: %w", err)
	}
	seen := map[nameHash]bool{}
	var sigs []note.Signature
	for _, s := range n.UnverifiedSigs {
		if !seen[keyOf(s)] {
			seen[keyOf(s)] = true
			sigs = append(sigs, s)
		}
	}
	for _, line := range sigLines {
		s, err := parseSigLine(n.Text, line)
		if err != nil {
			return nil, fmt.Errorf("add cosignatures: %w", err)
		}
		if !seen[keyOf(s)] {
			seen[keyOf(s)] = true
			sigs = append(sigs, s)
		}
	}
	if len(sigs) > maxNoteSignatures {
		return nil, fmt.Errorf("%w: %d signatures, at most %d", ErrTooManySignatures, len(sigs), maxNoteSignatures)
	}
	return encodeNote(&note.Note{Text: n.Text, UnverifiedSigs: sigs})
}

// VerifyCosignature checks that sigLine is a valid cosignature by the
// cosigner key cosignerVKey on the text of signedCheckpoint and returns the
// time the cosigner signed at. It does not check the log signature: use
// OpenCheckpoint or CountCosigners for that.
func VerifyCosignature(signedCheckpoint []byte, sigLine string, cosignerVKey string) (time.Time, error) {
	v, err := fnote.NewVerifierForCosignatureV1(cosignerVKey)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: cosigner key: %w", ErrInvalidKey, err)
	}
	n, err := parseNote(signedCheckpoint)
	if err != nil {
		return time.Time{}, fmt.Errorf("verify cosignature: %w", err)
	}
	s, err := parseSigLine(n.Text, sigLine)
	if err != nil {
		return time.Time{}, fmt.Errorf("verify cosignature: %w", err)
	}
	if err := verifySig(n.Text, s, v); err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %w", ErrInvalidCosignature, strings.TrimSuffix(sigLine, "\n"), err)
	}
	ts, err := fnote.CoSigV1Timestamp(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: cosignature timestamp: %w", ErrInvalidCosignature, err)
	}
	return ts, nil
}

// CountCosigners verifies signedCheckpoint against the log key and origin
// (see OpenCheckpoint) and returns the number of distinct cosigner names,
// among cosignerVKeys, with a valid cosignature on it. Duplicate lines,
// several keys of one name, lines from keys not in cosignerVKeys and invalid
// lines never add to the count.
func CountCosigners(signedCheckpoint []byte, origin string, logKey note.Verifier, cosignerVKeys []string) (int, error) {
	verifiers := make([]note.Verifier, 0, len(cosignerVKeys))
	for _, k := range cosignerVKeys {
		v, err := fnote.NewVerifierForCosignatureV1(k)
		if err != nil {
			return 0, fmt.Errorf("%w: cosigner key %q: %w", ErrInvalidKey, k, err)
		}
		verifiers = append(verifiers, v)
	}
	_, n, err := OpenCheckpoint(signedCheckpoint, origin, logKey, verifiers...)
	if err != nil {
		return 0, fmt.Errorf("count cosigners: %w", err)
	}
	logID := verifierKey(logKey)
	names := map[string]bool{}
	for _, s := range n.Sigs {
		if keyOf(s) != logID {
			names[s.Name] = true
		}
	}
	return len(names), nil
}
