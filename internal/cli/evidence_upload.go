package cli

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// localFile is an evidence file to upload, read once: sealed (where the
// package is), hashed and sent in the same pass.
type localFile struct {
	path string
	f    *os.File
	size int64 // of the plaintext
	rec  *mvmv1.EvidenceFile
}

// openEvidenceFile opens path and names its media type from its
// extension, else from its first bytes.
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
	mt := mime.TypeByExtension(filepath.Ext(path))
	if mt == "" {
		head := make([]byte, 512)
		n, _ := f.ReadAt(head, 0)
		mt = http.DetectContentType(head[:n])
	}
	lf := &localFile{path: path, f: f, size: fi.Size()}
	// The digests are known once the file is sent; until then a
	// placeholder of their size, one per path, lets the submission be
	// validated first.
	ph := sha256.Sum256([]byte("placeholder\x00" + path))
	lf.rec = &mvmv1.EvidenceFile{StoredSha256: ph[:], StoredSize: lf.size, Name: filepath.Base(path), MediaType: mt}
	return lf, nil
}

// submitEvidence uploads each file in one pass (resuming what the server
// holds of it), then signs and logs one EvidenceSubmission naming the
// files and the digests given, computed as the files were sent. Where the
// package is sealed, each file is sealed on the client as it is sent and
// the submission is sealed. The message is validated before anything is
// sent, and logged only once every file is stored.
func (e *env) submitEvidence(logIt func(c *mvmclient.Client, m proto.Message) error, id string, paths []string, digests [][]byte, note string) error {
	m := &mvmv1.EvidenceSubmission{Header: mvmclient.NewHeader(), PackageId: id, EvidenceSha256: digests, Note: note}
	var files []*localFile
	defer func() {
		for _, lf := range files {
			lf.f.Close()
		}
	}()
	// Counted before any file is opened or any byte sent: a submission
	// over the limit would be refused only after its uploads.
	if n := len(paths) + len(digests); n > message.MaxEvidence {
		return usagef("%d files (--file, --evidence): over the limit of %d evidence files per submission; send them in more than one", n, message.MaxEvidence)
	}
	named := func() {
		m.EvidenceSha256, m.Files = append([][]byte(nil), digests...), nil
		for _, lf := range files {
			m.EvidenceSha256 = append(m.EvidenceSha256, lf.rec.StoredSha256)
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
	for _, lf := range files {
		if err := e.uploadOne(ctx, c, id, sealing, lf); err != nil {
			return err
		}
	}
	named()
	if err := checkMessage(m); err != nil {
		return err
	}
	sealed, err := sealing.seal(m)
	if err != nil {
		return err
	}
	return logIt(c, sealed)
}

// uploadOne sends lf in one pass and fills its record with the digests
// computed as it went.
func (e *env) uploadOne(ctx context.Context, c *mvmclient.Client, id string, sealing *evidenceSealing, lf *localFile) error {
	up, err := sealing.uploader(id, lf)
	if err != nil {
		return err
	}
	res, err := c.UploadEvidenceOnePass(ctx, id, up.key, up.size, up.write)
	if err != nil {
		return fmt.Errorf("uploading %s: %w", lf.path, err)
	}
	lf.rec.StoredSha256, lf.rec.StoredSize = res.Sum, up.size
	what := fmt.Sprintf("%s (%d bytes, sha256 %x)", lf.rec.Name, up.size, res.Sum)
	if up.plainSum != nil {
		lf.rec.PlaintextSha256, lf.rec.PlaintextSize = up.plainSum, lf.size
		what = fmt.Sprintf("%s (%d bytes, sha256 %x), sealed: %d bytes, sha256 %x", lf.rec.Name, lf.size, lf.rec.PlaintextSha256, up.size, res.Sum)
	}
	switch {
	case res.From == up.size:
		e.printf("uploaded %s, every byte held already\n", what)
	case res.From > 0:
		e.printf("uploaded %s, resumed from byte %d\n", what, res.From)
	default:
		e.printf("uploaded %s\n", what)
	}
	return nil
}

// upload is how one file is sent: the upload's key and size, and write,
// which gives all its bytes (and sets plainSum, the plaintext's SHA-256,
// when it seals them).
type upload struct {
	key      []byte
	size     int64
	write    func(io.Writer) error
	plainSum []byte
}

// clearUpload sends lf as it is, read in 1 MiB blocks.
func clearUpload(pkg string, lf *localFile) *upload {
	u := &upload{size: lf.size}
	// The same file name and size on the same package: the same upload,
	// which a second run resumes (the server checks the bytes anyway).
	k := sha256.Sum256([]byte(contextKey("mvm-evidence clear upload", pkg, lf.rec.Name, fmt.Sprint(lf.size))))
	u.key = k[:]
	u.write = func(w io.Writer) error {
		_, err := io.CopyBuffer(w, io.NewSectionReader(lf.f, 0, lf.size), make([]byte, 1<<20))
		return err
	}
	return u
}

// contextKey encodes a label and length-prefixed fields, so no two
// different lists share an encoding.
func contextKey(label string, fields ...string) string {
	b := append([]byte(label), 0)
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return string(b)
}
