package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/evidence/sealedfile"
	"github.com/mvm-exchange/mvm/internal/seal"
)

// getSealed downloads a sealed file of package pkg into path: the
// ciphertext is hashed as it arrives and decrypted chunk by chunk (one
// chunk of memory), and the file is renamed into place only when the
// ciphertext is the one the log names, every chunk opened, and the
// plaintext is the one its author sealed in the log. Whose fault a
// refusal is, is said: bytes other than the logged ones are the
// server's; logged bytes that do not open to the logged plaintext are
// their signed author's; a file that cannot be written, this machine's.
//
// A download cut short keeps its plaintext (evidence_resume.go); the
// next run keeps its whole chunks, seals them again under the package
// key (sealing is deterministic: the same plaintext gives the same
// bytes), and downloads the rest from the next chunk. The ciphertext
// digest is then that of the kept chunks sealed again and the bytes
// downloaded: equal to the logged one only if the kept plaintext is the
// logged file's start, so the whole file is checked as on a fresh run.
func (e *env) getSealed(ctx context.Context, c *mvmclient.Client, key seal.PackageKey, pkg string, lf *loggedFile, path string) error {
	if len(lf.plainSum) == 0 {
		return fmt.Errorf("evidence %x (entry %d): package %s is sealed but the submission names no plaintext digest for this file (its body did not open, or its author did not seal the file): not written", lf.sum, lf.index, pkg)
	}
	if ok, err := e.have(path, lf.plainSum); ok || err != nil {
		return err
	}
	// The last chunk is downloaded again whatever was kept: a resumed
	// download authenticates at least one chunk, and ends on the flagged
	// last one.
	last := sealedfile.Chunks(lf.plainSize) - 1
	keep := func(held int64) int64 {
		if held > lf.plainSize {
			return 0
		}
		return min(held/sealedfile.ChunkSize, last) * sealedfile.ChunkSize
	}
	return e.resumeDownload(path, lf.sum, keep, func(out *atomicfile.File, from int64) (string, error) {
		return e.fetchSealed(ctx, c, key, pkg, lf, path, out, from)
	})
}

// fetchSealed downloads what out lacks from plaintext byte from (a
// chunk boundary), checks the whole file and returns the line to print.
func (e *env) fetchSealed(ctx context.Context, c *mvmclient.Client, key seal.PackageKey, pkg string, lf *loggedFile, path string, out *atomicfile.File, from int64) (string, error) {
	pt, err := hashPrefix(out, from)
	if err != nil {
		return "", err
	}
	ct := sha256.New()
	lw := newFileWriter(out, from)
	plain := io.MultiWriter(lw, pt)
	dec := &keepGoing{w: sealedfile.NewWriter(key, pkg, plain)}
	var off, length int64 // the sealed bytes to download (length 0: to the end)
	if from > 0 {
		ci, err := sealedHeader(ctx, c, key, pkg, lf)
		if kept := (*keptError)(nil); errors.As(err, &kept) {
			return "", err
		} else if err != nil {
			return "", errAgain // a download from byte 0 finds out whose fault it is
		}
		r, err := ci.Range(from, -1)
		if err != nil {
			return "", errAgain
		}
		ct.Write(ci.Header().Marshal())
		if _, err := io.Copy(ct, io.NewSectionReader(sealedfile.NewReader(ci, out), sealedfile.HeaderSize, r.Offset-sealedfile.HeaderSize)); err != nil {
			return "", fmt.Errorf("evidence %x: sealing again the %d bytes kept from an earlier run: %w", lf.sum, from, err)
		}
		dec.w = ci.RangeWriter(r, plain)
		off, length = r.Offset, r.Length
	}
	// Two goroutines beside the one receiving: the ciphertext's digest,
	// and the decryption, the plaintext's digest and the file's writes
	// (one after the other, on the chunk just decrypted).
	sealed := side(ct, dec)
	defer sealed.Close()
	n, err := c.DownloadEvidence(ctx, pkg, lf.sum, off, length, sealed)
	// Every sealed byte hashed and decrypted once sealed is closed.
	cerr := sealed.Close()
	if err := e.downloaded(lf, path, from, n, ct.Sum(nil), lw.synced(), err, cerr); err != nil {
		return "", err
	}
	// The bytes are those the author signed: from here on, a failure is
	// the author's.
	if err := firstNonNil(dec.err, dec.w.Close()); err != nil {
		return "", fmt.Errorf("evidence %x: the stored file, as its author %s logged it at entry %d, does not open with the package key: %w: not written", lf.sum, lf.author, lf.index, err)
	}
	if got := pt.Sum(nil); !bytes.Equal(got, lf.plainSum) || from+dec.w.Written() != lf.plainSize {
		return "", fmt.Errorf("evidence %x: it opens to %d bytes with sha256 %x, not the %d bytes with sha256 %x its author %s sealed at entry %d: not written", lf.sum, from+dec.w.Written(), got, lf.plainSize, lf.plainSum, lf.author, lf.index)
	}
	return fmt.Sprintf("wrote %s (%d bytes, sha256 %x, decrypted and %s)", path, lf.plainSize, lf.plainSum, verifiedHow(from)), nil
}

// sealedHeader downloads the header of sealed file lf and returns its
// cipher: a header of the plaintext size the author logged, else an
// error; one of the download is a keptError.
func sealedHeader(ctx context.Context, c *mvmclient.Client, key seal.PackageKey, pkg string, lf *loggedFile) (*sealedfile.Cipher, error) {
	var b bytes.Buffer
	if _, err := c.DownloadEvidence(ctx, pkg, lf.sum, 0, sealedfile.HeaderSize, &b); err != nil {
		if status.Code(err) == codes.OutOfRange {
			return nil, fmt.Errorf("evidence %x: the server holds less than a sealed file's header: %w", lf.sum, err)
		}
		return nil, &keptError{fmt.Errorf("evidence %x: its header: %w", lf.sum, err)}
	}
	h, err := sealedfile.ParseHeader(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("evidence %x: its header does not read: %w (evidence get, of the whole file, says whose fault): not written", lf.sum, err)
	}
	if h.Size != lf.plainSize {
		return nil, fmt.Errorf("evidence %x: the server's header names a plaintext of %d bytes, its author logged %d: not the logged file: not written", lf.sum, h.Size, lf.plainSize)
	}
	return sealedfile.NewCipher(key, pkg, h)
}

// keepGoing records the first error of w and drops what follows, so the
// download goes on to the end and its digest tells whose fault it is.
type keepGoing struct {
	w   *sealedfile.Writer
	err error
}

func (k *keepGoing) Write(p []byte) (int, error) {
	if k.err == nil {
		_, k.err = k.w.Write(p)
	}
	return len(p), nil
}
