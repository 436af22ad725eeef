package crashtest

// TestSyncKillNine ("a receipt means on two sites", issue 16): the real
// server binary runs as the primary with --sync-witnesses 1 and one
// witness, tr-node, which is the same binary run as a mediator node
// (server --follow PRIMARY --as tr-node --witness-listen ...): it copies
// the primary over mutual TLS, verifies every entry, stores it, and
// cosigns on its HTTPS witness endpoint only what it stored. TestKillNine's
// harness drives the primary under a concurrent signed load and SIGKILLs
// it at seeded random moments, restarting it each time on the same
// database and port; the node runs throughout. Checked, besides all that
// TestKillNine checks of the primary (every receipt still there byte for
// byte after each restart, re-sends, the auditor):
//
//  1. as soon as a receipt comes back, before the next append of its
//     worker, the receipt verifies, the node serves its entry (GetEntries,
//     byte for byte the receipt's leaf and the envelope sent) and the
//     node's saved witness state has cosigned a checkpoint at least as
//     large as the receipt's. This does not depend on where a kill lands:
//     a receipt released before the node's cosignature fails it at once
//     (a node on loopback copies within milliseconds, but not before the
//     primary's commit returns);
//  2. after each restart, and at the end: the node's latest checkpoint
//     verifies with the pinned log key, the auditor recomputes its root
//     from the node's entries, and every envelope receipted so far is
//     there at its index;
//  3. the node never alarms (GetStatus), writes no fork proof and logs
//     no error, and stops cleanly at the end.
//
// It replaces a test whose node was a witness.Handler built in the test:
// the real node is what a mediator runs, and check 1 catches a receipt
// released early without the stand-in's deliberate copying delay.
//
// Environment: MVM_CRASH_SEED=N replays the kill schedule of a logged seed.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

const (
	syncKills    = 5
	minSyncKills = 3
	syncBudget   = 20 * time.Second       // past it, stop after minSyncKills
	minSyncLoad  = 100 * time.Millisecond // from the round's first receipt
	maxSyncLoad  = 900 * time.Millisecond
	// syncTimeout is below callTimeout: a held receipt is answered
	// Unavailable by the server, not cut by the client's deadline.
	syncTimeout = "4s"
	nodeID      = "tr-node"     // devpki's node of tr, a witness of the agreement
	nodeReader  = "tr-verifier" // reads the node as tr's mediator does
	maxReported = 5             // failures of check 1 reported one by one
)

// nodeProc is the node: the server binary run with --follow.
type nodeProc struct {
	t             *testing.T
	db, logPath   string
	addr, witness string
	cmd           *exec.Cmd
	done          chan struct{}
	err           error // cmd.Wait's result, set before done is closed
	c             *mvmclient.Client
	origin        string
	logKey        note.Verifier
	genesis       []byte       // the pinned genesis agreement envelope
	checked, late atomic.Int64 // receipts checked on the node as they came back; of them, missing
}

func TestSyncKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 crash test: skipped with -short")
	}
	began := time.Now()
	seed := crashSeed(t)
	h := newHarness(t, rand.New(rand.NewPCG(seed, 0x73796e632d6b696c)))
	var err error
	if h.addr, err = testenv.FreeAddr(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(h.logPath)
	n := &nodeProc{t: t, db: filepath.Join(dir, "node.db"), logPath: filepath.Join(dir, "node.log"),
		origin: h.origin, logKey: h.verifier}
	if n.genesis, err = os.ReadFile(filepath.Join(h.certs, "agreement.envelope")); err != nil {
		t.Fatal(err)
	}
	if n.addr, err = testenv.FreeAddr(); err != nil {
		t.Fatal(err)
	}
	if n.witness, err = testenv.FreeAddr(); err != nil {
		t.Fatal(err)
	}
	h.args = []string{"--witness", nodeID + "=https://" + n.witness, "--sync-witnesses", "1", "--sync-timeout", syncTimeout}
	h.sync, h.onReceipt = true, n.holds

	// The primary first: a node waits for its genesis before it serves.
	p := h.start()
	n.start(h)
	pr := h.reader(p)
	n.caughtUp(pr)
	pr.Close()
	kills := 0
	for round := range syncKills {
		if round >= minSyncKills && time.Since(began) > syncBudget {
			t.Logf("%v spent: stopping after %d kills", time.Since(began).Round(time.Millisecond), round)
			break
		}
		kills++
		t0 := time.Now()
		h.mu.Lock()
		d := minSyncLoad + time.Duration(h.rng.Int64N(int64(maxSyncLoad-minSyncLoad)+1))
		h.mu.Unlock()
		st := h.load(round, p, d)
		p = h.start()
		pr := h.reader(p)
		n.caughtUp(pr) // so that check's re-sends are not held behind the node's backoff
		ck := h.check(round, p)
		size := n.check(h)
		pr.Close()
		t.Logf("kill %d at %3dms after the first receipt: %4d sent, %4d receipted, %2d re-sent (%d duplicates); primary %5d entries, node %5d; round %v",
			round+1, d.Milliseconds(), st.sent, st.receipted, ck.resent, ck.dups, ck.size, size, time.Since(t0).Round(time.Millisecond))
		if t.Failed() {
			t.Fatalf("stopping at kill %d (seed %d)", round+1, seed)
		}
	}
	h.finalCheck(p)
	pr = h.reader(p)
	n.caughtUp(pr)
	pr.Close()
	size := n.check(h)
	h.stop(p)
	n.stop()
	if h.receipted == 0 {
		t.Fatal("no append got a receipt: nothing was tested")
	}
	t.Logf("totals: %d kills, %d receipted under load (%d checked on the node as they came back), %d held and re-sent, %d re-sent after kills (%d duplicates); node %d entries, %v",
		kills, h.receipted, n.checked.Load(), h.heldN, h.resentN, h.dups, size, time.Since(began).Round(time.Millisecond))
	if t.Failed() {
		t.Logf("seed %d", seed)
	}
}

