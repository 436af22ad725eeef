// Package pagecache writes and reads a long file through the page cache
// without keeping it there: as the file grows, what was written is handed
// to the disk a window at a time and, a window later, waited on and
// dropped from the cache, so a file of any size holds at most three
// windows of cache and the pages it frees are the ones its next writes
// use again.
//
// Why: on this project's machines (virtual machines whose freed memory is
// handed back to the host) a page the guest has not used lately costs a
// fault on the host when it is first written: a 1 GiB file written
// through the page cache spent up to 2 s of system time per GiB in its
// writes, against 0.2-0.4 s when the same few megabytes of cache are used
// again (docs/PERFORMANCE.md, "Sealed evidence CPU, evperf17"). A file
// that is read back soon after it is written (the evidence a mediator
// copies later is not) loses little: it is read from the disk.
//
// What it guarantees:
//   - every byte given to Write is written at its offset, in order, with
//     pwrite, as the file it wraps would (the file's own position is not
//     used or moved);
//   - durability only through [Writer.Sync], called once at the end: it
//     fsyncs the file. Every [SyncEvery] bytes the Writer also starts an
//     fdatasync on a goroutine of its own (one at a time), so that the
//     file system's journal and the disk's cache are flushed as the file
//     grows and Sync has only the last of it left (on the dev machine
//     the one fsync at the end of a 1 GiB file took 0.25-0.36 s, the
//     disk under the virtual machine writing back everything at once;
//     ~0.03 s so, docs/PERFORMANCE.md);
//   - an error that the kernel reports while writing the file back (which
//     a later fsync on the same descriptor might no longer report, as the
//     wait or the sync that saw it consumes it) is returned by Write or
//     by Sync;
//   - on a system or file without the calls it needs, it writes as the
//     file would, with no write-behind.
package pagecache

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// Window is the amount written before its writeback is started; what is
// more than a window older is waited on and dropped then (the disk has a
// window's time to catch up before a write waits). A file holds at most
// three windows of page cache between writes, and a Reader two.
const Window = 8 << 20

// SyncEvery is how much is written between the starts of two background
// fdatasyncs of a Writer's file.
const SyncEvery = 8 * Window

// Writer writes a file from an offset on; see the package doc.
type Writer struct {
	f       *os.File
	off     int64 // where the next Write goes
	started int64 // writeback started up to here
	dropped int64 // waited on and dropped from the cache up to here
	plain   bool  // the calls are not supported here: writes only
	synced  int64 // the last background sync started when the file held this much
	every   int64 // SyncEvery (a test's is smaller)
	// syncing is the outcome of the background sync in flight (nil:
	// none).
	syncing chan error
}

// NewWriter returns a Writer that writes f from offset off on.
func NewWriter(f *os.File, off int64) *Writer {
	return &Writer{f: f, off: off, started: off, dropped: off, synced: off, every: SyncEvery}
}

// Write writes p at the Writer's offset and moves it on.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.WriteAt(p, w.off)
	w.off += int64(n)
	if err != nil || w.plain || w.off-w.started < Window {
		return n, err
	}
	if err := w.behind(); err != nil {
		return n, fmt.Errorf("writing %s back to the disk: %w", w.f.Name(), err)
	}
	if w.plain {
		return n, nil
	}
	return n, w.syncBehind()
}

// Sync waits for the background sync in flight, if any, then fsyncs the
// file: once it returns nil, every byte written is durable. It returns
// the first error of either.
func (w *Writer) Sync() error {
	var err error
	if w.syncing != nil {
		err = <-w.syncing
		w.syncing = nil
	}
	if err != nil {
		return fmt.Errorf("syncing %s: %w", w.f.Name(), err)
	}
	return w.f.Sync()
}

// syncBehind starts a background fdatasync when SyncEvery bytes were
// written since the last one started and none is in flight, and returns
// the error of one that has ended.
func (w *Writer) syncBehind() error {
	if w.syncing != nil {
		select {
		case err := <-w.syncing:
			w.syncing = nil
			if err != nil {
				return fmt.Errorf("syncing %s: %w", w.f.Name(), err)
			}
		default:
			return nil // one at a time
		}
	}
	if w.off-w.synced < w.every {
		return nil
	}
	w.synced = w.off
	done := make(chan error, 1)
	w.syncing = done
	f := w.f
	go func() { done <- datasync.Load().(func(*os.File) error)(f) }()
	return nil
}

// datasync is fdatasync (a test's hook: func(*os.File) error).
var datasync atomic.Value

func init() { datasync.Store(fdatasync) }

// Offset is where the next Write goes.
func (w *Writer) Offset() int64 { return w.off }

// Reader reads a section of a file once, in order, dropping from the page
// cache what it has read a window behind; see the package doc.
type Reader struct {
	f       *os.File
	off     int64 // where the next Read starts
	end     int64 // the section's end
	dropped int64 // dropped from the cache up to here
}

// NewReader returns a Reader of the n bytes of f from off on.
func NewReader(f *os.File, off, n int64) *Reader {
	adviseSequential(f, off, n)
	return &Reader{f: f, off: off, end: off + n, dropped: off}
}

// Read reads the section's next bytes; io.EOF at its end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	if int64(len(p)) > r.end-r.off {
		p = p[:r.end-r.off]
	}
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && r.off < r.end {
		err = io.ErrUnexpectedEOF // the file was cut short under us
	} else if err == io.EOF {
		err = nil
	}
	if r.off-r.dropped >= 2*Window {
		drop(r.f, r.dropped, Window)
		r.dropped += Window
	}
	return n, err
}
