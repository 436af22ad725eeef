package message

import (
	"bytes"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// evidenceFiles checks the stored files of an EvidenceSubmission: each
// names a distinct digest of the submission's evidence_sha256 and has a
// size. Names are the author's words, bounded here; a reader sanitises
// one before writing a file under it.
func evidenceFiles(files []*mvmv1.EvidenceFile, digests [][]byte) error {
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
		if err := firstErr(text(field("name"), f.Name, 1, MaxShortText), text(field("media_type"), f.MediaType, 0, MaxShortText)); err != nil {
			return err
		}
	}
	return nil
}
