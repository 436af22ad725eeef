package seal_test

import (
	"bytes"
	"testing"

	"github.com/mvm-exchange/mvm/internal/seal"
)

// TestAppendSealBody: the body is appended after what dst holds, which
// stays as it was, with no new allocation when dst has the room, and it
// opens as a body of SealBody does.
func TestAppendSealBody(t *testing.T) {
	key := mustPackageKey(t)
	aad, plaintext := []byte("the header's bytes"), []byte("the body's plaintext")
	prefix := []byte("a payload's leading fields")
	dst := make([]byte, len(prefix), len(prefix)+seal.BodyOverhead+len(plaintext))
	copy(dst, prefix)
	out, err := seal.AppendSealBody(dst, key, bodyContext, aad, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:len(prefix)], prefix) {
		t.Fatalf("the leading bytes changed: %q, want %q", out[:len(prefix)], prefix)
	}
	if &out[0] != &dst[0] {
		t.Error("the body was not written in dst's room")
	}
	body := out[len(prefix):]
	if len(body) != seal.BodyOverhead+len(plaintext) {
		t.Fatalf("a body of %d bytes, want %d", len(body), seal.BodyOverhead+len(plaintext))
	}
	got, err := seal.OpenBody(key, bodyContext, aad, body)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("OpenBody = %q, %v; want %q", got, err, plaintext)
	}
}
