// Package fanout gives the same bytes to several writers at once, each in
// a goroutine of its own: what io.MultiWriter does one writer after the
// other, on as many cores as there are writers.
//
// An evidence transfer passes every byte through two or three costly
// steps (a SHA-256 of the ciphertext, the decryption and a SHA-256 of the
// plaintext, the file's write, the send): called in turn they use one
// core while the other waits. A [Writer] copies what it is given into
// blocks and hands each block to every writer's goroutine, so the steps
// run side by side and the caller goes on to the next block.
//
// What it guarantees:
//   - every writer receives every byte, in order, in blocks of the size
//     given (the last may be shorter), and never a block after it failed;
//   - memory is bounded: at most the number of blocks given are held,
//     and Write waits for a block to be free when all are in use;
//   - the first error of any writer is returned by a later Write and by
//     Close, which waits for every writer to finish: once Close returns,
//     the writers are done with every byte and are not called again.
//
// A writer must not keep the slice it is given (the io.Writer rule): the
// block is reused.
package fanout

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by a Write after Close.
var ErrClosed = errors.New("fanout: write after close")

type block struct {
	data []byte
	refs atomic.Int32
}

// Writer writes to several writers at once; see the package doc.
type Writer struct {
	size     int
	blocks   int // at most
	made     int // so far: blocks are made as they are needed
	cur      *block
	free     chan *block
	branches []chan *block
	wg       sync.WaitGroup
	failed   atomic.Bool
	mu       sync.Mutex
	err      error
	closed   bool
}

// NewWriter returns a Writer to ws that gives them blocks of size bytes
// and holds at most blocks of them (at least 2: one filling, one being
// written), made only as they are needed: a writer given little (an
// upload whose client stalls) holds little.
func NewWriter(size, blocks int, ws ...io.Writer) *Writer {
	blocks = max(blocks, 2)
	w := &Writer{size: size, blocks: blocks, free: make(chan *block, blocks)}
	for _, dst := range ws {
		ch := make(chan *block, blocks)
		w.branches = append(w.branches, ch)
		w.wg.Go(func() { w.run(dst, ch) })
	}
	return w
}

// take is a free block: one returned by the writers, else a new one while
// fewer than blocks exist, else the next one returned.
func (w *Writer) take() *block {
	select {
	case b := <-w.free:
		return b
	default:
	}
	if w.made < w.blocks {
		w.made++
		return &block{data: make([]byte, 0, w.size)}
	}
	return <-w.free
}

// run writes each block ch gives to dst, until ch is closed; after any
// writer failed it only returns the blocks.
func (w *Writer) run(dst io.Writer, ch <-chan *block) {
	for b := range ch {
		if !w.failed.Load() {
			n, err := dst.Write(b.data)
			if err == nil && n < len(b.data) {
				err = io.ErrShortWrite
			}
			if err != nil {
				w.fail(err)
			}
		}
		if b.refs.Add(-1) == 0 {
			b.data = b.data[:0]
			w.free <- b
		}
	}
}

func (w *Writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		w.failed.Store(true)
	}
}

// Err returns the first error of any writer so far.
func (w *Writer) Err() error {
	if !w.failed.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Write copies p into blocks and hands each full one to every writer. It
// returns the first error of any writer, which may come from bytes of an
// earlier call.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	n := len(p)
	for len(p) > 0 {
		if err := w.Err(); err != nil {
			return n - len(p), err
		}
		if w.cur == nil {
			w.cur = w.take()
		}
		k := copy(w.cur.data[len(w.cur.data):w.size], p)
		w.cur.data, p = w.cur.data[:len(w.cur.data)+k], p[k:]
		if len(w.cur.data) == w.size {
			w.dispatch()
		}
	}
	return n, w.Err()
}

// ReadFrom reads r to its end (io.EOF) straight into the blocks, with
// no copy of its own, and hands what each Read gives to every writer at
// once (a store that reports what it holds writes what it received
// without waiting for more); io.Copy calls it. It returns the bytes read
// and the first error of r or of any writer.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.closed {
		return 0, ErrClosed
	}
	var n int64
	for {
		if err := w.Err(); err != nil {
			return n, err
		}
		if w.cur == nil {
			w.cur = w.take()
		}
		k, err := r.Read(w.cur.data[len(w.cur.data):w.size])
		w.cur.data = w.cur.data[:len(w.cur.data)+k]
		n += int64(k)
		if len(w.cur.data) > 0 {
			w.dispatch()
		}
		if errors.Is(err, io.EOF) {
			return n, w.Err()
		}
		if err != nil {
			return n, err
		}
	}
}

func (w *Writer) dispatch() {
	b := w.cur
	w.cur = nil
	b.refs.Store(int32(len(w.branches)))
	if len(w.branches) == 0 {
		b.data = b.data[:0]
		w.free <- b
		return
	}
	for _, ch := range w.branches {
		ch <- b
	}
}

// Close hands the last, partial block to the writers, waits until every
// writer is done and returns the first error of any. It does not close
// the writers. A second Close returns the same.
func (w *Writer) Close() error {
	if !w.closed {
		w.closed = true
		if w.cur != nil && len(w.cur.data) > 0 {
			w.dispatch()
		}
		for _, ch := range w.branches {
			close(ch)
		}
		w.wg.Wait()
	}
	return w.Err()
}
