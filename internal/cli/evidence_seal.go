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

// uploader returns how lf is sent: as it is where s is nil (the package
// is not sealed), else sealed (sealedfile version 2) as it is read, its
// plaintext hashed in the same pass.
func (s *evidenceSealing) uploader(pkg string, lf *localFile) (*upload, error) {
	if s == nil {
		return clearUpload(pkg, lf), nil
	}
	// The file's start, which its nonce depends on: read here and again
	// as sealing begins (from the page cache; 1 MiB of the file).
	head := make([]byte, min(lf.size, sealedfile.HeadSize))
	if _, err := lf.f.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("--file %s: %w", lf.path, err)
	}
	nonce, err := sealedfile.FileNonceV2(s.key, pkg, lf.size, head)
	if err != nil {
		return nil, err
	}
	c, err := sealedfile.NewCipher(s.key, pkg, sealedfile.Header{Nonce: nonce, Size: lf.size, Version: sealedfile.Version2})
	if err != nil {
		return nil, err
	}
	// The upload's key is the server's to see: derived from the secret
	// file nonce, it does not show the file's name.
	k := sha256.Sum256([]byte(contextKey("mvm-evidence sealed upload", string(nonce[:]), lf.rec.Name)))
	u := &upload{key: k[:], size: c.SealedSize()}
	u.write = func(w io.Writer) error {
		sum, err := sealedfile.SealTo(w, c, io.NewSectionReader(lf.f, 0, lf.size))
		if err != nil {
			return fmt.Errorf("sealing %s: %w", lf.path, err)
		}
		u.plainSum = sum
		return nil
	}
	return u, nil
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
