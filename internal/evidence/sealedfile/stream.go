package sealedfile

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/mvm-exchange/mvm/internal/seal"
)

// Reader is the sealed file of a plaintext, read at any offset: what an
// upload sends (it resumes at the offset the server holds). It seals one
// chunk at a time and keeps the last one, so sequential reads seal each
// chunk once; it holds one chunk of memory whatever the file's size.
type Reader struct {
	c     *Cipher
	plain io.ReaderAt
	buf   []byte // plaintext of one chunk
	ct    []byte // sealed chunk cur
	cur   int64  // -1: none
	// Version 2: the SHA-256 of plaintext chunks [0, hashed), which a
	// chunk's nonce needs; a read before hashed hashes again from 0.
	prefix hash.Hash
	hashed int64
}

// NewReader returns the sealed view of plain, whose size and nonce c's
// header names.
func NewReader(c *Cipher, plain io.ReaderAt) *Reader {
	return &Reader{c: c, plain: plain, buf: make([]byte, ChunkSize), ct: make([]byte, 0, c.sealed), cur: -1, prefix: sha256.New()}
}

// Size is the size of the sealed file.
func (r *Reader) Size() int64 { return r.c.SealedSize() }

// ReadAt implements io.ReaderAt over the sealed bytes.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("sealedfile: negative offset %d", off)
	}
	n := 0
	for n < len(p) {
		at := off + int64(n)
		if at >= r.Size() {
			return n, io.EOF
		}
		if at < HeaderSize {
			n += copy(p[n:], r.c.hdr[at:])
			continue
		}
		i := (at - HeaderSize) / r.c.sealed
		if err := r.seal(i); err != nil {
			return n, err
		}
		n += copy(p[n:], r.ct[at-r.c.sealedOffset(i):])
	}
	return n, nil
}

func (r *Reader) seal(i int64) error {
	if i == r.cur {
		return nil
	}
	if r.c.ivKey != nil && i < r.hashed {
		r.prefix.Reset()
		r.hashed = 0
	}
	for {
		j := i
		if r.c.ivKey != nil {
			j = r.hashed // version 2: every chunk before i is hashed first
		}
		p := r.buf[:r.c.plainLen(j)]
		if k, err := r.plain.ReadAt(p, j*ChunkSize); k != len(p) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("sealedfile: reading plaintext chunk %d (the file changed since it was hashed?): %w", j, err)
		}
		if r.c.ivKey != nil {
			r.prefix.Write(p)
			r.hashed++
		}
		if j == i {
			var sum [sha256.Size]byte
			if r.c.ivKey != nil {
				r.prefix.Sum(sum[:0])
			}
			r.ct = r.c.sealChunk(r.ct[:0], p, i, &sum)
			r.cur = i
			return nil
		}
	}
}

// Range is the part of a sealed file that holds a plaintext range: fetch
// sealed bytes [Offset, Offset+Length) and give them to a [Writer] made
// with [Cipher.RangeWriter].
type Range struct {
	Offset, Length int64
	first, end     int64 // chunks [first, end)
	skip, n        int64 // plaintext: drop skip bytes of chunk first, then keep n
}

// Range returns the sealed range that holds plaintext bytes [off, off+n);
// n < 0 means to the end.
func (c *Cipher) Range(off, n int64) (Range, error) {
	if n < 0 {
		n = c.h.Size - off
	}
	if off < 0 || n < 0 || off > c.h.Size || n > c.h.Size-off {
		return Range{}, fmt.Errorf("sealedfile: range %d+%d outside the plaintext's %d bytes", off, n, c.h.Size)
	}
	first := off / ChunkSize
	end := (off + n + ChunkSize - 1) / ChunkSize
	if n == 0 || first >= c.chunks {
		// Nothing to keep, but a chunk is still read and authenticated:
		// an empty answer proves nothing about the file otherwise.
		first = min(first, c.chunks-1)
		end = first + 1
	}
	endOff := c.sealedOffset(end-1) + int64(c.sealedLen(end-1))
	return Range{Offset: c.sealedOffset(first), Length: endOff - c.sealedOffset(first), first: first, end: end, skip: off - first*ChunkSize, n: n}, nil
}

