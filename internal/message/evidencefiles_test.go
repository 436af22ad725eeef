package message_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func TestValidateEvidenceFiles(t *testing.T) {
	withFiles := func(mutate func(m *mvmv1.EvidenceSubmission)) func() *mvmv1.EvidenceSubmission {
		return func() *mvmv1.EvidenceSubmission {
			m := validEvidence()
			m.EvidenceSha256 = digests(2)
			m.Files = []*mvmv1.EvidenceFile{
				{StoredSha256: m.EvidenceSha256[0], StoredSize: 10, Name: "raid.mp4", MediaType: "video/mp4"},
				{StoredSha256: m.EvidenceSha256[1], StoredSize: 0, Name: "../../etc/passwd"}, // the reader sanitises
			}
			mutate(m)
			return m
		}
	}
	for _, c := range []struct {
		name   string
		mutate func(m *mvmv1.EvidenceSubmission)
		field  string
	}{
		{"valid", func(*mvmv1.EvidenceSubmission) {}, ""},
		{"no files", func(m *mvmv1.EvidenceSubmission) { m.Files = nil }, ""},
		{"digest not listed", func(m *mvmv1.EvidenceSubmission) { m.Files[1].StoredSha256 = digests(3)[2] }, "files[1].stored_sha256"},
		{"short digest", func(m *mvmv1.EvidenceSubmission) { m.Files[0].StoredSha256 = m.Files[0].StoredSha256[:31] }, "files[0].stored_sha256"},
		{"same file twice", func(m *mvmv1.EvidenceSubmission) { m.Files[1].StoredSha256 = m.Files[0].StoredSha256 }, "files[1].stored_sha256"},
		{"more files than digests", func(m *mvmv1.EvidenceSubmission) { m.Files = append(m.Files, m.Files[0]) }, "files"},
		{"nil file", func(m *mvmv1.EvidenceSubmission) { m.Files[0] = nil }, "files[0]"},
		{"negative size", func(m *mvmv1.EvidenceSubmission) { m.Files[0].StoredSize = -1 }, "files[0].stored_size"},
		{"no name", func(m *mvmv1.EvidenceSubmission) { m.Files[0].Name = "" }, "files[0].name"},
		{"long name", func(m *mvmv1.EvidenceSubmission) { m.Files[0].Name = strings.Repeat("x", message.MaxShortText+1) }, "files[0].name"},
		{"name not UTF-8", func(m *mvmv1.EvidenceSubmission) { m.Files[0].Name = "\xff" }, "files[0].name"},
		{"long media type", func(m *mvmv1.EvidenceSubmission) { m.Files[0].MediaType = strings.Repeat("x", message.MaxShortText+1) }, "files[0].media_type"},
		{"sealed file", func(m *mvmv1.EvidenceSubmission) {
			m.Files[0].PlaintextSha256, m.Files[0].PlaintextSize = digests(1)[0], 7
		}, ""},
		{"sealed empty file", func(m *mvmv1.EvidenceSubmission) { m.Files[0].PlaintextSha256 = digests(1)[0] }, ""},
		{"short plaintext digest", func(m *mvmv1.EvidenceSubmission) { m.Files[0].PlaintextSha256 = digests(1)[0][:31] }, "files[0].plaintext_sha256"},
		{"negative plaintext size", func(m *mvmv1.EvidenceSubmission) {
			m.Files[0].PlaintextSha256, m.Files[0].PlaintextSize = digests(1)[0], -1
		}, "files[0].plaintext_size"},
		{"plaintext size without digest", func(m *mvmv1.EvidenceSubmission) { m.Files[0].PlaintextSize = 7 }, "files[0].plaintext_size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := message.Validate(withFiles(c.mutate)())
			var fe *message.FieldError
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("got %v, want nil", err)
			case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field):
				t.Fatalf("got %v, want a FieldError for %s", err, c.field)
			}
		})
	}
}
