package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// A resumed file keeps what an earlier run left (Keep), is made 0600
// before a byte is written, continues at its end, and takes its final
// name only on Commit; Abort removes it; anything but a regular file at
// its name is not touched.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "film.mp4")
	f, n, err := Resume(path, "ab")
	if err != nil || n != 0 {
		t.Fatalf("first Resume: %d bytes, %v", n, err)
	}
	f.Write([]byte("hello "))
	if err := f.Keep(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // after Keep: nothing
	tmp := PartialName(path, "ab")
	if err := os.Chmod(tmp, 0o644); err != nil {
		t.Fatalf("the kept file: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("the final name exists before Commit")
	}

	f, n, err = Resume(path, "ab")
	if err != nil || n != 6 {
		t.Fatalf("second Resume: %d bytes, %v; want the 6 kept", n, err)
	}
	if fi, _ := os.Stat(tmp); fi.Mode().Perm() != 0o600 {
		t.Errorf("resumed file mode %v, want 0600", fi.Mode().Perm())
	}
	f.Write([]byte("world"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "hello world" {
		t.Errorf("committed %q, want %q", b, "hello world")
	}
	if _, err := os.Stat(tmp); err == nil {
		t.Error("the temporary file is left after Commit")
	}

	// Truncate cuts what was kept; Abort removes it.
	f, _, _ = Resume(path, "cd")
	f.Write([]byte("0123456789"))
	if err := f.Truncate(4); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("x"))
	f.Keep()
	if b, _ := os.ReadFile(PartialName(path, "cd")); string(b) != "0123x" {
		t.Errorf("after Truncate(4) and a write: %q, want %q", b, "0123x")
	}
	f, _, _ = Resume(path, "cd")
	f.Abort()
	if _, err := os.Stat(PartialName(path, "cd")); err == nil {
		t.Error("Abort left the temporary file")
	}

	// A symbolic link at the temporary name is refused, and kept.
	target := filepath.Join(dir, "elsewhere")
	os.WriteFile(target, []byte("not mine"), 0o644)
	if err := os.Symlink(target, PartialName(path, "ef")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resume(path, "ef"); err == nil {
		t.Error("Resume through a symbolic link succeeded")
	}
	if b, _ := os.ReadFile(target); string(b) != "not mine" {
		t.Errorf("the link's target became %q", b)
	}
}

// A file whose bytes Keep cannot make durable is not kept: a next run
// would resume from bytes that may not be on the disk.
func TestKeepFailsRemoves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "film.mp4")
	f, _, err := Resume(path, "ab")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	f.File.Close() // its fsync now fails
	if err := f.Keep(); err == nil {
		t.Fatal("Keep with a failing fsync: nil error")
	}
	if _, err := os.Stat(PartialName(path, "ab")); !os.IsNotExist(err) {
		t.Errorf("the partial file after a failed Keep: %v, want it removed", err)
	}
}
