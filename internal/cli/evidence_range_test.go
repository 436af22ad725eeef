package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/evidence/evidencetest"
	"github.com/mvm-exchange/mvm/internal/evidence/sealedfile"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// storedObject is the path of the stored object of a sealed upload of
// plain in the fixture's package (the one object the store holds).
func storedObject(t *testing.T, e *testenv.Env) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(e.DB), "evidence", "objects")
	objs, err := os.ReadDir(dir)
	if err != nil || len(objs) != 1 {
		t.Fatalf("stored objects: %v, %v; want one", objs, err)
	}
	return filepath.Join(dir, objs[0].Name())
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// A sealed download continues from the whole chunks a cut run kept, and
// checks the whole file all the same: kept bytes that are not the file's
// start are dropped and the file is downloaded whole again; kept bytes
// that are, are not downloaded again (a chunk the server altered there
// goes unread), and the file is renamed into place 0600 with nothing
// else left.
func TestEvidenceGetResumesSealed(t *testing.T) {
	f := newSealedFixture(t)
	e := f.e
	path, plain := film(t, t.TempDir()) // 4 chunks, the last short
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", f.id, "--file", path)
	sum := sha256.Sum256(plain)
	obj := storedObject(t, e)
	stored, _ := hex.DecodeString(filepath.Base(obj))
	kept := 2*sealedfile.ChunkSize + 100 // cut in the middle of chunk 2
	partial := func(dir string, b []byte) {
		t.Helper()
		if err := os.WriteFile(atomicfile.PartialName(filepath.Join(dir, "raid.mp4"), partialTag(stored)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Kept bytes that are not the file's: dropped, downloaded whole.
	dir := t.TempDir()
	wrong := bytes.Clone(plain[:kept])
	wrong[10] ^= 1
	partial(dir, wrong)
	stdout, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--out", dir)
	if code != ExitOK || !strings.Contains(stderr, "downloading it whole again") ||
		!strings.Contains(stdout, fmt.Sprintf("wrote %s (%d bytes, sha256 %x, decrypted and verified)", filepath.Join(dir, "raid.mp4"), len(plain), sum)) {
		t.Fatalf("get over wrong kept bytes: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "raid.mp4")); !bytes.Equal(got, plain) {
		t.Fatal("the file written is not the logged plaintext")
	}

	// Kept bytes that are the file's start: the server's chunk 0 is
	// altered, and the resumed run does not read it.
	flipByte(t, obj, sealedfile.HeaderSize+10)
	dir = t.TempDir()
	partial(dir, plain[:kept])
	stdout, stderr, code = runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--out", dir)
	want := fmt.Sprintf("wrote %s (%d bytes, sha256 %x, decrypted and verified whole, resumed at byte %d)", filepath.Join(dir, "raid.mp4"), len(plain), sum, 2*sealedfile.ChunkSize)
	if code != ExitOK || !strings.Contains(stdout, want) || stderr != "" {
		t.Fatalf("resumed get: exit %d\nstdout: %s\nstderr: %s\nwant %q", code, stdout, stderr, want)
	}
	got, err := os.ReadFile(filepath.Join(dir, "raid.mp4"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("resumed file: %v, %d bytes, want the plaintext", err, len(got))
	}
	if fi, _ := os.Stat(filepath.Join(dir, "raid.mp4")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (the kept file was 0644)", fi.Mode().Perm())
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("left in --out: %q, want raid.mp4 only", names)
	}

	// From byte 0 the altered chunk is read, and refused as the server's.
	dir = t.TempDir()
	_, stderr, code = runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--out", dir)
	if code != ExitFail || !strings.Contains(stderr, "not the file the log names") {
		t.Fatalf("fresh get of an altered object: exit %d, %s", code, stderr)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("left in --out after a refused download: %q", names)
	}
}

// --range of a sealed file writes exactly those plaintext bytes, every
// chunk they span opened; a chunk the server altered is refused and
// nothing is written, while a range that does not span it is written.
func TestEvidenceGetRangeSealed(t *testing.T) {
	f := newSealedFixture(t)
	e := f.e
	path, plain := film(t, t.TempDir())
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", f.id, "--file", path)
	dir := t.TempDir()
	for _, c := range []struct {
		rng        string
		start, end int
		chunks     string
	}{
		{"70000-140000", 70000, 140000, "chunks 1-2 of 4"},
		{"0-0", 0, 0, "chunks 0-0 of 4"},
		{fmt.Sprintf("%d-", len(plain)-5), len(plain) - 5, len(plain) - 1, "chunks 3-3 of 4"},
		{"65535-65536", 65535, 65536, "chunks 0-1 of 4"},
	} {
		out := filepath.Join(dir, "part-"+c.rng)
		stdout := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--name", "raid.mp4", "--range", c.rng, "--out", out)
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, plain[c.start:c.end+1]) {
			t.Errorf("--range %s: %v, %d bytes, want plaintext [%d, %d]", c.rng, err, len(got), c.start, c.end)
		}
		if !strings.Contains(stdout, fmt.Sprintf("bytes %d-%d of raid.mp4, %d bytes; %s opened under the package key", c.start, c.end, c.end-c.start+1, c.chunks)) {
			t.Errorf("--range %s: output %s", c.rng, stdout)
		}
		if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("--range %s: mode %v, want 0600", c.rng, fi.Mode().Perm())
		}
	}
	for _, c := range []struct{ rng, want string }{
		{fmt.Sprintf("%d-%d", len(plain)-1, len(plain)), "outside the file's"},
		{"5-4", "END >= START"},
		{"x", "want START-END"},
	} {
		if _, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--name", "raid.mp4", "--range", c.rng, "--out", filepath.Join(dir, "bad")); code == ExitOK || !strings.Contains(stderr, c.want) {
			t.Errorf("--range %s: exit %d, %s; want %q", c.rng, code, stderr, c.want)
		}
	}

	flipByte(t, storedObject(t, e), sealedfile.HeaderSize+2*(sealedfile.ChunkSize+sealedfile.IVSize+sealedfile.TagSize)+50) // chunk 2
	out := filepath.Join(dir, "tampered")
	_, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--name", "raid.mp4", "--range", "70000-140000", "--out", out)
	if code != ExitFail || !strings.Contains(stderr, "does not open under the package key") {
		t.Errorf("range over an altered chunk: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a range over an altered chunk was written")
	}
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--name", "raid.mp4", "--range", "0-100", "--out", out)
}

// A clear file's range cannot be checked against its digest: refused
// unless --unverified, then written and said to be unverified. --name
// alone gets one file, verified; a clear download resumes from its last
// byte and is verified whole.
func TestEvidenceGetRangeClear(t *testing.T) {
	e := testenv.New(t)
	id := reportedPackage(t, e)
	plain := make([]byte, 300_000)
	rand.NewChaCha8([32]byte{3}).Read(plain)
	src := filepath.Join(t.TempDir(), "site.jpg")
	if err := os.WriteFile(src, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", id, "--file", src)
	logHostile(t, e, id, []string{"other.jpg"})
	dir := t.TempDir()
	out := filepath.Join(dir, "part")
	_, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--name", "site.jpg", "--range", "10-19", "--out", out)
	if code != ExitUsage || !strings.Contains(stderr, "--unverified") {
		t.Fatalf("clear range without --unverified: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused range was written")
	}
	stdout := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--name", "site.jpg", "--range", "10-19", "--out", out, "--unverified")
	if got, _ := os.ReadFile(out); !bytes.Equal(got, plain[10:20]) || !strings.Contains(stdout, "bytes 10-19 of site.jpg, 10 bytes, UNVERIFIED") {
		t.Errorf("--unverified range: %q\n%s", got, stdout)
	}

	// --name alone: that file only. A kept start is continued; the
	// server's first bytes altered go unread.
	sum := sha256.Sum256(plain)
	obj := filepath.Join(filepath.Dir(e.DB), "evidence", "objects", hex.EncodeToString(sum[:]))
	flipByte(t, obj, 5)
	got := t.TempDir()
	if err := os.WriteFile(atomicfile.PartialName(filepath.Join(got, "site.jpg"), partialTag(sum[:])), plain[:1000], 0o600); err != nil {
		t.Fatal(err)
	}
	stdout = mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--name", "site.jpg", "--out", got)
	if b, _ := os.ReadFile(filepath.Join(got, "site.jpg")); !bytes.Equal(b, plain) || !strings.Contains(stdout, "verified whole, resumed at byte 1000") {
		t.Errorf("resumed clear get: %d bytes\n%s", len(b), stdout)
	}
	if names := dirNames(t, got); len(names) != 1 || names[0] != "site.jpg" {
		t.Errorf("--name site.jpg wrote %q", names)
	}
	// Wrong kept bytes: the server's altered start is then read, and
	// the file refused whole.
	got = t.TempDir()
	if err := os.WriteFile(atomicfile.PartialName(filepath.Join(got, "site.jpg"), partialTag(sum[:])), make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--name", "site.jpg", "--out", got)
	if code != ExitFail || !strings.Contains(stderr, "downloading it whole again") || !strings.Contains(stderr, "not the file the log names") {
		t.Errorf("wrong kept bytes over an altered object: exit %d, %s", code, stderr)
	}
	if names := dirNames(t, got); len(names) != 0 {
		t.Errorf("left after a refusal: %q", names)
	}
	if _, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--name", "nope", "--out", got); code == ExitOK || !strings.Contains(stderr, "no such evidence file") {
		t.Errorf("--name nope: exit %d, %s", code, stderr)
	}
}

// The same on an S3 store (a real versitygw): a sealed download resumes
// from the whole chunks kept, and a range is read from the object's
// middle.
func TestEvidenceGetResumeAndRangeS3(t *testing.T) {
	f := newSealedFixture(t, func(c *server.Config) { c.Evidence.S3 = evidencetest.VersityGW(t) })
	e := f.e
	path, plain := film(t, t.TempDir())
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "evidence", f.id, "--file", path)
	list := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "list", f.id)
	_, after, ok := strings.Cut(list, ", sha256 ")
	stored, err := hex.DecodeString(strings.TrimSuffix(strings.Fields(after)[0], ")"))
	if !ok || err != nil || len(stored) != 32 {
		t.Fatalf("no stored digest in the list:\n%s", list)
	}
	dir := t.TempDir()
	kept := 3*sealedfile.ChunkSize - 1 // two whole chunks kept
	if err := os.WriteFile(atomicfile.PartialName(filepath.Join(dir, "raid.mp4"), partialTag(stored)), plain[:kept], 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--out", dir)
	if got, _ := os.ReadFile(filepath.Join(dir, "raid.mp4")); !bytes.Equal(got, plain) || !strings.Contains(out, fmt.Sprintf("resumed at byte %d", 2*sealedfile.ChunkSize)) {
		t.Fatalf("resumed get from S3: %d bytes\n%s", len(got), out)
	}
	part := filepath.Join(dir, "part")
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", f.id, "--name", "raid.mp4", "--range", "100000-190000", "--out", part)
	if got, _ := os.ReadFile(part); !bytes.Equal(got, plain[100000:190001]) {
		t.Errorf("range from S3: %d bytes, want plaintext [100000, 190000]", len(got))
	}
}
