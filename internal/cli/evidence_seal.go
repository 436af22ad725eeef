package cli

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/evidence/sealedfile"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Sealed evidence files: where a package's bodies are sealed, its files
// are sealed too, on the client, before they leave it (package
// evidence/sealedfile): the exchange stores and checks ciphertext only,
// and the signed submission names each file's plaintext in its sealed
// body.

// evidenceSealing is what a submission on a sealed package is sealed
// with: the package key, and the log origin the message is sealed for.
type evidenceSealing struct {
	origin string
	key    seal.PackageKey
}

// evidenceSealingFor returns how files and the submission on package id
// are sealed; nil when the package is not sealed. As for every other
// message, the answer comes from the verified log, never the server's
// word; without the pinned agreement and log key to verify it, files are
// refused rather than risk sending them in clear.
func (e *env) evidenceSealingFor(ctx context.Context, c *mvmclient.Client, id string, files bool) (*evidenceSealing, error) {
	_, _, agErr := e.pinnedAgreement("")
	_, keyErr := e.logVerifier("")
	if agErr != nil || keyErr != nil {
		if files {
			return nil, fmt.Errorf("evidence --file needs the pinned agreement and log key (--certs) to tell whether the package's files must be sealed: nothing sent: %w", firstNonNil(agErr, keyErr))
		}
		return nil, nil
	}
	ver, err := e.verifiedLog(ctx, c, "", nil, audit.Options{AgreementsOnly: true})
	if err != nil {
		return nil, err
	}
	target, err := e.verifiedTarget(ctx, c, id, ver)
	switch {
	case err != nil:
		return nil, err
	case target == nil && files:
		// Whether to seal is the target package's to say: a server that
		// withholds it must not get the files in clear.
		return nil, fmt.Errorf("package %s: the server shows no target package for it, so whether its files must be sealed is unknown: nothing sent", id)
	case target == nil || !message.IsSealed(target):
		return nil, nil
	}
	kr, err := e.keyring(c)
	if err != nil {
		return nil, err
	}
	if kr == nil {
		return nil, fmt.Errorf("package %s is sealed: your party's decryption key is needed to seal its files and submission, nothing sent", id)
	}
	origin := ver.Agreements[len(ver.Agreements)-1].LogOrigin
	key, err := kr.PackageKey(origin, target)
	if err != nil {
		return nil, err
	}
	return &evidenceSealing{origin: origin, key: key}, nil
}

func firstNonNil(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// sealFile turns lf into its sealed form: what is uploaded is the sealed
// view of the file, named by its SHA-256 (one more pass over the file,
// sealing it), and lf.rec describes both.
func (s *evidenceSealing) sealFile(pkg string, lf *localFile) error {
	nonce, err := sealedfile.FileNonce(s.key, pkg, lf.sum)
	if err != nil {
		return err
	}
	c, err := sealedfile.NewCipher(s.key, pkg, sealedfile.Header{Nonce: nonce, Size: lf.size})
	if err != nil {
		return err
	}
	r := sealedfile.NewReader(c, lf.f)
	h := sha256.New()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(r, 0, r.Size()), buf); err != nil {
		return fmt.Errorf("sealing %s: %w", lf.path, err)
	}
	lf.rec.PlaintextSha256, lf.rec.PlaintextSize = lf.sum, lf.size
	lf.sum, lf.size, lf.upload = h.Sum(nil), r.Size(), r
	lf.rec.StoredSha256, lf.rec.StoredSize = lf.sum, lf.size
	return nil
}

// seal returns the submission m sealed under the package key.
func (s *evidenceSealing) seal(m *mvmv1.EvidenceSubmission) (proto.Message, error) {
	if s == nil {
		return m, nil
	}
	return message.SealMessage(m, s.origin, s.key)
}

// readKey returns the key to open the sealed files of the verified
// package v with: nil when the package is not sealed, or an error saying
// why the caller cannot open them.
func (e *env) readKey(c *mvmclient.Client, v *mvmclient.VerifiedPackage) (*seal.PackageKey, error) {
	if len(v.Entries) == 0 || v.Entries[0].Type != message.TypeTargetPackage {
		return nil, nil
	}
	// The payload shown may be the opened one, without the wrapped keys:
	// take them from the bytes the author signed.
	m, err := message.Decode(message.TypeTargetPackage, v.Entries[0].SignedPayload)
	if err != nil {
		return nil, err
	}
	target := m.(*mvmv1.TargetPackage)
	if !message.IsSealed(target) {
		return nil, nil
	}
	kr, err := e.keyring(c)
	if err != nil {
		return nil, err
	}
	if kr == nil {
		return nil, fmt.Errorf("package %s is sealed and party %s has no decryption key here: its files cannot be opened", v.State.ID, c.ID.Party)
	}
	// Every agreement of a log has the log's origin (the ledger refuses
	// another), which the verified checkpoint carries.
	key, err := kr.PackageKey(v.Checkpoint.Origin, target)
	if err != nil {
		return nil, err
	}
	return &key, nil
}
