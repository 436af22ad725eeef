package node_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/node"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// TestNextPieceAskedWhileDraining: a node copying a log of several pieces
// copies every piece after the first from the checkpoints, proof and
// stream it asked for while the piece before drained, and asks the
// primary for one stream and one consistency proof a piece (none thrown
// away, none asked again), ending with the primary's entries, checkpoint
// and root.
func TestNextPieceAskedWhileDraining(t *testing.T) {
	var logs syncBuffer
	primary := testenv.New(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	submit(t, primary, 6) // 13 entries, a checkpoint at each size
	var used atomic.Int64
	defer node.CountNextUsed(&used)()
	n := testenv.NewNode(t, primary, nodeName, func(c *server.Config) { c.Node.Piece = 2 })
	caughtUp(t, primary, n) // the checkpoints' signatures and roots too

	const pieces = 7 // [0, 2), [2, 4) … [12, 13)
	streams := func() int { return strings.Count(logs.String(), "grpc.method=GetEntries ") }
	for deadline := time.Now().Add(5 * time.Second); streams() < pieces && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // the primary logs a stream as it ends
	}
	if got := streams(); got != pieces {
		t.Errorf("the primary answered %d GetEntries streams, want one a piece: %d", got, pieces)
	}
	// One consistency proof a piece after the first: the one asked
	// ahead, checked and used, not asked for again.
	if got := strings.Count(logs.String(), "grpc.method=GetConsistencyProof "); got != pieces-1 {
		t.Errorf("the primary answered %d consistency proofs, want one a piece after the first: %d", got, pieces-1)
	}
	if got := used.Load(); got != pieces-1 {
		t.Errorf("%d pieces were copied from what was asked while the one before drained, want every one after the first: %d", got, pieces-1)
	}
}

// TestForkBetweenPieces: the primary forks after the node has verified
// entries of one branch and while it asks for its next piece: the
// consistency proof asked ahead is checked as any other, and the fork is
// proven (a proof that verify-fork accepts), not copied.
func TestForkBetweenPieces(t *testing.T) {
	primary := testenv.New(t)
	grow := func(n int) {
		pk := primary.Client(testenv.Submitter)
		for range n {
			mustAppend(t, pk, target(""))
		}
	}
	grow(2) // sizes 2, 3
	primary.Stop()
	old := filepath.Join(t.TempDir(), "old.db")
	copyFile(t, primary.DB, old)
	primary.Restart()
	grow(6) // sizes 4 … 9: entries 3 … 8 of one branch

	asking, resume := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(resume) })
	defer release() // before the node stops: it waits for its questions
	var once sync.Once
	defer node.BeforeAsk(func(from uint64) {
		if from == 4 { // the node holds [0, 4): entry 3 of the first branch
			once.Do(func() { close(asking); <-resume })
		}
	})()
	n := testenv.NewNode(t, primary, nodeName, func(c *server.Config) { c.Node.Piece = 2 })
	select {
	case <-asking:
	case <-time.After(20 * time.Second):
		t.Fatal("the node did not ask for the piece from 4 on")
	}
	primary.Stop()
	copyFile(t, old, primary.DB)
	primary.Restart()
	grow(6) // sizes 4 … 9 again: entries 3 … 8 of another branch
	release()

	_, f := forkAlarm(t, n)
	if f.Small.Size != 4 || f.Large.Size != 6 {
		t.Errorf("a fork proven at sizes %d and %d, want 4 (the node's) and 6 (the piece's target)", f.Small.Size, f.Large.Size)
	}
}

// TestAskedAheadChecksSignatures: the checkpoints asked for while a piece
// drains are opened under the log key like a round's own: once the log
// key refuses the primary's signatures (as it would a primary signing
// with another key), a node that has asked ahead copies nothing more.
func TestAskedAheadChecksSignatures(t *testing.T) {
	var logs syncBuffer
	primary := testenv.New(t)
	submit(t, primary, 6) // 13 entries
	asking, resume := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(resume) })
	defer release()
	var once sync.Once
	defer node.BeforeAsk(func(from uint64) {
		if from == 4 {
			once.Do(func() { close(asking); <-resume })
		}
	})()
	n := testenv.NewNode(t, primary, nodeName, func(c *server.Config) {
		c.Node.Piece = 2
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	select {
	case <-asking:
	case <-time.After(20 * time.Second):
		t.Fatal("the node did not ask for the piece from 4 on")
	}
	defer node.RefuseSignatures()()
	release()

	// The round after the piece [2, 4) asks for the primary's checkpoint
	// itself (what was asked ahead did not open) and fails the same way.
	refused := func() bool { return strings.Contains(logs.String(), "the primary's checkpoint") }
	for deadline := time.Now().Add(20 * time.Second); !refused() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !refused() {
		t.Fatalf("no checkpoint refused after the log key stopped accepting the primary's signatures; node log:\n%s", logs.String())
	}
	if st := status_(t, n.Client(testenv.Mediator)); st.Size > 4 {
		t.Errorf("the node holds %d entries, want at most 4 (the last piece's commit may be in flight): nothing copied under checkpoints whose signatures were refused", st.Size)
	}
}
