package cli

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// localFile is an evidence file to upload, read once to hash it.
type localFile struct {
	path string
	f    *os.File
	size int64
	sum  []byte
	rec  *mvmv1.EvidenceFile
}

// openEvidenceFile opens path and hashes it (in constant memory), and
// names its media type from its extension, else from its first bytes.
func openEvidenceFile(path string) (*localFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--file %s: %v", path, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file")
	}
	if err != nil {
		f.Close()
		return nil, usagef("--file %s: %v", path, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--file %s: %w", path, err)
	}
	mt := mime.TypeByExtension(filepath.Ext(path))
	if mt == "" {
		head := make([]byte, 512)
		n, _ := f.ReadAt(head, 0)
		mt = http.DetectContentType(head[:n])
	}
	lf := &localFile{path: path, f: f, size: fi.Size(), sum: h.Sum(nil)}
	lf.rec = &mvmv1.EvidenceFile{StoredSha256: lf.sum, StoredSize: lf.size, Name: filepath.Base(path), MediaType: mt}
	return lf, nil
}

// submitEvidence uploads each file (resuming what the server holds of
// it), then signs and logs one EvidenceSubmission naming the files and the
// digests given. The message is validated before anything is sent, and
// logged only once every file is stored.
func (e *env) submitEvidence(logIt func(c *mvmclient.Client, m *mvmv1.EvidenceSubmission) error, id string, paths []string, digests [][]byte, note string) error {
	m := &mvmv1.EvidenceSubmission{Header: mvmclient.NewHeader(), PackageId: id, EvidenceSha256: digests, Note: note}
	var files []*localFile
	defer func() {
		for _, lf := range files {
			lf.f.Close()
		}
	}()
	for _, p := range paths {
		lf, err := openEvidenceFile(p)
		if err != nil {
			return err
		}
		files = append(files, lf)
		m.EvidenceSha256 = append(m.EvidenceSha256, lf.sum)
		m.Files = append(m.Files, lf.rec)
	}
	if len(m.EvidenceSha256) == 0 {
		return usagef("--file or --evidence is required")
	}
	if err := checkMessage(m); err != nil {
		return err
	}
	c, err := e.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.context()
	defer cancel()
	for _, lf := range files {
		if err := e.uploadOne(ctx, c, id, lf); err != nil {
			return err
		}
	}
	return logIt(c, m)
}

func (e *env) uploadOne(ctx context.Context, c *mvmclient.Client, id string, lf *localFile) error {
	res, err := c.UploadEvidence(ctx, id, lf.sum, lf.size, lf.f)
	if err != nil {
		return fmt.Errorf("uploading %s: %w", lf.path, err)
	}
	switch {
	case res.From == lf.size:
		e.printf("stored already: %s (%d bytes, sha256 %x)\n", lf.rec.Name, lf.size, lf.sum)
	case res.From > 0:
		e.printf("uploaded %s (%d bytes, sha256 %x), resumed from byte %d\n", lf.rec.Name, lf.size, lf.sum, res.From)
	default:
		e.printf("uploaded %s (%d bytes, sha256 %x)\n", lf.rec.Name, lf.size, lf.sum)
	}
	return nil
}
