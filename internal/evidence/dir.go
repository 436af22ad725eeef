package evidence

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mvm-exchange/mvm/internal/fanout"
	"github.com/mvm-exchange/mvm/internal/pagecache"
)

// Dir is a [Store] in a local directory: finished objects in objects/, one
// file each named by its hex digest, and unfinished uploads in partial/.
// Files are mode 0600, directories 0700. An object reaches objects/ by a
// hard link from partial/ (which fails rather than replace a file), after
// an fsync of its bytes, and the directory is fsync'd after.
type Dir struct {
	root  string
	locks *Locks
}

// NewDir opens (creating it if needed) the store in directory root.
func NewDir(root string) (*Dir, error) {
	for _, sub := range []string{"objects", "partial"} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o700); err != nil {
			return nil, fmt.Errorf("evidence directory: %w", err)
		}
	}
	return &Dir{root: root, locks: new(Locks)}, nil
}

func (s *Dir) object(d Digest) string  { return filepath.Join(s.root, "objects", d.String()) }
func (s *Dir) partial(d Digest) string { return filepath.Join(s.root, "partial", d.String()) }

// Stat implements [Store].
func (s *Dir) Stat(_ context.Context, d Digest) (int64, error) {
	fi, err := os.Stat(s.object(d))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", d, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("evidence %s: %w", d, err)
	}
	return fi.Size(), nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Open implements [Store].
func (s *Dir) Open(_ context.Context, d Digest, off, n int64) (io.ReadCloser, error) {
	f, err := os.Open(s.object(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence %s: %w", d, err)
	}
	fi, err := f.Stat()
	if err == nil {
		n, err = checkRange(fi.Size(), off, n)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("evidence %s: %w", d, err)
	}
	return readCloser{pagecache.NewReader(f, off, n), f}, nil
}

// Offset implements [Store].
func (s *Dir) Offset(_ context.Context, d Digest, size int64) (int64, error) {
	if err := checkSize(size); err != nil {
		return 0, err
	}
	if _, err := os.Stat(s.object(d)); err == nil {
		return 0, fmt.Errorf("%s: %w", d, ErrExists)
	}
	fi, err := os.Stat(s.partial(d))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("evidence %s: %w", d, err)
	case fi.Size() > size:
		return 0, fmt.Errorf("evidence %s: %d bytes held, more than the declared %d: %w", d, fi.Size(), size, ErrTooLong)
	}
	return fi.Size(), nil
}

// Write implements [Store].
func (s *Dir) Write(ctx context.Context, d Digest, size, off int64, r io.Reader) (int64, error) {
	return s.WriteAs(ctx, d, size, off, r, known(d))
}

// WriteAs implements [Store]: d is the key the upload is held under.
func (s *Dir) WriteAs(ctx context.Context, d Digest, size, off int64, r io.Reader, digest func() (Digest, error)) (int64, error) {
	if err := checkSize(size); err != nil {
		return 0, err
	}
	if err := s.locks.Lock(d); err != nil {
		return 0, fmt.Errorf("%s: %w", d, err)
	}
	defer s.locks.Unlock(d)
	held, err := s.Offset(ctx, d, size)
	if err != nil {
		return 0, err
	}
	if held != off {
		return held, &OffsetError{Held: held, Got: off}
	}
	f, err := os.OpenFile(s.partial(d), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("evidence %s: %w", d, err)
	}
	defer f.Close()
	// The digest covers the bytes on disk: those held from an earlier
	// write are hashed again rather than trusted from a saved state.
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, held)); err != nil {
		return held, fmt.Errorf("evidence %s: rereading the %d bytes held: %w", d, held, err)
	}
	// Hashed and written side by side, while the next bytes are
	// received: three goroutines, 1 MiB of blocks, written 128 KiB at
	// most at a time, the file's pages written back and dropped from the
	// cache behind the writes (package pagecache: the cache's pages used
	// again, not new ones), and synced as the file grows, so that the
	// fsync at the end has little left to flush.
	pw := pagecache.NewWriter(f, held)
	fw := fanout.NewWriter(128<<10, 8, pw, h)
	n, rerr := io.Copy(fw, io.LimitReader(r, size-held))
	if werr := fw.Close(); werr != nil {
		if fi, err := f.Stat(); err == nil {
			n = fi.Size() - held // what the file holds, not what was read
		}
		rerr = fmt.Errorf("evidence %s: writing: %w", d, werr)
	}
	if rerr == nil && held+n == size {
		// One byte more than declared is a refusal, not a truncation.
		var probe [1]byte
		if m, _ := io.ReadFull(r, probe[:]); m > 0 {
			s.drop(d)
			return 0, fmt.Errorf("%s: more than %d bytes: %w", d, size, ErrTooLong)
		}
	}
	if err := pw.Sync(); err != nil {
		// The disk failed to store bytes of this file (or to sync it),
		// and said so once: no later fsync would. None of it can be
		// trusted to be on the disk, so none of it is kept.
		s.drop(d)
		return 0, fmt.Errorf("evidence %s: %w: the upload was removed, to be sent again from its start", d, err)
	}
	if held += n; held < size || rerr != nil {
		if rerr != nil {
			rerr = fmt.Errorf("evidence %s: receiving bytes after offset %d: %w", d, held, rerr)
		}
		return held, rerr
	}
	want, err := digest()
	if err != nil {
		return held, fmt.Errorf("evidence upload %s: all %d bytes held, no digest: %w", d, size, err)
	}
	if [sha256.Size]byte(h.Sum(nil)) != want {
		s.drop(d)
		return 0, fmt.Errorf("%s: %w", want, ErrDigestMismatch)
	}
	// Link, unlike rename, never replaces an existing name.
	if err := os.Link(s.partial(d), s.object(want)); err != nil {
		s.drop(d)
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("%s: %w", want, ErrExists)
		}
		return 0, fmt.Errorf("evidence %s: %w", want, err)
	}
	s.drop(d)
	if err := syncDir(filepath.Dir(s.object(want))); err != nil {
		return held, fmt.Errorf("evidence %s: %w", want, err)
	}
	return held, nil
}

// Abort implements [Store].
func (s *Dir) Abort(_ context.Context, d Digest) error {
	if err := s.locks.Lock(d); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	defer s.locks.Unlock(d)
	return s.drop(d)
}

func (s *Dir) drop(d Digest) error {
	err := os.Remove(s.partial(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.partial(d)))
	}
	return err
}

func syncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
