package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/evidence/sealedfile"
	"github.com/mvm-exchange/mvm/internal/pagecache"
	"github.com/mvm-exchange/mvm/internal/seal"
)

// getSealed downloads a sealed file of package pkg into path: the
// ciphertext is hashed as it arrives and decrypted chunk by chunk (one
// chunk of memory), and the file is renamed into place only when the
// ciphertext is the one the log names, every chunk opened, and the
// plaintext is the one its author sealed in the log. Whose fault a
// refusal is, is said: bytes other than the logged ones are the
// server's; logged bytes that do not open to the logged plaintext are
// their signed author's.
func (e *env) getSealed(ctx context.Context, c *mvmclient.Client, key seal.PackageKey, pkg string, lf *loggedFile, path string) error {
	if len(lf.plainSum) == 0 {
		return fmt.Errorf("evidence %x (entry %d): package %s is sealed but the submission names no plaintext digest for this file (its body did not open, or its author did not seal the file): not written", lf.sum, lf.index, pkg)
	}
	if ok, err := e.have(path, lf.plainSum); ok || err != nil {
		return err
	}
	out, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer out.Abort()
	// Two goroutines beside the one receiving: the ciphertext's digest,
	// and the decryption, the plaintext's digest and the file's writes
	// (one after the other, on the chunk just decrypted).
	ct, pt := sha256.New(), sha256.New()
	dec := &keepGoing{w: sealedfile.NewWriter(key, pkg, io.MultiWriter(pagecache.NewWriter(out.File, 0), pt))}
	sealed := side(ct, dec)
	defer sealed.Close()
	n, err := c.DownloadEvidence(ctx, pkg, lf.sum, 0, 0, sealed)
	if err != nil {
		return fmt.Errorf("evidence %x: %w", lf.sum, e.explainErr(err))
	}
	// Every sealed byte hashed and decrypted.
	if err := sealed.Close(); err != nil {
		return fmt.Errorf("evidence %x: writing %s: %w: not written", lf.sum, path, err)
	}
	if got := ct.Sum(nil); !bytes.Equal(got, lf.sum) || (lf.size >= 0 && n != lf.size) {
		return fmt.Errorf("evidence %x: the server sent %d bytes with sha256 %x, not the file the log names (%d bytes): not written", lf.sum, n, got, lf.size)
	}
	// The bytes are those the author signed: from here on, a failure is
	// the author's.
	if err := firstNonNil(dec.err, dec.w.Close()); err != nil {
		return fmt.Errorf("evidence %x: the stored file, as its author %s logged it at entry %d, does not open with the package key: %w: not written", lf.sum, lf.author, lf.index, err)
	}
	if got := pt.Sum(nil); !bytes.Equal(got, lf.plainSum) || dec.w.Written() != lf.plainSize {
		return fmt.Errorf("evidence %x: it opens to %d bytes with sha256 %x, not the %d bytes with sha256 %x its author %s sealed at entry %d: not written", lf.sum, dec.w.Written(), got, lf.plainSize, lf.plainSum, lf.author, lf.index)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	e.printf("wrote %s (%d bytes, sha256 %x, decrypted and verified)\n", path, lf.plainSize, lf.plainSum)
	return nil
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
