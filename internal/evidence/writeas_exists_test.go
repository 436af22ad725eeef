package evidence_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/evidence/evidencetest"
)

// An upload held under a key of the caller's (WriteAs, the digest known
// only at the end) that turns out to be of an object already stored is
// refused with ErrExists and changes nothing: the "never overwritten"
// guarantee must hold when the name is learnt last, not only when Offset
// can see it first.
func writeAsExisting(t *testing.T, s evidence.Store) {
	ctx := context.Background()
	b := data(7000, 9)
	d := digest(b)
	if err := evidence.Put(ctx, s, d, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	key := digest([]byte("the caller's upload key"))
	_, err := s.WriteAs(ctx, key, int64(len(b)), 0, bytes.NewReader(b), func() (evidence.Digest, error) { return d, nil })
	if !errors.Is(err, evidence.ErrExists) {
		t.Fatalf("WriteAs of a stored object's bytes under another key: %v, want ErrExists", err)
	}
	if got := readAll(t, s, d, 0, -1); !bytes.Equal(got, b) {
		t.Error("the stored object changed")
	}
	if off, err := s.Offset(ctx, key, int64(len(b))); err != nil || off != 0 {
		t.Errorf("Offset(key) = %d, %v; want 0: the refused upload leaves nothing held", off, err)
	}
}

func TestDirWriteAsNeverOverwrites(t *testing.T) {
	root := t.TempDir()
	s, err := evidence.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	b := data(7000, 9)
	writeAsExisting(t, s)
	// The object's file is the one first linked, not a replacement.
	path := filepath.Join(root, "objects", digest(b).String())
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	key := digest([]byte("a second upload key"))
	if _, err := s.WriteAs(context.Background(), key, int64(len(b)), 0, bytes.NewReader(b),
		func() (evidence.Digest, error) { return digest(b), nil }); !errors.Is(err, evidence.ErrExists) {
		t.Fatalf("second WriteAs: %v, want ErrExists", err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the stored object's file was replaced")
	}
}

func TestS3WriteAsNeverOverwrites(t *testing.T) {
	s, err := evidence.NewS3(context.Background(), evidencetest.VersityGW(t))
	if err != nil {
		t.Fatal(err)
	}
	writeAsExisting(t, s)
}
