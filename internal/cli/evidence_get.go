package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/fanout"
	"github.com/mvm-exchange/mvm/internal/pagecache"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// loggedFile is an evidence file as the verified log names it.
type loggedFile struct {
	sum       []byte
	size      int64  // -1: no submission gave one
	plainSum  []byte // sealed files: the plaintext's, from the sealed body
	plainSize int64
	name      string
	mediaType string
	author    string
	at        time.Time
	index     uint64
}

// loggedEvidence lists the evidence files a verified package names, each
// digest once, in log order: every file an EvidenceSubmission describes,
// and every other digest an entry cites (evidence_sha256), unnamed.
func loggedEvidence(v *mvmclient.VerifiedPackage) []*loggedFile {
	var out []*loggedFile
	seen := map[string]*loggedFile{}
	for _, en := range v.Entries {
		add := func(sum []byte) *loggedFile {
			if lf, ok := seen[string(sum)]; ok {
				return lf
			}
			lf := &loggedFile{sum: sum, size: -1, author: en.Author.URI(), at: en.ReceivedAt, index: en.Index}
			seen[string(sum)] = lf
			out = append(out, lf)
			return lf
		}
		if es, ok := en.Payload.(*mvmv1.EvidenceSubmission); ok {
			for _, f := range es.Files {
				if lf := add(f.StoredSha256); lf.size < 0 {
					lf.size, lf.name, lf.mediaType = f.StoredSize, f.Name, f.MediaType
					lf.plainSum, lf.plainSize = f.PlaintextSha256, f.PlaintextSize
				}
			}
		}
		fd := en.Payload.ProtoReflect().Descriptor().Fields().ByName("evidence_sha256")
		if fd == nil || !fd.IsList() {
			continue
		}
		list := en.Payload.ProtoReflect().Get(fd).List()
		for i := range list.Len() {
			add(list.Get(i).Bytes())
		}
	}
	return out
}

// safeName turns an author's file name into one base name inside the
// output directory: the last path element, without control characters,
// never empty, ".", ".." or hidden, at most 200 bytes; the digest when
// nothing is left.
func safeName(name string, sum []byte) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if strings.HasPrefix(name, ".") {
		name = "_" + name
	}
	for len(name) > 200 {
		_, n := lastRune(name)
		name = name[:len(name)-n]
	}
	if strings.Trim(name, "_.") == "" {
		return hex.EncodeToString(sum)
	}
	return name
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}

// getEvidence downloads every file the verified package names into dir,
// each under its sanitised name (made unique), verified against the
// logged digest and size before it is renamed into place, mode 0600.
// A file already there with the logged digest is kept; any other file of
// that name is not replaced.
//
// On a sealed package, a file is downloaded, its ciphertext digest checked
// and decrypted chunk by chunk as it arrives (evidence_get_sealed.go), and the
// plaintext checked against the digest its author sealed in the log.
func (e *env) getEvidence(ctx context.Context, c *mvmclient.Client, v *mvmclient.VerifiedPackage, dir string) error {
	files := loggedEvidence(v)
	if len(files) == 0 {
		return fmt.Errorf("package %s names no evidence file", v.State.ID)
	}
	key, err := e.readKey(c, v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	used := map[string]bool{}
	var failed []error
	for _, lf := range files {
		name := safeName(lf.name, lf.sum)
		if used[name] {
			name = hex.EncodeToString(lf.sum[:6]) + "-" + name
		}
		used[name] = true
		path := filepath.Join(dir, name)
		get := e.getOne
		if key != nil {
			get = func(ctx context.Context, c *mvmclient.Client, pkg string, lf *loggedFile, path string) error {
				return e.getSealed(ctx, c, *key, pkg, lf, path)
			}
		}
		if err := get(ctx, c, v.State.ID, lf, path); err != nil {
			failed = append(failed, err)
			fmt.Fprintf(e.stderr, "%v\n", err)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d evidence files not written", len(failed), len(files))
	}
	return nil
}

// have reports whether path holds the file whose SHA-256 is sum already,
// and fails if it holds another.
func (e *env) have(path string, sum []byte) (bool, error) {
	have, err := fileSum(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case !bytes.Equal(have, sum):
		return false, fmt.Errorf("%s exists and is not this evidence file (sha256 %x): not replaced", path, sum)
	}
	e.printf("have %s (sha256 %x)\n", path, sum)
	return true, nil
}

func (e *env) getOne(ctx context.Context, c *mvmclient.Client, pkg string, lf *loggedFile, path string) error {
	if ok, err := e.have(path, lf.sum); ok || err != nil {
		return err
	}
	out, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer out.Abort()
	h := sha256.New()
	w := side(pagecache.NewWriter(out.File, 0), h)
	defer w.Close()
	n, err := c.DownloadEvidence(ctx, pkg, lf.sum, 0, 0, w)
	if err != nil {
		return fmt.Errorf("evidence %x: %w", lf.sum, e.explainErr(err))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("evidence %x: writing %s: %w: not written", lf.sum, path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, lf.sum) || (lf.size >= 0 && n != lf.size) {
		return fmt.Errorf("evidence %x: the server sent %d bytes with sha256 %x, not the file the log names (%d bytes): not written", lf.sum, n, got, lf.size)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	e.printf("wrote %s (%d bytes, sha256 %x, verified)\n", path, n, lf.sum)
	return nil
}

// side returns a writer that gives its bytes to ws side by side, each in
// a goroutine of its own (a download's digest beside its decryption or
// its file's writes, on both cores); its Close waits for them. Blocks of
// 128 KiB: a download written in 1 MiB pieces from its own goroutine
// measured up to three times the system time (docs/PERFORMANCE.md).
func side(ws ...io.Writer) *fanout.Writer { return fanout.NewWriter(128<<10, 8, ws...) }

func (e *env) explainErr(err error) error { return errors.New(e.explain(err)) }

// fileSum is the SHA-256 of the file at path.
func fileSum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// listEvidence prints the files a verified package names.
func (e *env) listEvidence(v *mvmclient.VerifiedPackage) {
	files := loggedEvidence(v)
	for _, lf := range files {
		size := "-"
		if lf.size >= 0 {
			size = fmt.Sprint(lf.size)
		}
		if lf.plainSum != nil {
			// A sealed file: what its recipients care for is the
			// plaintext; the stored (sealed) object is named after.
			e.printf("%x  %d  %s  %s  %s  %s (index %d, sealed: stored %s bytes, sha256 %x)\n", lf.plainSum, lf.plainSize, dash(lf.mediaType), dash(quoteName(lf.name)), lf.author, stamp(lf.at), lf.index, size, lf.sum)
			continue
		}
		e.printf("%x  %s  %s  %s  %s  %s (index %d)\n", lf.sum, size, dash(lf.mediaType), dash(quoteName(lf.name)), lf.author, stamp(lf.at), lf.index)
	}
	plural := "s"
	if len(files) == 1 {
		plural = ""
	}
	e.printf("%d evidence file%s, from the log verified against checkpoint size %d\n", len(files), plural, v.Checkpoint.Size)
}

// quoteName shows a name as the author wrote it, quoted when it holds
// anything a terminal would interpret or a reader could misread.
func quoteName(s string) string {
	if s == "" {
		return ""
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '"' {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}
