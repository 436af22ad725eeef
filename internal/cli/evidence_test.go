package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func TestSafeName(t *testing.T) {
	sum := bytes.Repeat([]byte{0xab}, 32)
	digest := hex.EncodeToString(sum)
	for _, c := range []struct{ in, want string }{
		{"raid.mp4", "raid.mp4"},
		{"../../x", "x"},
		{"/etc/passwd", "passwd"},
		{`..\..\windows\system32`, "system32"},
		{"..", digest},
		{".", digest},
		{"", digest},
		{"/", digest},
		{"dir/", digest},
		{".bashrc", "_.bashrc"},
		{"a\x00b\nc\x1b[31m", "abc[31m"},
		{"  spaced  ", "spaced"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100)},
	} {
		got := safeName(c.in, sum)
		if got != c.want {
			t.Errorf("safeName(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.ContainsAny(got, `/\`) || got == "." || got == ".." || len(got) > 200 {
			t.Errorf("safeName(%q) = %q: not one plain base name", c.in, got)
		}
	}
}

// logHostile uploads files and logs a submission that names them with
// hostile names, as a responder's own client could.
func logHostile(t *testing.T, e *testenv.Env, pkg string, names []string) [][]byte {
	t.Helper()
	af := e.Client(testenv.Responder)
	m := &mvmv1.EvidenceSubmission{Header: mvmclient.NewHeader(), PackageId: pkg}
	var bodies [][]byte
	for i, name := range names {
		b := []byte("file " + string(rune('A'+i)))
		d := sha256.Sum256(b)
		if _, err := af.UploadEvidence(ctxT(t), pkg, d[:], int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		m.EvidenceSha256 = append(m.EvidenceSha256, d[:])
		m.Files = append(m.Files, &mvmv1.EvidenceFile{StoredSha256: d[:], StoredSize: int64(len(b)), Name: name})
		bodies = append(bodies, b)
	}
	if _, err := af.Append(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	return bodies
}

func reportedPackage(t *testing.T, e *testenv.Env) string {
	t.Helper()
	out := mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2")
	id := strings.Fields(out)[0]
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "ack", id)
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "report", id, "--outcome", "raid")
	return id
}

// Names from the log never write outside --out.
func TestEvidenceGetHostileNames(t *testing.T) {
	e := testenv.New(t)
	id := reportedPackage(t, e)
	names := []string{"../../x", "/etc/passwd", "..", ".bashrc", "a/../../b", `..\..\c`, "x"}
	bodies := logHostile(t, e, id, names)
	root := t.TempDir()
	out := filepath.Join(root, "sub", "out")
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--out", out)
	want := map[string][]byte{
		"x": bodies[0], "passwd": bodies[1], hex.EncodeToString(sha(bodies[2])): bodies[2], "_.bashrc": bodies[3],
		"b": bodies[4], "c": bodies[5], hex.EncodeToString(sha(bodies[6])[:6]) + "-x": bodies[6],
	}
	var got []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			got = append(got, p)
		}
		return nil
	})
	if len(got) != len(want) {
		t.Errorf("files written under %s: %q, want %d in %s", root, got, len(want), out)
	}
	for name, b := range want {
		p := filepath.Join(out, name)
		have, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(have, b) {
			t.Errorf("%s: %q, %v; want %q", name, have, err, b)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

func sha(b []byte) []byte { d := sha256.Sum256(b); return d[:] }

// The bytes the server sends are checked against the logged digest before
// anything is written: a stored file altered on the server's disk is
// refused, and no file appears.
func TestEvidenceGetRefusesAlteredBytes(t *testing.T) {
	e := testenv.New(t)
	id := reportedPackage(t, e)
	bodies := logHostile(t, e, id, []string{"film.mp4"})
	obj := filepath.Join(filepath.Dir(e.DB), "evidence", "objects", hex.EncodeToString(sha(bodies[0])))
	altered := bytes.Clone(bodies[0])
	altered[0] ^= 1
	if err := os.WriteFile(obj, altered, 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	stdout, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "evidence", "get", id, "--out", out)
	if code != ExitFail || !strings.Contains(stderr, "not the file the log names") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s\nwant a refusal", code, stdout, stderr)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("%d names left in --out after a refused download", len(ents))
	}
}

// audit --evidence downloads every logged evidence file in the caller's
// scope and finds each one deleted from or changed in the store, naming
// its entry; a sound store passes.
func TestAuditEvidence(t *testing.T) {
	e := testenv.New(t)
	id := reportedPackage(t, e)
	bodies := logHostile(t, e, id, []string{"a.mp4", "b.mp4", "c.jpg"}) // entry 4
	id2 := reportedPackage(t, e)
	logHostile(t, e, id2, []string{"w", "x", "y", "d.mp4"}) // entry 8: one new object, three logged already
	for _, as := range []string{testenv.Mediator, testenv.Responder, testenv.Submitter} {
		out := mustCLI(t, e.Addr, e.Certs, as, "audit", "--evidence", "--no-cosign")
		if !strings.Contains(out, "evidence files: 4 logged in your scope, 4 stored whole and matching, 0 missing or other than logged") || !strings.Contains(out, "audit: OK") {
			t.Fatalf("audit --evidence as %s on a sound store:\n%s", as, out)
		}
	}
	objects := filepath.Join(filepath.Dir(e.DB), "evidence", "objects")
	if err := os.Remove(filepath.Join(objects, hex.EncodeToString(sha(bodies[0])))); err != nil {
		t.Fatal(err)
	}
	altered := bytes.Clone(bodies[2])
	altered[len(altered)-1] ^= 1
	if err := os.WriteFile(filepath.Join(objects, hex.EncodeToString(sha(bodies[2]))), altered, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "audit", "--evidence", "--no-cosign")
	if code != ExitFail {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitFail, stdout, stderr)
	}
	for _, want := range []string{
		fmt.Sprintf("evidence: entry 4, package %s, sha256 %x: not stored whole on the exchange: ", id, sha(bodies[0])),
		fmt.Sprintf("evidence: entry 4, package %s, sha256 %x: the exchange holds %d bytes with sha256 %x, not the %d bytes logged", id, sha(bodies[2]), len(altered), sha(altered), len(altered)),
		"evidence files: 4 logged in your scope, 2 stored whole and matching, 2 missing or other than logged",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "FAILED: 2 of 4 evidence files the log names are not stored whole and matching") || strings.Contains(stdout, "audit: OK") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if _, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "audit", "--evidence", "--bundle", "x"); code != ExitUsage || !strings.Contains(stderr, "does not go with --bundle") {
		t.Errorf("--evidence --bundle: exit %d, %s", code, stderr)
	}
}
