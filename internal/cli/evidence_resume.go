package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/pagecache"
)

// A download goes to a temporary file of a fixed name beside its final
// one (atomicfile.Resume: .NAME.<digest>.partial, mode 0600). Cut short
// (the connection, the server, a local write), it is kept, and the next
// run continues it: a clear file from its last byte, a sealed one from
// its last whole chunk (evidence_get_sealed.go). Either way the whole
// file, the kept bytes included, is checked against the logged digest
// before it is renamed into place. Kept bytes that fail that check are
// dropped and the file is downloaded whole again, once: what was kept
// may be anyone's (an earlier run's, or a file put there), so the
// failure is blamed on nobody until a download from byte 0 fails.

// partialTag tells apart the temporary files of two logged files that
// would take the same name.
func partialTag(sum []byte) string { return hex.EncodeToString(sum[:8]) }

// errAgain: the kept bytes, or the server's, are not the logged file;
// download it whole again.
var errAgain = errors.New("the bytes kept from an earlier run and the server's together are not the file the log names")

// localWriter is the file a download writes; it records the first error
// of the local disk, so that it is reported as local (disk full,
// permission) and not as the server's or the author's fault.
type localWriter struct {
	w   io.Writer
	pw  *pagecache.Writer // w, when it is one (newFileWriter)
	err error
}

// newFileWriter is the localWriter of a whole download into out from
// byte from: a pagecache.Writer, synced by synced.
func newFileWriter(out *atomicfile.File, from int64) *localWriter {
	pw := pagecache.NewWriter(out.File, from)
	return &localWriter{w: pw, pw: pw}
}

// synced makes the bytes written durable once every write is done (the
// background sync of a pagecache.Writer waited for, even after an error,
// and its error kept: the atomic file's own fsync at the end would no
// longer see an error a background sync has reported) and returns the
// first error.
func (l *localWriter) synced() error {
	if l.pw != nil {
		if err := l.pw.Sync(); l.err == nil {
			l.err = err
		}
	}
	return l.err
}

func (l *localWriter) Write(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.w.Write(p)
	if err != nil {
		l.err = err
	}
	return n, err
}

// localError says that writing path failed on this machine.
func localError(sum []byte, path string, err error) error {
	return fmt.Errorf("evidence %x: writing %s on this machine failed: %w (a local error: free space or fix the permission, then run again to resume)", sum, path, err)
}

// resumeDownload runs fetch into the temporary file of path, from the
// bytes it holds (cut by keep, which returns how many to keep of those
// held), and again from 0 if fetch says errAgain after a resume; fetch
// returns the line to print once the file is in place.
func (e *env) resumeDownload(path string, sum []byte, keep func(held int64) int64, fetch func(out *atomicfile.File, from int64) (string, error)) error {
	out, held, err := atomicfile.Resume(path, partialTag(sum))
	if err != nil {
		return err
	}
	defer out.Abort()
	from := keep(held)
	for {
		if from != held {
			if err := out.Truncate(from); err != nil {
				return err
			}
		}
		if from > 0 {
			e.printf("resuming %s from byte %d (kept from an earlier run in %s)\n", path, from, out.Name())
		}
		done, err := fetch(out, from)
		if errors.Is(err, errAgain) && from > 0 {
			fmt.Fprintf(e.stderr, "evidence %x: %v: downloading it whole again\n", sum, err)
			held, from = from, 0
			continue
		}
		var kept *keptError
		if errors.As(err, &kept) {
			// The file's size, not its position: the writes are
			// pwrites at their offsets (pagecache), which leave the
			// position where Resume or Truncate put it.
			var n int64
			if fi, err := out.Stat(); err == nil {
				n = fi.Size()
			}
			if n > 0 && out.Keep() == nil {
				return fmt.Errorf("%w (%d bytes kept in %s: run the command again to resume)", kept.err, n, out.Name())
			}
			return kept.err // nothing worth keeping: removed
		}
		if err != nil {
			return err
		}
		if err := out.Commit(); err != nil {
			return err
		}
		e.printf("%s\n", done)
		return nil
	}
}

// keptError is a download cut short whose bytes stay for the next run.
type keptError struct{ err error }

func (k *keptError) Error() string { return k.err.Error() }
func (k *keptError) Unwrap() error { return k.err }

// hashPrefix is a SHA-256 of the first n bytes of f.
func hashPrefix(f io.ReaderAt, n int64) (hash.Hash, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, n)); err != nil {
		return nil, fmt.Errorf("reading the bytes kept from an earlier run: %w", err)
	}
	return h, nil
}

// getOne downloads a clear file into path, verified against its logged
// digest and size; a cut download resumes from the byte it reached.
func (e *env) getOne(ctx context.Context, c *mvmclient.Client, pkg string, lf *loggedFile, path string) error {
	if ok, err := e.have(path, lf.sum); ok || err != nil {
		return err
	}
	keep := func(held int64) int64 {
		if lf.size >= 0 && held > lf.size {
			return 0
		}
		return held
	}
	return e.resumeDownload(path, lf.sum, keep, func(out *atomicfile.File, from int64) (string, error) {
		h, err := hashPrefix(out, from)
		if err != nil {
			return "", err
		}
		lw := newFileWriter(out, from)
		w := side(lw, h)
		defer w.Close()
		n, err := c.DownloadEvidence(ctx, pkg, lf.sum, from, 0, w)
		cerr := w.Close() // every byte hashed and written
		if err := e.downloaded(lf, path, from, n, h.Sum(nil), lw.synced(), err, cerr); err != nil {
			return "", err
		}
		return fmt.Sprintf("wrote %s (%d bytes, sha256 %x, %s)", path, n, lf.sum, verifiedHow(from)), nil
	})
}

// downloaded is the outcome of a download of lf from from on into path:
// the local write error (lwErr) first, then the server's (an OutOfRange
// after a resume: errAgain, the server's file is shorter than what was
// kept), then the closing one; and the whole file's digest (got, of n
// bytes) must be the logged one: after a resume, errAgain, else refused.
func (e *env) downloaded(lf *loggedFile, path string, from, n int64, got []byte, lwErr, err, cerr error) error {
	switch {
	case errors.Is(lwErr, pagecache.ErrWriteback):
		// The disk failed to store some of it: nothing is kept.
		return localError(lf.sum, path, lwErr)
	case lwErr != nil:
		return &keptError{localError(lf.sum, path, lwErr)}
	case err != nil && from > 0 && status.Code(err) == codes.OutOfRange:
		return errAgain
	case err != nil:
		return &keptError{fmt.Errorf("evidence %x: %w", lf.sum, e.explainErr(err))}
	case cerr != nil:
		return &keptError{localError(lf.sum, path, cerr)}
	}
	if !bytes.Equal(got, lf.sum) || (lf.size >= 0 && n != lf.size) {
		if from > 0 {
			return errAgain
		}
		return fmt.Errorf("evidence %x: the server sent %d bytes with sha256 %x, not the file the log names (%d bytes): not written", lf.sum, n, got, lf.size)
	}
	return nil
}

// verifiedHow says how a file written from byte from was checked.
func verifiedHow(from int64) string {
	if from > 0 {
		return fmt.Sprintf("verified whole, resumed at byte %d", from)
	}
	return "verified"
}
