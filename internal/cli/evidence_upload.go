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

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// localFile is an evidence file to upload, read once to hash it (and
// once more to hash its sealed form).
type localFile struct {
	path   string
	f      *os.File
	size   int64       // of what is uploaded
	sum    []byte      // SHA-256 of what is uploaded
	upload io.ReaderAt // the file, or its sealed view
	rec    *mvmv1.EvidenceFile
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
	lf := &localFile{path: path, f: f, size: fi.Size(), sum: h.Sum(nil), upload: f}
	lf.rec = &mvmv1.EvidenceFile{StoredSha256: lf.sum, StoredSize: lf.size, Name: filepath.Base(path), MediaType: mt}
	return lf, nil
}

// submitEvidence uploads each file (resuming what the server holds of
// it), then signs and logs one EvidenceSubmission naming the files and the
// digests given. Where the package is sealed, each file is sealed on the
// client first and the submission is sealed. The message is validated
// before anything is sent, and logged only once every file is stored.
func (e *env) submitEvidence(logIt func(c *mvmclient.Client, m proto.Message) error, id string, paths []string, digests [][]byte, note string) error {
	m := &mvmv1.EvidenceSubmission{Header: mvmclient.NewHeader(), PackageId: id, EvidenceSha256: digests, Note: note}
	var files []*localFile
	defer func() {
		for _, lf := range files {
			lf.f.Close()
		}
	}()
	named := func() {
		m.EvidenceSha256, m.Files = append([][]byte(nil), digests...), nil
		for _, lf := range files {
			m.EvidenceSha256 = append(m.EvidenceSha256, lf.sum)
			m.Files = append(m.Files, lf.rec)
		}
	}
	for _, p := range paths {
		lf, err := openEvidenceFile(p)
		if err != nil {
			return err
		}
		files = append(files, lf)
	}
	named()
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
	sealing, err := e.evidenceSealingFor(ctx, c, id, len(files) > 0)
	if err != nil {
		return err
	}
	if sealing != nil {
		for _, lf := range files {
			if err := sealing.sealFile(id, lf); err != nil {
				return err
			}
		}
		named()
	}
	sealed, err := sealing.seal(m)
	if err != nil {
		return err
	}
	for _, lf := range files {
		if err := e.uploadOne(ctx, c, id, lf); err != nil {
			return err
		}
	}
	return logIt(c, sealed)
}

func (e *env) uploadOne(ctx context.Context, c *mvmclient.Client, id string, lf *localFile) error {
	res, err := c.UploadEvidence(ctx, id, lf.sum, lf.size, lf.upload)
	if err != nil {
		return fmt.Errorf("uploading %s: %w", lf.path, err)
	}
	what := fmt.Sprintf("%s (%d bytes, sha256 %x)", lf.rec.Name, lf.size, lf.sum)
	if p := lf.rec.PlaintextSha256; p != nil {
		what = fmt.Sprintf("%s (%d bytes, sha256 %x), sealed: %d bytes, sha256 %x", lf.rec.Name, lf.rec.PlaintextSize, p, lf.size, lf.sum)
	}
	switch {
	case res.From == lf.size:
		e.printf("stored already: %s\n", what)
	case res.From > 0:
		e.printf("uploaded %s, resumed from byte %d\n", what, res.From)
	default:
		e.printf("uploaded %s\n", what)
	}
	return nil
}
