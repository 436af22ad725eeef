package evidence_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/pagecache"
)

// An upload whose file the disk fails to store, whether a background
// sync or the fsync at the end sees the error (which the kernel reports
// once), is refused and leaves nothing: no object, and no partial file
// whose bytes a resumed upload would hash from the page cache and a
// later fsync would call durable.
func TestDirDiskFails(t *testing.T) {
	eio := errors.New("input/output error")
	fail := func(*os.File) error { return eio }
	for _, tc := range []struct {
		name            string
		size            int
		datasync, fsync func(*os.File) error
	}{
		{"background sync", pagecache.SyncEvery + 2*pagecache.Window, fail, nil},
		{"final fsync", 300_000, nil, fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s, err := evidence.NewDir(root)
			if err != nil {
				t.Fatal(err)
			}
			b := data(tc.size, 5)
			d := digest(b)
			ctx := context.Background()
			restore := pagecache.SetSyncs(tc.datasync, tc.fsync)
			held, err := s.Write(ctx, d, int64(len(b)), 0, bytes.NewReader(b))
			restore()
			if !errors.Is(err, eio) || !errors.Is(err, pagecache.ErrWriteback) || held != 0 {
				t.Fatalf("Write onto a failing disk: held %d, %v; want 0 and the disk's error", held, err)
			}
			if off, err := s.Offset(ctx, d, int64(len(b))); err != nil || off != 0 {
				t.Errorf("Offset after the disk failed: %d, %v; want 0", off, err)
			}
			for _, dir := range []string{"objects", "partial"} {
				if ents, _ := os.ReadDir(filepath.Join(root, dir)); len(ents) != 0 {
					t.Errorf("%s/ holds %d files after the disk failed, want none", dir, len(ents))
				}
			}
			// The disk well again, the upload goes through from its start.
			if err := evidence.Put(ctx, s, d, int64(len(b)), bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, s, d, 0, -1); !bytes.Equal(got, b) {
				t.Error("the object stored afterwards is not the file")
			}
		})
	}
}
