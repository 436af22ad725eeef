package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	if err := os.WriteFile(path, []byte("before"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Aborted: the old content stays, and nothing else is left.
	o, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	o.Write([]byte("half"))
	o.Abort()
	if b, _ := os.ReadFile(path); string(b) != "before" {
		t.Errorf("after Abort: %q, want the old content", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("after Abort: %d files in the directory, want 1", len(ents))
	}
	// Committed: the new content, mode 0600, nothing else left.
	if err := WriteFile(path, []byte("after"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "after" || fi.Mode().Perm() != 0o600 {
		t.Errorf("after Commit: %q mode %v, want \"after\" mode 0600", b, fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("after Commit: %d files in the directory, want 1", len(ents))
	}
	// A directory that does not exist is found before anything is written.
	if _, err := Create(filepath.Join(dir, "missing", "out")); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
	// Another mode is set before the file is in place.
	if err := WriteFile(path, []byte("public"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("WriteFile with mode 0644: %v, %v", fi.Mode().Perm(), err)
	}
}
