package node_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/cli"
	"github.com/mvm-exchange/mvm/internal/forkproof"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// copyFile copies a stopped server's database.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// branched is a primary that logged `before` packages, then a copy of its
// file (old), then `after` packages more, and a node caught up with it.
func branched(t *testing.T, before, after int) (primary, node *testenv.Env, old string) {
	t.Helper()
	primary = testenv.New(t)
	pk := primary.Client(testenv.Submitter)
	for range before {
		mustAppend(t, pk, target(""))
	}
	primary.Stop()
	old = filepath.Join(t.TempDir(), "old.db")
	copyFile(t, primary.DB, old)
	primary.Restart()
	pk = primary.Client(testenv.Submitter)
	for range after {
		mustAppend(t, pk, target(""))
	}
	node = testenv.NewNode(t, primary, nodeName)
	caughtUp(t, primary, node)
	return primary, node, old
}

// rolledBack stops the node (it stays stopped) and brings the primary
// back on its older copy, then appends `grow` packages to it: another
// branch once it passes the copy's size.
func rolledBack(t *testing.T, primary, node *testenv.Env, old string, grow int) {
	t.Helper()
	node.Stop()
	primary.Stop()
	copyFile(t, old, primary.DB)
	primary.Restart()
	pk := primary.Client(testenv.Submitter)
	for range grow {
		mustAppend(t, pk, target(""))
	}
}

// forkAlarm waits for the node's alarm and returns it, with the one fork
// proof written beside its database, verified under the log key.
func forkAlarm(t *testing.T, node *testenv.Env) (string, *forkproof.Fork) {
	t.Helper()
	c := node.Client(testenv.Mediator)
	deadline := time.Now().Add(20 * time.Second)
	st := status_(t, c)
	for st.Alarm == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		st = status_(t, c)
	}
	if !strings.Contains(st.Alarm, "fork proven") {
		t.Fatalf("status %v: want an alarm naming a proven fork", st)
	}
	files, err := filepath.Glob(node.DB + ".fork-*")
	if err != nil || len(files) != 1 {
		t.Fatalf("fork proofs beside the node's database: %v %v, want one", files, err)
	}
	if !strings.Contains(st.Alarm, files[0]) {
		t.Errorf("the alarm %q does not name the proof %s", st.Alarm, files[0])
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := forkproof.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(must(os.ReadFile(filepath.Join(node.Certs, "log.vkey"))))))
	if err != nil {
		t.Fatal(err)
	}
	f, err := forkproof.Verify(p, v)
	if err != nil {
		t.Fatalf("the node's fork proof %s: %v", files[0], err)
	}
	// What a party runs on it.
	var stdout, stderr bytes.Buffer
	if code := cli.Run([]string{"--certs", node.Certs, "verify-fork", files[0]}, &stdout, &stderr); code != 0 ||
		!strings.HasPrefix(stdout.String(), "fork proven: ") {
		t.Errorf("client verify-fork %s: exit %d\n%s%s", files[0], code, stdout.String(), stderr.String())
	}
	return st.Alarm, f
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestForkedPrimary: the primary's database is replaced by an older copy
// (3 entries) that then grows differently, past the 6 entries the node
// verified of the first branch (proven by the primary's consistency proof
// before copying) or not as far (proven from the node's own tree). The
// node writes a fork proof that verifies, raises the alarm and copies
// nothing of the second branch.
func TestForkedPrimary(t *testing.T) {
	for _, grow := range []int{4, 2} {
		t.Run(fmt.Sprintf("grows by %d", grow), func(t *testing.T) {
			primary, node, old := branched(t, 2, 3) // sizes 2, 3, the copy, then 4 to 6

			// The node is away while the primary is restored and grows, so
			// that it meets the other branch at its final size.
			rolledBack(t, primary, node, old, grow) // from size 4, another branch
			node.Restart()
			alarm, f := forkAlarm(t, node)
			t.Logf("alarm: %s", alarm)
			if want := [2]uint64{min(6, uint64(3+grow)), max(6, uint64(3+grow))}; [2]uint64{f.Small.Size, f.Large.Size} != want {
				t.Errorf("a fork proven at sizes %d and %d, want %v", f.Small.Size, f.Large.Size, want)
			}
			if st := status_(t, node.Client(testenv.Mediator)); st.Size != 6 {
				t.Errorf("the node holds %d entries, want the 6 it verified", st.Size)
			}
		})
	}
}

// TestPeersCompare: two primaries sign with one log key from two copies of
// a database (a split view), each followed by a node. The node with a
// peer compares checkpoints with it and proves the fork.
func TestPeersCompare(t *testing.T) {
	a := testenv.New(t)
	pk := a.Client(testenv.Submitter)
	for range 2 {
		mustAppend(t, pk, target(""))
	}
	a.Stop()
	bdb := filepath.Join(t.TempDir(), "b.db")
	copyFile(t, a.DB, bdb)
	a.Restart()
	pk = a.Client(testenv.Submitter)
	for range 2 {
		mustAppend(t, pk, target("")) // a: size 5
	}
	b := testenv.Start(t, a.Certs, bdb)
	pkb := b.Client(testenv.Submitter)
	for range 3 {
		mustAppend(t, pkb, target("")) // b: size 6
	}
	qa := testenv.NewNode(t, b, "qa-node")
	caughtUp(t, b, qa)
	tr := testenv.NewNode(t, a, nodeName, func(c *server.Config) {
		c.Node.Peers = []string{qa.Addr}
		c.Node.PeerInterval = 50 * time.Millisecond
	})
	_, f := forkAlarm(t, tr)
	if f.Small.Size <= 3 {
		t.Errorf("a fork proven at size %d, within the shared 3 entries", f.Small.Size)
	}
	// The peer, which compares with nobody, has no alarm.
	if st := status_(t, qa.Client(testenv.Mediator)); st.Alarm != "" {
		t.Errorf("the peer's status %v", st)
	}
}

// TestWitnessForkAlarms: a fork the witness side proved (Handler.OnFork)
// is written beside the node's database and raises its alarm.
func TestWitnessForkAlarms(t *testing.T) {
	a := testenv.New(t)
	mustAppend(t, a.Client(testenv.Submitter), target("")) // size 2
	b := testenv.Start(t, a.Certs, filepath.Join(t.TempDir(), "b.db"))
	mustAppend(t, b.Client(testenv.Submitter), target("")) // another size 2
	node := testenv.NewNode(t, a, nodeName)
	caughtUp(t, a, node)
	cp := func(e *testenv.Env) []byte {
		r, err := e.Client(testenv.Mediator).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: 2})
		if err != nil {
			t.Fatal(err)
		}
		return r.Checkpoint
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(must(os.ReadFile(filepath.Join(a.Certs, "log.vkey"))))))
	if err != nil {
		t.Fatal(err)
	}
	p, err := forkproof.Make(cp(a), cp(b), nil, v)
	if err != nil {
		t.Fatal(err)
	}
	node.Server.Node().OnFork(p)
	if _, f := forkAlarm(t, node); f.Small.Size != 2 || f.Large.Size != 2 {
		t.Errorf("proof of sizes %d and %d, want 2 and 2", f.Small.Size, f.Large.Size)
	}
}
