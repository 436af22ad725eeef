package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/evidence/sealedfile"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// sealedFixture is a sealed exchange with a package whose action is
// reported, and the package key as the responder's client derives it.
type sealedFixture struct {
	e   *testenv.Env
	id  string
	key seal.PackageKey
}

func newSealedFixture(t *testing.T, options ...func(*server.Config)) *sealedFixture {
	t.Helper()
	e := testenv.NewPKI(t, devpki.Options{SealedBodies: true}, options...)
	id := reportedPackage(t, e)
	resp, err := e.Client(testenv.Responder).Package(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	target, err := entryOf(resp.Leaves[0])
	if err != nil {
		t.Fatal(err)
	}
	kr, err := mvmclient.LoadKeyring("af", filepath.Join(e.Certs, devpki.SealKeyFile("af")))
	if err != nil {
		t.Fatal(err)
	}
	key, err := kr.PackageKey(genesisProto(t, e.Certs).LogOrigin, target.(*mvmv1.TargetPackage))
	if err != nil {
		t.Fatal(err)
	}
	return &sealedFixture{e: e, id: id, key: key}
}

// film is a file with a distinctive plaintext, over several chunks.
func film(t *testing.T, dir string) (string, []byte) {
	b := make([]byte, 3*sealedfile.ChunkSize+777)
	rand.NewChaCha8([32]byte{17}).Read(b)
	for i := 0; i+64 < len(b); i += 4096 {
		copy(b[i:], "DISTINCTIVE-PLAINTEXT-RAID-AT-DAWN")
	}
	p := filepath.Join(dir, "raid.mp4")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// storeHolds reports the files under the server's evidence directory
// that contain needle.
func storeHolds(t *testing.T, e *testenv.Env, needle []byte) []string {
	t.Helper()
	var hits []string
	root := filepath.Join(filepath.Dir(e.DB), "evidence")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, needle) {
			hits = append(hits, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// On a sealed package, evidence uploads the file sealed: the server's
// disk holds ciphertext only, named by the ciphertext's digest; the log
// names the plaintext only in the sealed body; get decrypts and verifies
// it, and list shows the plaintext's digest.
func TestEvidenceSealed(t *testing.T) {
	f := newSealedFixture(t)
	e := f.e
	path, plain := film(t, t.TempDir())
	out := mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", f.id, "--file", path)
	sum := sha256.Sum256(plain)
	if !strings.Contains(out, fmt.Sprintf("uploaded raid.mp4 (%d bytes, sha256 %x), sealed: %d bytes, sha256 ", len(plain), sum, sealedfile.SealedSizeV2(int64(len(plain))))) {
		t.Fatalf("evidence output:\n%s", out)
	}
	if hits := storeHolds(t, e, []byte("DISTINCTIVE-PLAINTEXT")); len(hits) > 0 {
		t.Fatalf("the server's evidence store holds the plaintext in %v", hits)
	}
	objs, _ := os.ReadDir(filepath.Join(filepath.Dir(e.DB), "evidence", "objects"))
	if len(objs) != 1 {
		t.Fatalf("%d stored objects, want 1", len(objs))
	}
	// The log: the header names the ciphertext only, not the plaintext's
	// digest, name or size.
	resp, err := e.Client(testenv.Mediator).Package(ctxT(t), f.id)
	if err != nil {
		t.Fatal(err)
	}
	last, err := entryOf(resp.Leaves[len(resp.Leaves)-1])
	if err != nil {
		t.Fatal(err)
	}
	es := last.(*mvmv1.EvidenceSubmission)
	if !message.IsSealed(es) || len(es.Files) != 1 || hex.EncodeToString(es.Files[0].StoredSha256) != objs[0].Name() ||
		es.Files[0].Name != "" || es.Files[0].PlaintextSha256 != nil || es.Files[0].PlaintextSize != 0 {
		t.Fatalf("logged header %v: want sealed, naming the stored object %s only", es, objs[0].Name())
	}
	for _, leaf := range resp.Leaves {
		if bytes.Contains(leaf, sum[:]) || bytes.Contains(leaf, []byte("raid.mp4")) {
			t.Fatal("a leaf holds the plaintext's digest or the file's name")
		}
	}

	list := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "list", f.id)
	if !strings.Contains(list, fmt.Sprintf("%x  %d  video/mp4  raid.mp4  ", sum, len(plain))) || !strings.Contains(list, "sealed: stored "+fmt.Sprint(sealedfile.SealedSizeV2(int64(len(plain))))+" bytes, sha256 "+objs[0].Name()) {
		t.Fatalf("list:\n%s", list)
	}
	dir := t.TempDir()
	out = mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--out", dir)
	got, err := os.ReadFile(filepath.Join(dir, "raid.mp4"))
	if err != nil || !bytes.Equal(got, plain) || !strings.Contains(out, "decrypted and verified") {
		t.Fatalf("get: %v, %d bytes; output:\n%s", err, len(got), out)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "raid.mp4")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	// Again: the plaintext there is recognised and kept.
	if out = mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--out", dir); !strings.Contains(out, "have ") {
		t.Errorf("second get:\n%s", out)
	}
	// A party without a decryption key is told why it cannot get them.
	os.Remove(filepath.Join(e.Certs, devpki.SealKeyFile("tr")))
	_, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--out", t.TempDir())
	if code == 0 || !strings.Contains(stderr, "no decryption key") {
		t.Errorf("get without a key: exit %d, %s", code, stderr)
	}
}

// A client killed mid-upload resumes, sealed as before: the same file on
// the same package seals to the same bytes (sealedfile version 2, sealed
// as it is sent), and the second run rebuilds the digests of the part the
// server holds from the file, sending only the rest.
func TestEvidenceSealedResume(t *testing.T) {
	f := newSealedFixture(t)
	e := f.e
	path, plain := film(t, t.TempDir())
	lf, err := openEvidenceFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.f.Close()
	up, err := (&evidenceSealing{key: f.key}).uploader(f.id, lf)
	if err != nil {
		t.Fatal(err)
	}
	var sealed bytes.Buffer
	if err := up.write(&sealed); err != nil || int64(sealed.Len()) != up.size {
		t.Fatalf("sealing: %v, %d bytes of %d", err, sealed.Len(), up.size)
	}
	// The first run dies after 100,000 bytes sent, once the server has
	// them (a client killed then).
	af := e.Client(testenv.Responder)
	ctx, kill := context.WithCancel(ctxT(t))
	stream, err := af.API.UploadEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&mvmv1.UploadEvidenceRequest{PackageId: f.id, UploadKey: up.key, Size: up.size, Data: sealed.Bytes()[:100_000]})
	status := func() *mvmv1.EvidenceStatusResponse {
		st, err := af.API.EvidenceStatus(ctxT(t), &mvmv1.EvidenceStatusRequest{PackageId: f.id, UploadKey: up.key, Size: up.size})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && status().Offset < 100_000; time.Sleep(10 * time.Millisecond) {
	}
	kill()
	var st *mvmv1.EvidenceStatusResponse
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st = status(); st.Offset > 0 {
			break
		}
	}
	if st.Offset == 0 || st.Stored {
		t.Fatalf("after the first run: %v; want part of the sealed file held", st)
	}
	var out, stderr string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var code int
		if out, stderr, code = runCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", f.id, "--file", path); code == 0 || !strings.Contains(stderr, "in progress") {
			break
		}
	}
	if !strings.Contains(out, fmt.Sprintf("resumed from byte %d", st.Offset)) {
		t.Fatalf("second run:\n%s%s\nwant a resume from %d", out, stderr, st.Offset)
	}
	dir := t.TempDir()
	mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "evidence", "get", f.id, "--out", dir)
	if got, _ := os.ReadFile(filepath.Join(dir, "raid.mp4")); !bytes.Equal(got, plain) {
		t.Fatal("the resumed file does not decrypt to the original")
	}
}

