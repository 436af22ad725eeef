package tlog

import (
	"bytes"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// NewSigner's checkpoints are note's, byte for byte, and open with the
// matching verifier.
func TestNewSignerMatchesNote(t *testing.T) {
	skey, vkey := detKey(t, "example.com/log", "signer")
	fast, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fast.(*voiSigner); !ok {
		t.Fatalf("NewSigner gave %T for an Ed25519 key, want the curve25519-voi signer", fast)
	}
	ref := mustSigner(t, skey)
	if fast.Name() != ref.Name() || fast.KeyHash() != ref.KeyHash() {
		t.Fatalf("name/hash %s/%08x, want %s/%08x", fast.Name(), fast.KeyHash(), ref.Name(), ref.KeyHash())
	}
	for size := range uint64(5) {
		root := bytes.Repeat([]byte{byte(size)}, HashSize)
		got, err := SignCheckpoint(fast, "example.com/log", size+1, root)
		if err != nil {
			t.Fatal(err)
		}
		want, err := SignCheckpoint(ref, "example.com/log", size+1, root)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("checkpoint %d:\n%s\nnote's:\n%s", size+1, got, want)
		}
		if _, err := note.Open(got, note.VerifierList(mustVerifier(t, vkey))); err != nil {
			t.Fatalf("checkpoint %d does not open: %v", size+1, err)
		}
	}
	if _, err := NewSigner("PRIVATE+KEY+bad"); err == nil {
		t.Error("NewSigner accepted a malformed key")
	}
}
