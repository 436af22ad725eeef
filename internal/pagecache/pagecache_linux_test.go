package pagecache

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident is how many bytes of f's first n are in the page cache.
func resident(t *testing.T, f *os.File, n int) int {
	t.Helper()
	m, err := unix.Mmap(int(f.Fd()), 0, n, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (n+page-1)/page)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(n), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	k := 0
	for _, v := range vec {
		k += int(v & 1)
	}
	return k * page
}

// A file of many windows written through the package keeps at most
// three windows of it in the page cache; read through it, two and the
// window being read.
func TestCacheBounded(t *testing.T) {
	const size = 8 * Window
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the test directory is on tmpfs, whose pages are the file itself")
	}
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f, 0)
	piece := pattern(1 << 20)
	for range size / len(piece) {
		if _, err := w.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	if got := resident(t, f, size); got > 3*Window {
		t.Errorf("after writing %d MiB: %d MiB in the page cache, want at most %d", size>>20, got>>20, 3*Window>>20)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	// Read it all: the cache holds the last windows read only.
	r := NewReader(f, 0, size)
	buf := make([]byte, 256<<10)
	for {
		if _, err := r.Read(buf); err != nil {
			break
		}
	}
	if got := resident(t, f, size); got > 3*Window {
		t.Errorf("after reading %d MiB: %d MiB in the page cache, want at most %d", size>>20, got>>20, 3*Window>>20)
	}
}
