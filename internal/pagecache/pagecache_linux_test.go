package pagecache

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// hookSync makes the Writers' background syncs call fn until the test
// ends.
func hookSync(t *testing.T, fn func(*os.File) error) {
	datasync.Store(fn)
	t.Cleanup(func() { datasync.Store(fdatasync) })
}

// syncTestWriter is a Writer on a new file that starts a background sync
// every window.
func syncTestWriter(t *testing.T) *Writer {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := NewWriter(f, 0)
	w.every = Window
	return w
}

// A Writer syncs the file behind its writes, one sync at a time, and
// Sync waits for the one in flight before it returns.
func TestWriterSyncsBehind(t *testing.T) {
	var started, ended atomic.Int32
	release := make(chan struct{})
	hookSync(t, func(f *os.File) error {
		started.Add(1)
		<-release
		ended.Add(1)
		return fdatasync(f)
	})
	w := syncTestWriter(t)
	block := make([]byte, 1<<20)
	for range 4 * Window / len(block) {
		if _, err := w.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if got := started.Load(); got != 1 {
		t.Fatalf("%d background syncs started over four windows with the first still running, want 1", got)
	}
	synced := make(chan error)
	go func() { synced <- w.Sync() }()
	select {
	case err := <-synced:
		t.Fatalf("Sync returned (%v) with a background sync still running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	if ended.Load() != 1 {
		t.Fatalf("Sync returned before the background sync ended")
	}
	// The one in flight done, the next window starts another.
	for range 2 * Window / len(block) {
		if _, err := w.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if got := started.Load(); got != 2 {
		t.Errorf("%d background syncs started, want a second one once the first ended", got)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
}

// An error of a background sync (an I/O error the kernel reports once) is
// returned by a later Write or by Sync, never lost.
func TestWriterSyncError(t *testing.T) {
	bad := errors.New("EIO from the disk")
	for _, by := range []string{"Write", "Sync"} {
		t.Run(by, func(t *testing.T) {
			done := make(chan struct{})
			var once sync.Once
			hookSync(t, func(*os.File) error { once.Do(func() { close(done) }); return bad })
			w := syncTestWriter(t)
			block := make([]byte, 1<<20)
			for range Window / len(block) {
				if _, err := w.Write(block); err != nil {
					t.Fatal(err)
				}
			}
			select { // the sync started at the window's end has failed
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("no background sync started after a window was written")
			}
			var err error
			if by == "Write" {
				for range Window / len(block) {
					if _, err = w.Write(block); err != nil {
						break
					}
				}
			} else {
				err = w.Sync()
			}
			if !errors.Is(err, bad) {
				t.Fatalf("%s after a failed background sync: %v, want it", by, err)
			}
		})
	}
}
