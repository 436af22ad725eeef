package message

import (
	"bytes"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// evidenceFiles checks the stored files of an EvidenceSubmission: each
// names a distinct digest of the submission's evidence_sha256 and has a
// size. Names are the author's words, bounded here; a reader sanitises
// one before writing a file under it. req 0 (a sealed header) waives the
// name, which is then in the sealed body ([SensitiveFileFields]).
func evidenceFiles(files []*mvmv1.EvidenceFile, digests [][]byte, req int) error {
	if len(files) > len(digests) {
		return fieldErr("files", "%d files for %d digests: each file's digest is one of evidence_sha256", len(files), len(digests))
	}
	for i, f := range files {
		field := func(name string) string { return "files[" + itoa(i) + "]." + name }
		if f == nil {
			return fieldErr("files["+itoa(i)+"]", "is empty")
		}
		if len(f.StoredSha256) != EvidenceDigestLen {
			return fieldErr(field("stored_sha256"), "%d bytes, a SHA-256 digest has %d", len(f.StoredSha256), EvidenceDigestLen)
		}
		listed := false
		for _, d := range digests {
			listed = listed || bytes.Equal(d, f.StoredSha256)
		}
		if !listed {
			return fieldErr(field("stored_sha256"), "is not one of evidence_sha256")
		}
		for _, g := range files[:i] {
			if bytes.Equal(g.StoredSha256, f.StoredSha256) {
				return fieldErr(field("stored_sha256"), "names the same file as an earlier one")
			}
		}
		if f.StoredSize < 0 {
			return fieldErr(field("stored_size"), "%d: want zero or more bytes", f.StoredSize)
		}
		if err := firstErr(text(field("name"), f.Name, req, MaxShortText), text(field("media_type"), f.MediaType, 0, MaxShortText)); err != nil {
			return err
		}
		switch {
		case f.PlaintextSize < 0:
			return fieldErr(field("plaintext_size"), "%d: want zero or more bytes", f.PlaintextSize)
		case len(f.PlaintextSha256) != 0 && len(f.PlaintextSha256) != EvidenceDigestLen:
			return fieldErr(field("plaintext_sha256"), "%d bytes, a SHA-256 digest has %d", len(f.PlaintextSha256), EvidenceDigestLen)
		case len(f.PlaintextSha256) == 0 && f.PlaintextSize != 0:
			return fieldErr(field("plaintext_size"), "is for a sealed file, which has a plaintext_sha256")
		}
	}
	return nil
}

// SensitiveFileFields are the fields of each EvidenceSubmission file that
// a sealed submission carries only in its body: a file's name and media
// type can say what it shows, and the plaintext's digest would let the
// operator confirm a guess of the file. Its stored digest and size (of
// the ciphertext) stay in clear: the server checks the stored object
// against them before it logs the submission.
var SensitiveFileFields = []protoreflect.Name{"name", "media_type", "plaintext_size", "plaintext_sha256"}

// redactFiles clears the sensitive fields of each file of m, if m is an
// EvidenceSubmission.
func redactFiles(m proto.Message) {
	if p, ok := m.(*mvmv1.EvidenceSubmission); ok {
		for _, f := range p.Files {
			r := f.ProtoReflect()
			for _, n := range SensitiveFileFields {
				r.Clear(r.Descriptor().Fields().ByName(n))
			}
		}
	}
}

// sealedFilesClear checks that a sealed submission's files show no
// sensitive field.
func sealedFilesClear(m proto.Message) error {
	p, ok := m.(*mvmv1.EvidenceSubmission)
	if !ok {
		return nil
	}
	for i, f := range p.Files {
		r := f.ProtoReflect()
		for _, n := range SensitiveFileFields {
			if r.Has(r.Descriptor().Fields().ByName(n)) {
				return fieldErr("files["+itoa(i)+"]."+string(n), "must be empty in a sealed payload: it belongs in the sealed body")
			}
		}
	}
	return nil
}