// What a reader refuses, and whose fault it says it is: bytes other than
// the logged ones are the server's; logged bytes that do not open to the
// logged plaintext (a chunk changed, the file cut, another plaintext) are
// their signed author's. Nothing is written either way.
func TestEvidenceSealedRefused(t *testing.T) {
	f := newSealedFixture(t)
	e := f.e
	af := e.Client(testenv.Responder)
	_, plain := film(t, t.TempDir())
	sum := sha256.Sum256(plain)
	nonce, _ := sealedfile.FileNonce(f.key, f.id, sum[:])
	c, _ := sealedfile.NewCipher(f.key, f.id, sealedfile.Header{Nonce: nonce, Size: int64(len(plain))})
	r := sealedfile.NewReader(c, bytes.NewReader(plain))
	good, _ := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	chunk1 := sealedfile.HeaderSize + sealedfile.ChunkSize + sealedfile.TagSize + 100
	// logAs uploads stored as the file's bytes and logs a sealed
	// submission naming them, with plaintext digest plainSum, as a
	// careless or malicious author's client could.
	logAs := func(name string, stored []byte, plainSum []byte) {
		t.Helper()
		d := sha256.Sum256(stored)
		if _, err := af.UploadEvidence(ctxT(t), f.id, d[:], int64(len(stored)), bytes.NewReader(stored)); err != nil {
			t.Fatal(err)
		}
		m := &mvmv1.EvidenceSubmission{Header: mvmclient.NewHeader(), PackageId: f.id, EvidenceSha256: [][]byte{d[:]},
			Files: []*mvmv1.EvidenceFile{{StoredSha256: d[:], StoredSize: int64(len(stored)), Name: name, PlaintextSha256: plainSum, PlaintextSize: int64(len(plain))}}}
		sealed, err := message.SealMessage(m, genesisProto(t, e.Certs).LogOrigin, f.key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := af.Append(ctxT(t), sealed); err != nil {
			t.Fatal(err)
		}
	}
	tampered := bytes.Clone(good)
	tampered[chunk1] ^= 1
	logAs("tampered.mp4", tampered, sum[:])
	logAs("truncated.mp4", good[:sealedfile.HeaderSize+2*(sealedfile.ChunkSize+sealedfile.TagSize)], sum[:])
	other := sha256.Sum256([]byte("another film"))
	logAs("other.mp4", good, other[:])
	logAs("altered-on-disk.mp4", append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1), sum[:])
	alteredObj := filepath.Join(filepath.Dir(e.DB), "evidence", "objects", hex.EncodeToString(sha(append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1))))
	if err := os.WriteFile(alteredObj, good, 0o600); err != nil { // the server's disk now holds other bytes
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--out", dir)
	if code != ExitFail {
		t.Fatalf("exit %d, want %d\n%s", code, ExitFail, stderr)
	}
	for _, want := range []string{
		"as its author spiffe://mvm.example/party/af/af-interior logged it at entry 4, does not open with the package key: sealed evidence file does not open",
		"truncated: 2 of 4 chunks received",
		"its author spiffe://mvm.example/party/af/af-interior sealed at entry 6: not written",
		"not the file the log names",
		"4 of 4 evidence files not written",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d names left in --out after refused downloads", len(ents))
	}
	// audit --evidence with the mediator's key finds the same: three files
	// stored as logged but not opening to their sealed plaintext (their
	// author's), one other than logged (the server's).
	stdout, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "audit", "--evidence", "--no-cosign")
	if code != ExitFail {
		t.Fatalf("audit --evidence: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"evidence files: 4 logged in your scope, 3 stored whole and matching, 1 missing or other than logged",
		"sealed evidence files: 0 decrypted to the plaintext their author sealed, 3 not (their authors' faults)",
		"evidence: entry 4, package " + f.id,
		"evidence: entry 5, package " + f.id,
		"evidence: entry 6, package " + f.id,
		"evidence: entry 7, package " + f.id,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("audit stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Count(stdout, "a fault of its author") != 3 {
		t.Errorf("audit stdout:\n%s\nwant three author's faults", stdout)
	}
}

// Ranges of a sealed file: the sealed range that holds a plaintext range
// is downloaded and opened on its own (a reader need not fetch the whole
// film to see a minute of it), authenticated like the whole.
func TestEvidenceSealedRange(t *testing.T) {
	f := newSealedFixture(t)
	e := f.e
	path, plain := film(t, t.TempDir())
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", f.id, "--file", path)
	objs, _ := os.ReadDir(filepath.Join(filepath.Dir(e.DB), "evidence", "objects"))
	d, _ := hex.DecodeString(objs[0].Name())
	tr := e.Client(testenv.Mediator)
	var head bytes.Buffer
	if _, err := tr.DownloadEvidence(ctxT(t), f.id, d, 0, sealedfile.HeaderSize, &head); err != nil {
		t.Fatal(err)
	}
	h, err := sealedfile.ParseHeader(head.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := sealedfile.NewCipher(f.key, f.id, h)
	for _, rg := range [][2]int64{{70_000, 100_000}, {0, 10}, {int64(len(plain)) - 5, 5}} {
		r, err := c.Range(rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		w := c.RangeWriter(r, &got)
		if _, err := tr.DownloadEvidence(context.Background(), f.id, d, r.Offset, r.Length, w); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil || !bytes.Equal(got.Bytes(), plain[rg[0]:rg[0]+rg[1]]) {
			t.Errorf("range %v: %v, %d bytes", rg, err, got.Len())
		}
	}
}
