package restore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/cli"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// run runs the client as `as` against e and returns its stdout.
func run(t *testing.T, e *testenv.Env, as string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Run(append([]string{"--server", e.Addr, "--certs", e.Certs, "--as", as}, args...), &out, &errOut); code != 0 {
		t.Fatalf("client --as %s %v: exit %d\n%s%s", as, args, code, out.String(), errOut.String())
	}
	return out.String()
}

// A restore copies every evidence file the restored log names from the
// source (a node, which copied them) into the primary's evidence store,
// each checked against its logged digest: the lost primary's files are
// back, and evidence get from the restored primary writes them. Files
// the source does not hold are counted as missing.
func TestRestoreEvidence(t *testing.T) {
	primary := testenv.New(t)
	id := strings.TrimSpace(strings.SplitN(run(t, primary, testenv.Submitter, "submit", "--lat", "1", "--lon", "2"), "\n", 2)[0])
	run(t, primary, testenv.Responder, "ack", id)
	run(t, primary, testenv.Responder, "report", id, "--outcome", "raid")
	dir := t.TempDir()
	film := bytes.Repeat([]byte("film of the raid "), 40_000)
	if err := os.WriteFile(filepath.Join(dir, "raid.mp4"), film, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, primary, testenv.Responder, "evidence", id, "--file", filepath.Join(dir, "raid.mp4"))
	sum := sha256.Sum256(film)
	node := testenv.NewNode(t, primary, "tr-node")
	nodeObj := filepath.Join(filepath.Dir(node.DB), "evidence", "objects", hex.EncodeToString(sum[:]))
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(nodeObj); err == nil {
			break
		}
	}
	waitCheckpoint(t, node, checkpoint(t, primary))

	// The primary's database and evidence directory are lost.
	primary.Stop()
	evDir := filepath.Join(filepath.Dir(primary.DB), "evidence")
	if err := os.RemoveAll(evDir); err != nil {
		t.Fatal(err)
	}
	os.Remove(primary.DB)
	rep, err := server.Restore(ctxT(t), server.Config{DB: primary.DB, CertsDir: primary.Certs, Logger: quiet()},
		server.RestoreFrom{Addr: node.Addr, As: testenv.Mediator})
	if err != nil || rep.EvidenceMissing != 0 {
		t.Fatalf("restore: %+v, %v; want every evidence file copied", rep, err)
	}
	if b, err := os.ReadFile(filepath.Join(evDir, "objects", hex.EncodeToString(sum[:]))); err != nil || !bytes.Equal(b, film) {
		t.Fatalf("the restored store's copy: %v", err)
	}
	primary.Restart()
	out := t.TempDir()
	run(t, primary, testenv.Mediator, "evidence", "get", id, "--out", out)
	if b, _ := os.ReadFile(filepath.Join(out, "raid.mp4")); !bytes.Equal(b, film) {
		t.Fatal("evidence get from the restored primary differs")
	}

	// Restored again, from a node that lost the file: counted missing,
	// the log restored all the same.
	primary.Stop()
	os.RemoveAll(evDir)
	os.Remove(primary.DB)
	if err := os.Remove(nodeObj); err != nil {
		t.Fatal(err)
	}
	rep, err = server.Restore(ctxT(t), server.Config{DB: primary.DB, CertsDir: primary.Certs, Logger: quiet()},
		server.RestoreFrom{Addr: node.Addr, As: testenv.Mediator})
	if err != nil || rep.EvidenceMissing != 1 || rep.Size == 0 {
		t.Fatalf("restore from a node without the file: %+v, %v; want the log, 1 file missing", rep, err)
	}
}

// The evidence quota survives a restore: a party's holds are derived from
// the logged submissions and the files copied, so the restored primary
// counts the party's film against its --evidence-max-party-bytes and
// refuses the upload that would pass it (a restore that left the holds
// empty would take it), while one that fits is taken.
func TestRestoreEvidenceQuota(t *testing.T) {
	const quota = 1_000_000
	limit := func(c *server.Config) { c.Evidence.Limits = service.EvidenceOptions{MaxPartyBytes: quota} }
	primary := testenv.New(t, limit)
	id := strings.TrimSpace(strings.SplitN(run(t, primary, testenv.Submitter, "submit", "--lat", "1", "--lon", "2"), "\n", 2)[0])
	run(t, primary, testenv.Responder, "ack", id)
	run(t, primary, testenv.Responder, "report", id, "--outcome", "raid")
	dir := t.TempDir()
	film := bytes.Repeat([]byte("film of the raid "), 40_000) // 680,000 bytes
	if err := os.WriteFile(filepath.Join(dir, "raid.mp4"), film, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, primary, testenv.Responder, "evidence", id, "--file", filepath.Join(dir, "raid.mp4"))
	held, err := primary.Server.Ledger().Store().EvidenceHeld("af")
	if err != nil || held != int64(len(film)) {
		t.Fatalf("the primary counts %d bytes for af (%v), want %d", held, err, len(film))
	}
	node := testenv.NewNode(t, primary, "tr-node")
	sum := sha256.Sum256(film)
	nodeObj := filepath.Join(filepath.Dir(node.DB), "evidence", "objects", hex.EncodeToString(sum[:]))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(nodeObj); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not copy the film in 20s")
		}
	}
	waitCheckpoint(t, node, checkpoint(t, primary))

	primary.Stop()
	if err := os.RemoveAll(filepath.Join(filepath.Dir(primary.DB), "evidence")); err != nil {
		t.Fatal(err)
	}
	os.Remove(primary.DB)
	rep, err := server.Restore(ctxT(t), server.Config{DB: primary.DB, CertsDir: primary.Certs, Logger: quiet()},
		server.RestoreFrom{Addr: node.Addr, As: testenv.Mediator})
	if err != nil || rep.Holds == nil || rep.Holds.Bytes["af"] != int64(len(film)) || rep.Holds.Files["af"] != 1 {
		t.Fatalf("restore: %+v, %v; want af holding the film's %d bytes", rep, err, len(film))
	}
	primary.Restart()
	if held, err := primary.Server.Ledger().Store().EvidenceHeld("af"); err != nil || held != int64(len(film)) {
		t.Fatalf("the restored primary counts %d bytes for af (%v), want %d", held, err, len(film))
	}
	af := primary.Client(testenv.Responder)
	upload := func(n int, seed byte) error {
		b := bytes.Repeat([]byte{seed}, n)
		d := sha256.Sum256(b)
		_, err := af.UploadEvidence(ctxT(t), id, d[:], int64(n), bytes.NewReader(b))
		return err
	}
	over := quota - len(film) + 1
	if err := upload(over, 'x'); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--evidence-max-party-bytes") {
		t.Fatalf("an upload of %d bytes more on the restored primary: %v; want ResourceExhausted naming the party quota", over, err)
	}
	if err := upload(over-1, 'y'); err != nil {
		t.Fatalf("an upload of %d bytes, within the quota: %v", over-1, err)
	}
}
