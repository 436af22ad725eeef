package cli

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestPublishSealed: under an agreement that seals bodies, a publication
// (a digest and a checkpoint, nothing secret) goes in the clear and is
// logged; two mediators publishing the same report make it agreed, two
// different reports are both listed and not agreed.
func TestPublishSealed(t *testing.T) {
	e := testenv.NewPKI(t, devpki.Options{SealedBodies: true})
	id := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2"))[0]
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "ack", id, "--note", "seen")
	dir := t.TempDir()
	out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "monthly-report", "--month", "2026-01", "--out", dir, "--publish")
	file := filepath.Join(dir, "mvm-report-2026-01.json")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if want := "published 2026-01 sha256 " + hexOf(sum[:]); !strings.Contains(out, want) {
		t.Fatalf("monthly-report --publish: got %q, want %q", out, want)
	}
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator2, "verify-report", file, "--publish")
	got := mustCLI(t, e.Addr, e.Certs, testenv.Responder, "show-report", "2026-01", "--file", file)
	for _, want := range []string{"report 2026-01: 2 publication(s)\n", "agreed: sha256 " + hexOf(sum[:]) + " at checkpoint size 3, published by [qa tr] (index 4)\n",
		"is the agreed report of 2026-01\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("show-report: got %q, want %q in it", got, want)
		}
	}

	// February: the mediators publish reports at different checkpoints,
	// so different digests: both listed, not agreed.
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "monthly-report", "--month", "2026-02", "--out", t.TempDir(), "--publish")
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator2, "monthly-report", "--month", "2026-02", "--out", t.TempDir(), "--publish")
	got = mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "show-report", "2026-02")
	if !strings.Contains(got, "report 2026-02: 2 publication(s)\n") || !strings.Contains(got, "\nnot agreed: ") ||
		strings.Count(got, "\n5 ") != 1 || strings.Count(got, "\n6 ") != 1 {
		t.Errorf("show-report of two different reports: got %q, want both listed (indexes 5 and 6), not agreed", got)
	}
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

// TestHostileServerPublications: what an operator holding the log key can
// log (a publication the server should have refused) is caught by the
// readers: a root the log never had is listed and not counted; a
// checkpoint beyond the log before the entry, a non-mediator's
// publication and a month not over fail the audit (the reducer refuses
// them), so show-report shows nothing.
func TestHostileServerPublications(t *testing.T) {
	e, _ := ackedExchange(t) // genesis, submit, ack, submit
	dir := t.TempDir()
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "monthly-report", "--month", "2026-01", "--out", dir, "--publish") // index 4
	raw, err := os.ReadFile(filepath.Join(dir, "mvm-report-2026-01.json"))
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(raw)
	mustCLI(t, e.Addr, e.Certs, testenv.Mediator2, "monthly-report", "--month", "2026-02", "--out", dir, "--publish") // index 5: qa's certificate is stored
	real := e.Client(testenv.Mediator)
	leaves := realLeaves(t, real)
	if len(leaves) != 6 {
		t.Fatalf("real log: %d leaves, want 6", len(leaves))
	}
	_, realNodes := signedLog(t, leaves, logKeySigner(t, e.Certs))
	rootAt := func(size uint64) []byte {
		tr, err := tlog.NewTree(size, realNodes)
		if err != nil {
			t.Fatal(err)
		}
		r, err := tr.Root()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// pub is a publication signed by name, as entry index.
	pub := func(index uint64, name, month string, size uint64, root []byte) []byte {
		c := e.Client(name)
		env, err := c.Seal(&mvmv1.ReportPublication{Header: mvmclient.NewHeader(), Month: month, ReportSha256: digest[:],
			CheckpointSize: size, CheckpointRoot: root})
		if err != nil {
			t.Fatal(err)
		}
		fp := sha256.Sum256(readCertDER(t, filepath.Join(e.Certs, name+".crt")))
		leaf, err := entry.NewLeaf(index, time.Now(), env, fp[:])
		if err != nil {
			t.Fatal(err)
		}
		return leaf
	}
	bad := bytes.Repeat([]byte{0xbd}, 32)
	one := func(leaf []byte) [][]byte { return [][]byte{leaf} }
	for _, tc := range []struct {
		name    string
		leaves  [][]byte
		want    string // in stdout
		wantErr string // in stderr, exit 1
	}{
		{"the second mediator, the same report: agreed", one(pub(6, testenv.Mediator2, "2026-01", 4, rootAt(4))),
			"agreed: sha256 " + hexOf(digest[:]) + " at checkpoint size 4, published by [qa tr] (index 6)", ""},
		{"a root the log never had: not counted", one(pub(6, testenv.Mediator2, "2026-01", 4, bad)),
			"not counted: root " + hexOf(bad) + " is not the log's at size 4\nnot agreed: ", ""},
		{"two mediators agreeing on a root the log never had: not counted", [][]byte{pub(6, testenv.Mediator2, "2026-01", 4, bad),
			pub(7, testenv.Mediator, "2026-01", 4, bad)}, "not counted: root " + hexOf(bad) + " is not the log's at size 4\nnot agreed: ", ""},
		{"a checkpoint beyond the log before it", one(pub(6, testenv.Mediator2, "2026-01", 7, rootAt(4))),
			"", "entry 6: workflow refuses it: invalid: checkpoint size 7: the log held 6 entries before this one"},
		{"the submitter's", one(pub(6, testenv.Submitter, "2026-01", 4, rootAt(4))),
			"", "entry 6: workflow refuses it: permission denied: party pk (submitter) may not publish monthly reports"},
		{"a month not over", one(pub(6, testenv.Mediator2, time.Now().UTC().Format("2006-01"), 4, rootAt(4))),
			"", "publish its report once it is over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forged := append(append([][]byte{}, leaves...), tc.leaves...)
			cp, nodes := signedLog(t, forged, logKeySigner(t, e.Certs))
			addr := serveHostile(t, e.Certs, &hostileServer{real: real, leaves: forged, checkpoint: cp, agreement: leaves[0],
				nodes: nodes, proofNodes: nodes})
			out, errs, code := runCLI(t, addr, e.Certs, testenv.Responder, "show-report", "2026-01")
			switch {
			case tc.wantErr == "" && (code != ExitOK || !strings.Contains(out, tc.want)):
				t.Errorf("exit %d, stdout %q, stderr %q; want %q in stdout", code, out, errs, tc.want)
			case tc.wantErr != "" && (code != ExitFail || out != "" || !strings.Contains(errs, tc.wantErr)):
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, nothing printed, naming %q", code, out, errs, tc.wantErr)
			}
		})
	}
}