// Writer takes sealed bytes and writes the plaintext they hold to w, one
// chunk at a time, each authenticated before any of its bytes is written.
// [Writer.Close] fails unless every chunk expected arrived: a truncated
// file is refused. Bytes past the last chunk are refused.
type Writer struct {
	c       *Cipher
	w       io.Writer
	r       Range
	hdr     []byte // NewWriter: the header being read
	next    int64  // the chunk expected next
	buf     []byte // sealed bytes of chunk next received so far
	pt      []byte
	written int64
	err     error
	// newCipher makes c once the header is read (NewWriter).
	newCipher func(Header) (*Cipher, error)
}

// NewWriter returns a Writer of a whole sealed file (header first),
// whose key is derived from key and pkg once the header is read.
func NewWriter(key seal.PackageKey, pkg string, w io.Writer) *Writer {
	return &Writer{w: w, hdr: make([]byte, 0, HeaderSize), newCipher: func(h Header) (*Cipher, error) { return NewCipher(key, pkg, h) }}
}

// RangeWriter returns a Writer of the sealed bytes r names (no header),
// which writes the plaintext range r was made for to w.
func (c *Cipher) RangeWriter(r Range, w io.Writer) *Writer {
	return &Writer{c: c, w: w, r: r, next: r.first, buf: make([]byte, 0, c.sealed), pt: make([]byte, 0, ChunkSize)}
}

// Header returns the header read (zero before it is).
func (w *Writer) Header() Header {
	if w.c == nil {
		return Header{}
	}
	return w.c.h
}

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 {
		if w.c == nil {
			k := copy(w.hdr[len(w.hdr):HeaderSize], p)
			w.hdr, p = w.hdr[:len(w.hdr)+k], p[k:]
			if len(w.hdr) < HeaderSize {
				break
			}
			if w.err = w.start(); w.err != nil {
				return 0, w.err
			}
			continue
		}
		if w.next >= w.r.end {
			w.err = fmt.Errorf("%w: %d bytes after the last chunk", ErrOpen, len(p))
			return 0, w.err
		}
		want := w.c.sealedLen(w.next)
		k := copy(w.buf[len(w.buf):want], p)
		w.buf, p = w.buf[:len(w.buf)+k], p[k:]
		if len(w.buf) < want {
			break
		}
		if w.err = w.flush(); w.err != nil {
			return 0, w.err
		}
	}
	return n, nil
}

func (w *Writer) start() error {
	h, err := ParseHeader(w.hdr)
	if err != nil {
		return err
	}
	c, err := w.newCipher(h)
	if err != nil {
		return err
	}
	r, err := c.Range(0, -1)
	if err != nil {
		return err
	}
	w.c, w.r, w.next = c, r, 0
	w.buf, w.pt = make([]byte, 0, c.sealed), make([]byte, 0, ChunkSize)
	return nil
}

// flush opens the complete chunk in buf and writes its part of the range.
func (w *Writer) flush() error {
	pt, err := w.c.openChunk(w.pt[:0], w.buf, w.next)
	if err != nil {
		return err
	}
	if w.next == w.r.first {
		pt = pt[min(int64(len(pt)), w.r.skip):]
	}
	pt = pt[:min(int64(len(pt)), w.r.n-w.written)]
	if _, err := w.w.Write(pt); err != nil {
		return err
	}
	w.written += int64(len(pt))
	w.next++
	w.buf = w.buf[:0]
	return nil
}

// Close reports whether every chunk arrived and opened.
func (w *Writer) Close() error {
	switch {
	case w.err != nil:
		return w.err
	case w.c == nil:
		return fmt.Errorf("%w: %d bytes, the header has %d", ErrMalformed, len(w.hdr), HeaderSize)
	case w.next < w.r.end:
		return fmt.Errorf("%w: truncated: %d of %d chunks received", ErrOpen, w.next-w.r.first, w.r.end-w.r.first)
	}
	return nil
}

// Written is the plaintext bytes written so far.
func (w *Writer) Written() int64 { return w.written }
