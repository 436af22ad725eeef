package pagecache

import (
	"errors"
	"os"
	"path/filepath"
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

// hookSyncs makes the Writers' background syncs call datasync and their
// Sync call fsync (nil: the system's) until the test ends.
func hookSyncs(t *testing.T, datasync, fsync func(*os.File) error) {
	t.Cleanup(SetSyncs(datasync, fsync))
}

// syncTestWriter is a Writer on a new file that starts a background sync
// every `every` bytes.
func syncTestWriter(t *testing.T, every int64) *Writer {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := NewWriter(f, 0)
	w.every = every
	return w
}

// writeMiB writes n MiB to w, a MiB at a time, and returns the first
// error; after each Write, if wait, it waits for the background sync in
// flight to end (its outcome then waits for the next Write).
func writeMiB(t *testing.T, w *Writer, n int, wait bool) error {
	block := make([]byte, 1<<20)
	for range n {
		if _, err := w.Write(block); err != nil {
			return err
		}
		if wait && w.syncing != nil {
			ended(t, w)
		}
	}
	return nil
}

// ended waits until the background sync in flight has ended.
func ended(t *testing.T, w *Writer) {
	for deadline := time.Now().Add(5 * time.Second); len(w.syncing) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the background sync did not end in 5 s")
		}
	}
}

// A Writer syncs the file behind its writes, one sync at a time, and
// Sync waits for the one in flight before it returns.
func TestWriterSyncsBehind(t *testing.T) {
	var started, finished atomic.Int32
	release := make(chan struct{})
	hookSyncs(t, func(f *os.File) error {
		started.Add(1)
		<-release
		finished.Add(1)
		return fdatasync(f)
	}, nil)
	w := syncTestWriter(t, Window)
	if err := writeMiB(t, w, 4*Window>>20, false); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); started.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
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
	if finished.Load() != 1 {
		t.Fatalf("Sync returned before the background sync ended")
	}
	// The one in flight done, the next window starts another.
	if err := writeMiB(t, w, 2*Window>>20, false); err != nil {
		t.Fatal(err)
	}
	if w.syncing != nil {
		ended(t, w)
	}
	if got := started.Load(); got != 2 {
		t.Errorf("%d background syncs started, want a second one once the first ended", got)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
}

// A background sync starts every `every` bytes, not on every write once
// the first is due.
func TestWriterSyncsEvery(t *testing.T) {
	var started atomic.Int32
	hookSyncs(t, func(*os.File) error { started.Add(1); return nil }, nil)
	w := syncTestWriter(t, 4*Window)
	if err := writeMiB(t, w, 8*Window>>20, true); err != nil {
		t.Fatal(err)
	}
	if got := started.Load(); got != 2 {
		t.Errorf("%d background syncs over 8 windows, one every 4 windows: want 2", got)
	}
}

// Sync fsyncs the file (the background syncs leave the last bytes), and
// its error is the Writer's.
func TestWriterSyncFsyncs(t *testing.T) {
	bad := errors.New("EIO from the disk")
	var calls atomic.Int32
	hookSyncs(t, nil, func(*os.File) error { calls.Add(1); return bad })
	w := syncTestWriter(t, SyncEvery)
	if err := writeMiB(t, w, 1, false); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); !errors.Is(err, bad) || !errors.Is(err, ErrWriteback) {
		t.Fatalf("Sync with a failing fsync: %v, want it as ErrWriteback", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("Sync called fsync %d times, want 1", calls.Load())
	}
	if err := w.Sync(); !errors.Is(err, bad) || calls.Load() != 1 {
		t.Fatalf("Sync again: %v after %d fsyncs, want the first error and no new fsync", err, calls.Load())
	}
}

// An error of a background sync (an I/O error the kernel reports once) is
// returned by a later Write or by Sync, and from then on by every Write
// and Sync: a later sync that succeeds (the kernel reports the error only
// once) must not make the file look durable.
func TestWriterSyncError(t *testing.T) {
	bad := errors.New("EIO from the disk")
	for _, by := range []string{"Write", "Sync"} {
		t.Run(by, func(t *testing.T) {
			var once atomic.Bool
			hookSyncs(t, func(*os.File) error {
				if once.CompareAndSwap(false, true) {
					return bad
				}
				return nil // reported once only
			}, nil)
			w := syncTestWriter(t, Window)
			if err := writeMiB(t, w, Window>>20, false); err != nil {
				t.Fatal(err)
			}
			ended(t, w) // the sync started at the window's end has failed
			var err error
			if by == "Write" { // the next window's end looks
				err = writeMiB(t, w, Window>>20, false)
			} else {
				err = w.Sync()
			}
			if !errors.Is(err, bad) || !errors.Is(err, ErrWriteback) {
				t.Fatalf("%s after a failed background sync: %v, want it as ErrWriteback", by, err)
			}
			if err := writeMiB(t, w, 1, false); !errors.Is(err, bad) {
				t.Errorf("a Write after the error was reported: %v, want it again", err)
			}
			if err := w.Sync(); !errors.Is(err, bad) {
				t.Errorf("Sync after the error was reported: %v, want it again", err)
			}
		})
	}
}
