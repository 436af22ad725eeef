package node_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/cli"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// runCLI runs the client as the mediator tr against e and returns its exit
// code and output (stdout, then stderr).
func runCLI(t *testing.T, e *testenv.Env, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(append([]string{"--server", e.Addr, "--certs", e.Certs, "--as", testenv.Mediator}, args...), &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

// noAlarm checks that the node raised no alarm and wrote no fork proof.
func noAlarm(t *testing.T, node *testenv.Env, after string) {
	t.Helper()
	if st := status_(t, node.Client(testenv.Mediator)); st.Alarm != "" {
		t.Fatalf("after %s the node alarms: %s", after, st.Alarm)
	}
	if files, _ := filepath.Glob(node.DB + ".fork-*"); len(files) != 0 {
		t.Fatalf("after %s the node wrote fork proofs: %v", after, files)
	}
}

// TestClientSavedStateFork: tr audits branch A of the log against the
// primary with --state; the primary is then forked to branch B (its
// database replaced by an older copy that grows differently) and a new
// node follows B. `audit --state` against the node hands it tr's saved
// checkpoint (CompareCheckpoint): the node proves the fork from its own
// tree, writes a proof that `client verify-fork` accepts, raises its
// alarm naming tr's saved state, refuses to cosign and copies nothing
// more; the client exits non-zero naming the node's proof and writes it,
// verified, beside its state. Before that: a consistent old checkpoint,
// garbage, a checkpoint signed by another key and one the node's copy
// has not reached yet raise nothing.
func TestClientSavedStateFork(t *testing.T) {
	primary := testenv.New(t)
	pk := primary.Client(testenv.Submitter)
	for range 2 {
		mustAppend(t, pk, target("")) // sizes 2, 3: shared by both branches
	}
	dir := t.TempDir()
	shared, branchA := filepath.Join(dir, "shared.state"), filepath.Join(dir, "a.state")
	if code, out := runCLI(t, primary, "audit", "--quiet", "--state", shared); code != 0 {
		t.Fatalf("audit --state of the shared 3 entries: exit %d\n%s", code, out)
	}
	primary.Stop()
	old := filepath.Join(dir, "old.db")
	copyFile(t, primary.DB, old)
	primary.Restart()
	pk = primary.Client(testenv.Submitter)
	for range 3 {
		mustAppend(t, pk, target("")) // sizes 4 to 6: branch A
	}
	if code, out := runCLI(t, primary, "audit", "--quiet", "--state", branchA); code != 0 {
		t.Fatalf("audit --state of branch A: exit %d\n%s", code, out)
	}

	// The primary goes back to the older copy and grows another way.
	primary.Stop()
	copyFile(t, old, primary.DB)
	primary.Restart()
	mustAppend(t, primary.Client(testenv.Submitter), target("")) // size 4: branch B
	node := testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, node)
	nc := node.Client(testenv.Mediator)

	// A checkpoint of both branches, replayed: consistent, nothing raised.
	// (Without --no-cosign: against a node the audit says where to cosign
	// instead of failing on a write the node refuses.)
	if code, out := runCLI(t, node, "audit", "--quiet", "--state", shared); code != 0 ||
		!strings.Contains(out, "the node's copy (size 4) is consistent with the checkpoint of size 3 saved in "+shared) ||
		!strings.Contains(out, "not cosigned: "+node.Addr+" is a mediator node") {
		t.Fatalf("audit --state of the shared entries against the node: exit %d\n%s", code, out)
	}
	latest, err := nc.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := nc.API.CompareCheckpoint(ctxT(t), &mvmv1.CompareCheckpointRequest{Checkpoint: latest.Checkpoint}); err != nil ||
		r.Comparison != mvmv1.Comparison_COMPARISON_CONSISTENT || r.Size != 4 {
		t.Fatalf("CompareCheckpoint of the node's own latest: %v, %v; want consistent at 4", r, err)
	}
	noAlarm(t, node, "a consistent checkpoint")

	// Refused, changing nothing: garbage, a checkpoint too large, one
	// signed by another key under the log's name.
	strangerKey, _, err := tlog.GenerateLogKey(devpki.DefaultLogOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tlog.NewSigner(strangerKey)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := tlog.SignCheckpoint(signer, devpki.DefaultLogOrigin, 2, bytes.Repeat([]byte{0xf}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cp   []byte
		want string
	}{
		{"garbage", []byte("not a checkpoint\n"), "not a checkpoint signed by the log key"},
		{"too large", bytes.Repeat([]byte("x"), 65<<10), "bytes: at most 65536"},
		{"another key", foreign, "not a checkpoint signed by the log key"},
		{"empty", nil, "not a checkpoint signed by the log key"},
	} {
		_, err := nc.API.CompareCheckpoint(ctxT(t), &mvmv1.CompareCheckpointRequest{Checkpoint: c.cp})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want InvalidArgument saying %q", c.name, err, c.want)
		}
	}
	noAlarm(t, node, "refused checkpoints")

	// Branch A's checkpoint is larger than the node's copy of B: not
	// comparable yet, nothing raised (the client's own audit refuses the
	// smaller checkpoint, as against any server).
	code, out := runCLI(t, node, "audit", "--quiet", "--no-cosign", "--state", branchA)
	if code == 0 || !strings.Contains(out, "the node holds a checkpoint of size 4, smaller than the 6 saved in "+branchA+": it cannot compare them yet") {
		t.Fatalf("audit --state of branch A against a node of 4 entries of B: exit %d\n%s", code, out)
	}
	noAlarm(t, node, "a checkpoint ahead of the node")

	// B grows past A's size; the node copies it and, shown A's checkpoint,
	// proves the fork.
	pk = primary.Client(testenv.Submitter)
	for range 3 {
		mustAppend(t, pk, target("")) // sizes 5 to 7: branch B
	}
	caughtUp(t, primary, node)
	code, out = runCLI(t, node, "audit", "--quiet", "--no-cosign", "--state", branchA)
	t.Logf("audit --state of branch A against the node of branch B: exit %d\n%s", code, out)
	alarm, f := forkAlarm(t, node)
	if f.Small.Size != 6 || f.Large.Size != 7 {
		t.Errorf("a fork proven at sizes %d and %d, want 6 and 7", f.Small.Size, f.Large.Size)
	}
	if want := "client tr/" + testenv.Mediator + "'s saved state"; !strings.Contains(alarm, want) {
		t.Errorf("the alarm %q does not name %s", alarm, want)
	}
	proofs, _ := filepath.Glob(node.DB + ".fork-*")
	mine := branchA + ".fork-6-7"
	if code == 0 || !strings.Contains(out, "proved a fork") || !strings.Contains(out, proofs[0]) || !strings.Contains(out, mine) {
		t.Errorf("the client: exit %d, want non-zero naming the node's proof %s and its own %s:\n%s", code, proofs[0], mine, out)
	}
	if code, out := runCLI(t, node, "verify-fork", mine); code != 0 || !strings.HasPrefix(out, "fork proven: ") {
		t.Errorf("verify-fork of the proof the client wrote: exit %d\n%s", code, out)
	}
	// watch --state hands the checkpoint too, and is told the same.
	if code, out := runCLI(t, node, "watch", "--count", "1", "--timeout", "10s", "--state", branchA); code == 0 || !strings.Contains(out, "proved a fork") {
		t.Errorf("watch --state of branch A against the node: exit %d\n%s", code, out)
	}

	// It cosigns nothing more, and copies nothing more.
	cp, err := nc.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := note.NewVerifier(strings.TrimSpace(string(must(os.ReadFile(filepath.Join(node.Certs, "log.vkey"))))))
	if err != nil {
		t.Fatal(err)
	}
	c7, _, err := tlog.OpenCheckpoint(cp.Checkpoint, devpki.DefaultLogOrigin, logKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Server.Node().Verified(ctxT(t), c7, time.Second); err == nil {
		t.Error("the node passes its checkpoint to its witness side after the alarm")
	}
	mustAppend(t, primary.Client(testenv.Submitter), target("")) // size 8
	time.Sleep(time.Second)
	if st := status_(t, nc); st.Size != 7 {
		t.Errorf("the node holds %d entries after the alarm, want the 7 it held", st.Size)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Error(err)
	}
}
