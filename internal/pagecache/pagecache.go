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
//     fsyncs the file. Where write-behind works, every [SyncEvery] bytes
//     the Writer also starts an fdatasync on a goroutine of its own (one
//     at a time), so that the file system's journal and the disk's cache
//     are flushed as the file grows and Sync has only the last of it left
//     (on the dev machine the one fsync at the end of a 1 GiB file took
//     0.25-0.36 s, the disk under the virtual machine writing back
//     everything at once; ~1 ms so, docs/PERFORMANCE.md);
//   - an error that the kernel reports while writing the file back or
//     syncing it (which a later fsync might no longer report: the kernel
//     reports it once to the open file, and the wait or sync that saw it
//     has consumed it) is [ErrWriteback]: returned by the Write that sees
//     it, by every later Write, and by Sync, which then never says the
//     file is durable. Its bytes are not known to be on the disk: the
//     caller must not keep them;
//   - on a system or file without the calls it needs, it writes as the
//     file would, with no write-behind.
package pagecache

import (
	"errors"
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

// ErrWriteback is the error of a Writer whose file the kernel failed to
// write back or sync: the bytes written are not known to be on the disk.
var ErrWriteback = errors.New("the disk failed to store the file (its bytes may not be on the disk)")

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
	// err is the first writeback or sync error (ErrWriteback): every
	// later Write and Sync return it.
	err error
}

// NewWriter returns a Writer that writes f from offset off on.
func NewWriter(f *os.File, off int64) *Writer {
	return &Writer{f: f, off: off, started: off, dropped: off, synced: off, every: SyncEvery}
}

// Write writes p at the Writer's offset and moves it on.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.WriteAt(p, w.off)
	w.off += int64(n)
	if err != nil || w.plain || w.off-w.started < Window {
		return n, err
	}
	if err := w.behind(); err != nil {
		return n, w.fail("writing it back", err)
	}
	if w.plain {
		return n, nil
	}
	if err := w.syncBehind(); err != nil {
		return n, w.fail("syncing it", err)
	}
	return n, nil
}

// Sync waits for the background sync in flight, if any, then fsyncs the
// file: once it returns nil, every byte written is durable. After a
// writeback or sync error, it returns that error (ErrWriteback) and
// does not fsync: a sync that succeeds then proves nothing.
func (w *Writer) Sync() error {
	if w.syncing != nil {
		err := <-w.syncing
		w.syncing = nil
		if err != nil && w.err == nil {
			w.fail("syncing it", err)
		}
	}
	if w.err != nil {
		return w.err
	}
	if err := fsync.Load().(func(*os.File) error)(w.f); err != nil {
		return w.fail("syncing it", err)
	}
	return nil
}

// fail records the first writeback or sync error and returns it.
func (w *Writer) fail(doing string, err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("%s: %s: %w: %w", w.f.Name(), doing, ErrWriteback, err)
	}
	return w.err
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
				return err
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

// datasync is the background sync, fdatasync, and fsync Sync's,
// (*os.File).Sync: func(*os.File) error each, replaced by tests
// (SetSyncs).
var datasync, fsync atomic.Value

func init() {
	datasync.Store(fdatasync)
	fsync.Store((*os.File).Sync)
}

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
