// Package evidence stores evidence files (films, photos) by the SHA-256 of
// their bytes: a content-addressed object store with two backends behind
// one interface, a local directory ([NewDir]) and any S3-compatible object
// store ([NewS3]).
//
// An object is addressed by the digest of the bytes the server receives:
// clear bytes today, ciphertext once files are sealed on the client. The
// store never sees, or needs, anything else; the signed EvidenceSubmission
// in the log names the same digest.
//
// Guarantees, for every backend (the conformance suite in conformance_test.go
// runs them against both):
//   - An object becomes visible ([Store.Stat], [Store.Open]) only once all
//     its declared bytes were received and their SHA-256 equals its name.
//     A wrong digest or too many bytes is refused ([ErrDigestMismatch],
//     [ErrTooLong]) and the unfinished upload is dropped.
//   - An object is never overwritten: finishing an upload of a digest that
//     is already stored fails with [ErrExists] and changes nothing.
//   - An unfinished upload is held apart from finished objects and can be
//     continued from the offset the store holds ([Store.Offset]); a write at
//     any other offset fails with an [OffsetError] naming the held one.
//   - One upload of a digest at a time ([ErrBusy] for a second writer).
//   - An upload may be held under a key of the caller's and its digest
//     given at the end ([Store.WriteAs]): the bytes are checked against
//     it just the same before the object is visible under it.
package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Digest is the SHA-256 of an object's bytes, its name in the store.
type Digest [sha256.Size]byte

// String is the lower-case hex form, the object's name in the backends.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// ParseDigest reads a digest from its 32 bytes.
func ParseDigest(b []byte) (Digest, error) {
	var d Digest
	if len(b) != len(d) {
		return d, fmt.Errorf("evidence digest: %d bytes, want a %d-byte SHA-256", len(b), len(d))
	}
	copy(d[:], b)
	return d, nil
}

// Errors a caller may branch on.
var (
	// ErrNotFound: no finished object has this digest.
	ErrNotFound = errors.New("evidence object not found")
	// ErrExists: the object is already stored; it is never overwritten.
	// A client that meant to store these bytes has nothing left to do.
	ErrExists = errors.New("evidence object already stored")
	// ErrDigestMismatch: the bytes received do not hash to the declared
	// digest; the upload was dropped, send the file again from offset 0.
	ErrDigestMismatch = errors.New("evidence bytes do not match their SHA-256 digest")
	// ErrTooLong: more bytes than the declared size; the upload was dropped.
	ErrTooLong = errors.New("evidence bytes exceed the declared size")
	// ErrBusy: another upload of the same digest is under way; retry later.
	ErrBusy = errors.New("another upload of this evidence object is in progress")
)

// OffsetError is a write at an offset other than the one the store holds:
// resume from Held.
type OffsetError struct{ Held, Got int64 }

func (e *OffsetError) Error() string {
	return fmt.Sprintf("upload offset %d, but the store holds %d bytes of it: resume from %d", e.Got, e.Held, e.Held)
}

// Store is a content-addressed object store. Sizes and offsets are bytes.
type Store interface {
	// Stat returns the size of a finished object, or ErrNotFound.
	Stat(ctx context.Context, d Digest) (int64, error)
	// Open reads n bytes of a finished object from offset off (n < 0: to
	// the end). The range must lie within the object.
	Open(ctx context.Context, d Digest, off, n int64) (io.ReadCloser, error)
	// Offset returns how many bytes of an unfinished upload of d the store
	// holds (0 when none), or ErrExists when d is finished.
	Offset(ctx context.Context, d Digest, size int64) (int64, error)
	// Write continues the upload of d (size bytes in all) at off with the
	// bytes of r until r ends or the object is complete, and returns the
	// offset held afterwards. The write that completes the object checks
	// the digest and publishes it. Bytes held may lag what r gave when the
	// store keeps them in blocks; Offset and the returned value say what
	// counts. A write that fails with ctx cancelled keeps what was held.
	Write(ctx context.Context, d Digest, size, off int64, r io.Reader) (int64, error)
	// WriteAs is Write for an upload held under key whose digest is
	// known only once its bytes were sent (a client that hashes what it
	// sends as it sends it): when all size bytes are held and r has
	// ended, digest names the digest they must have, checked as by
	// Write, and the object is published under it. An error from digest
	// (none was sent) keeps the bytes held: the upload resumes at size.
	// Write(d) is WriteAs(d) with digest d.
	WriteAs(ctx context.Context, key Digest, size, off int64, r io.Reader, digest func() (Digest, error)) (int64, error)
	// Abort drops the unfinished upload of d, if any.
	Abort(ctx context.Context, d Digest) error
}

// Put stores the size bytes of r as object d in one go.
func Put(ctx context.Context, s Store, d Digest, size int64, r io.Reader) error {
	off, err := s.Offset(ctx, d, size)
	if err != nil {
		return err
	}
	if off != 0 {
		return &OffsetError{Held: off}
	}
	got, err := s.Write(ctx, d, size, 0, r)
	if err != nil {
		return err
	}
	if got != size {
		return fmt.Errorf("evidence %s: %d of %d bytes received: %w", d, got, size, io.ErrUnexpectedEOF)
	}
	return nil
}

// known is the digest function of an upload whose digest is its key.
func known(d Digest) func() (Digest, error) { return func() (Digest, error) { return d, nil } }

func checkRange(size, off, n int64) (int64, error) {
	if n < 0 {
		n = size - off
	}
	if off < 0 || n < 0 || off > size || n > size-off {
		return 0, fmt.Errorf("range %d+%d outside the object's %d bytes", off, n, size)
	}
	return n, nil
}

func checkSize(size int64) error {
	if size < 0 {
		return fmt.Errorf("evidence size %d: want zero or more bytes", size)
	}
	return nil
}

// Locks allows one holder per digest at a time: the stores take it for
// each write (one writer per digest), and the exchange's service for an
// upload's whole course (its quota checks and hold as well as the
// write), so two uploads of one name never interleave. Its zero value is
// ready to use.
type Locks struct {
	mu sync.Mutex
	m  map[Digest]bool
}

// Lock takes d, or fails with [ErrBusy] if it is held: it does not wait.
func (l *Locks) Lock(d Digest) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m[d] {
		return ErrBusy
	}
	if l.m == nil {
		l.m = map[Digest]bool{}
	}
	l.m[d] = true
	return nil
}

// Unlock lets d go.
func (l *Locks) Unlock(d Digest) {
	l.mu.Lock()
	delete(l.m, d)
	l.mu.Unlock()
}