// reader dials the primary as the mediator's verifier.
func (h *harness) reader(p *proc) *mvmclient.Client {
	o := mvmclient.FromCertsDir(p.addr, h.certs, nodeReader)
	o.Retries, o.CallTimeout = -1, callTimeout
	c, err := mvmclient.Dial(o)
	if err != nil {
		h.t.Fatalf("dial the primary as %s: %v", nodeReader, err)
	}
	return c
}

// start runs the node against the primary of h and waits until it serves
// reads and its witness endpoint accepts connections.
func (n *nodeProc) start(h *harness) {
	t := n.t
	logFile, err := os.Create(n.logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	n.cmd = exec.Command(h.bin, "--follow", h.addr, "--as", nodeID, "--listen", n.addr, "--witness-listen", n.witness,
		"--db", n.db, "--certs", h.certs, "--log-level", "warn")
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start the node: %v", err)
	}
	n.done = make(chan struct{})
	go func() { n.err = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		select {
		case <-n.done:
		default: // a failure left it running
			_ = n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() {
			n.dumpLog()
		}
	})
	o := mvmclient.FromCertsDir(n.addr, h.certs, nodeReader)
	o.Retries, o.CallTimeout = -1, callTimeout
	if n.c, err = mvmclient.Dial(o); err != nil {
		t.Fatalf("dial the node: %v", err)
	}
	t.Cleanup(func() { n.c.Close() })
	deadline := time.Now().Add(serverWait)
	for {
		select {
		case <-n.done:
			t.Fatalf("the node exited before serving: %v", n.err)
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := n.c.API.GetStatus(ctx, &mvmv1.GetStatusRequest{})
		cancel()
		if err == nil {
			if c, err := net.DialTimeout("tcp", n.witness, time.Second); err == nil {
				c.Close()
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node does not serve after %v: %v", serverWait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holds is check 1, run on the worker's goroutine as soon as s's receipt
// came back.
func (n *nodeProc) holds(s *sent) {
	t := n.t
	n.checked.Add(1)
	r, err := tlog.VerifyReceipt(s.receipt, n.origin, n.logKey)
	if err != nil {
		t.Errorf("receipt for %s: %v", s.msgID, err)
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	var leaf []byte
	err = n.c.Entries(ctx, s.index, s.index+1, func(_ uint64, l []byte) error { leaf = l; return nil })
	if err == nil && !bytes.Equal(leaf, r.Leaf) {
		err = errors.New("the node's entry is not the receipt's leaf")
	}
	if err == nil {
		if e, derr := entry.DecodeLeaf(leaf); derr != nil || !bytes.Equal(e.Envelope, s.env) {
			err = fmt.Errorf("the node's entry is not the envelope sent (%v)", derr)
		}
	}
	if err == nil {
		var cosigned uint64
		if cosigned, err = n.cosigned(); err == nil && cosigned < r.Checkpoint.Size {
			err = fmt.Errorf("the node has cosigned up to size %d only", cosigned)
		}
	}
	if err != nil {
		if late := n.late.Add(1); late <= maxReported {
			t.Errorf("TWO SITES: the receipt of %s (round %d, re-sent %v) at index %d, checkpoint size %d, came back before the node held it: %v",
				kind(s), s.round, s.resent, s.index, r.Checkpoint.Size, err)
		}
	}
}

// cosigned is the size of the latest checkpoint the node's witness
// endpoint cosigned: its saved state, which it writes durably before it
// answers with the cosignature.
func (n *nodeProc) cosigned() (uint64, error) {
	b, err := witness.FileState(n.db + ".witness").Load()
	if err != nil || b == nil {
		return 0, err
	}
	cp, _, err := tlog.OpenCheckpoint(b, n.origin, n.logKey)
	if err != nil {
		return 0, fmt.Errorf("the node's witness state: %w", err)
	}
	return cp.Size, nil
}

// caughtUp waits until the node holds every entry the primary has.
func (n *nodeProc) caughtUp(primary *mvmclient.Client) {
	t := n.t
	ctx := t.Context()
	resp, err := primary.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatalf("the primary's checkpoint: %v", err)
	}
	cp, _, err := tlog.OpenCheckpoint(resp.Checkpoint, n.origin, n.logKey)
	if err != nil {
		t.Fatalf("the primary's checkpoint: %v", err)
	}
	deadline := time.Now().Add(serverWait)
	for {
		st, err := n.c.API.GetStatus(ctx, &mvmv1.GetStatusRequest{})
		if err == nil && st.Alarm != "" {
			t.Fatalf("the node alarms at entry %d: %s", st.AlarmIndex, st.Alarm)
		}
		if err == nil && st.Size >= cp.Size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node has not copied the primary's %d entries after %v (status %v, err %v)", cp.Size, serverWait, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check is checks 2 and 3, over the node's verified copy; it returns its
// size.
func (n *nodeProc) check(h *harness) uint64 {
	t := n.t
	ctx := t.Context()
	st, err := n.c.API.GetStatus(ctx, &mvmv1.GetStatusRequest{})
	if err != nil {
		t.Fatalf("the node's status: %v", err)
	}
	if st.Alarm != "" {
		t.Errorf("the node alarms at entry %d: %s", st.AlarmIndex, st.Alarm)
	}
	if forks, _ := filepath.Glob(n.db + ".fork*"); len(forks) > 0 {
		t.Errorf("the node wrote fork proofs: %v", forks)
	}
	if b, err := os.ReadFile(n.logPath); err == nil && bytes.Contains(b, []byte("level=ERROR")) {
		t.Errorf("the node logged an error (its log follows at the end)")
	}
	resp, err := n.c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatalf("the node's checkpoint: %v", err)
	}
	cp, _, err := tlog.OpenCheckpoint(resp.Checkpoint, n.origin, n.logKey)
	if err != nil {
		t.Fatalf("the node's checkpoint does not verify with the pinned log key: %v", err)
	}
	rep, err := audit.Run(ctx, n.c, cp.Size, audit.Options{Genesis: n.genesis})
	if err != nil {
		t.Fatalf("audit of the node's %d entries: %v", cp.Size, err)
	}
	if !bytes.Equal(rep.Root, cp.Hash) {
		t.Errorf("the node's entries hash to %x, its checkpoint of size %d says %x", rep.Root, cp.Size, cp.Hash)
	}
	envs := make([][]byte, 0, cp.Size)
	if err := n.c.Entries(ctx, 0, cp.Size, func(_ uint64, leaf []byte) error {
		e, err := entry.DecodeLeaf(leaf)
		envs = append(envs, e.GetEnvelope())
		return err
	}); err != nil {
		t.Fatalf("reading the node's entries: %v", err)
	}
	missing := 0
	for _, s := range h.all {
		if s.receipt == nil {
			continue
		}
		if s.index >= uint64(len(envs)) || !bytes.Equal(envs[s.index], s.env) {
			if missing++; missing <= maxReported {
				t.Errorf("TWO SITES: %s %s (round %d) was receipted at index %d, the node's verified copy (size %d) does not hold it there",
					kind(s), s.msgID, s.round, s.index, cp.Size)
			}
		}
	}
	if missing > maxReported {
		t.Errorf("TWO SITES: %d receipted envelopes are not on the node", missing)
	}
	if late := n.late.Load(); late > maxReported {
		t.Errorf("TWO SITES: %d receipts came back before the node held their entries", late)
	}
	return cp.Size
}

// stop stops the node gracefully and expects exit status 0.
func (n *nodeProc) stop() {
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatalf("SIGTERM the node: %v", err)
	}
	select {
	case <-n.done:
	case <-time.After(serverWait):
		n.t.Fatalf("the node still runs %v after SIGTERM", serverWait)
	}
	if n.err != nil {
		n.t.Errorf("the node's graceful stop: exit %v, want status 0", n.err)
	}
}

func (n *nodeProc) dumpLog() {
	b, err := os.ReadFile(n.logPath)
	if err != nil || len(b) == 0 {
		return
	}
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	n.t.Logf("node log (tail):\n%s", strings.TrimSpace(string(b)))
}
