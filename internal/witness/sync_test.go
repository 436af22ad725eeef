package witness_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
)

// gated is a witness whose owner can stall it: while stalled its Allow
// hook refuses (503, "not verified that far"), as a mediator node behind
// the log does.
type gated struct {
	name    string
	state   string
	stalled atomic.Bool
	served  *served
}

func newGated(t *testing.T, dir, name string) *gated {
	t.Helper()
	skey, _ := newWitnessKey(t, dir, name)
	g := &gated{name: name, state: filepath.Join(t.TempDir(), "witness.state")}
	h := ourWitness(t, dir, skey, g.state)
	h.Allow = func(ctx context.Context, cp *tlog.Checkpoint) error {
		if g.stalled.Load() {
			return witness.ErrNotYet
		}
		return nil
	}
	g.served = serve(t, h)
	return g
}

func (g *gated) target() witness.Target { return witness.Target{Name: g.name, URL: g.served.URL()} }

// savedSize is the size of the checkpoint the witness saved (what it
// cosigned last), 0 if none.
func (g *gated) savedSize(t *testing.T) uint64 {
	t.Helper()
	b, err := witness.FileState(g.state).Load()
	if err != nil {
		t.Fatal(err)
	}
	if b == nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.Split(string(b), "\n")[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func syncing(n int, timeout time.Duration, targets ...witness.Target) func(*server.Config) {
	return func(c *server.Config) {
		fast(targets...)(c)
		c.SyncWitnesses, c.SyncTimeout = n, timeout
	}
}

// TestSyncWitnesses: with --sync-witnesses N a receipt leaves the server
// only once N of the configured witnesses have cosigned a checkpoint
// covering its entry; when they do not within the timeout the append is
// answered Unavailable, the entry stays logged, and the same envelope sent
// again is answered with the same entry once they do.
func TestSyncWitnesses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		stalled []bool // per witness, while appending
		held    bool   // the append is answered Unavailable
	}{
		{"one of two, the other stalled", 1, []bool{true, false}, false},
		{"two of two, one stalled", 2, []bool{false, true}, true},
		{"one of one, stalled", 1, []bool{true}, true},
		{"two of two", 2, []bool{false, false}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := pki(t)
			var ws []*gated
			var targets []witness.Target
			for i, stalled := range tc.stalled {
				g := newGated(t, dir, "witness.test/w"+strconv.Itoa(i))
				g.stalled.Store(stalled)
				ws, targets = append(ws, g), append(targets, g.target())
			}
			e := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"), syncing(tc.n, 400*time.Millisecond, targets...))
			c := e.Client(testenv.Submitter)
			env, err := c.Seal(pkg())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.AppendSealed(ctxT(t), env)
			size := e.Server.Ledger().Head().Size
			if !tc.held {
				if err != nil {
					t.Fatalf("append: %v", err)
				}
				// The guarantee: N witnesses hold a checkpoint covering
				// the entry when the receipt arrives.
				covered := 0
				for _, g := range ws {
					if g.savedSize(t) > resp.Receipt.Index {
						covered++
					}
				}
				if covered < tc.n {
					t.Fatalf("receipt of entry %d released with %d witnesses covering it, want %d", resp.Receipt.Index, covered, tc.n)
				}
				// The cosignatures are stored too (at most every 250ms
				// per witness, the latest in the end).
				for i, g := range ws {
					if !tc.stalled[i] {
						cosignedBy(t, e, size, g.name)
					}
				}
				return
			}
			if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "is logged here") ||
				!strings.Contains(err.Error(), "retry the same envelope") {
				t.Fatalf("append with a stalled witness: %v, want Unavailable saying the entry is logged and to retry", err)
			}
			if size != 2 {
				t.Fatalf("log size %d after the held append, want 2 (genesis and the entry: it is logged)", size)
			}
			for _, g := range ws {
				g.stalled.Store(false)
			}
			// Retried as the client library retries Unavailable: the
			// pushes may still be backing off from the stalled witness.
			again, err := c.AppendSealed(ctxT(t), env)
			for try := 0; status.Code(err) == codes.Unavailable && try < 20; try++ {
				again, err = c.AppendSealed(ctxT(t), env)
			}
			if err != nil {
				t.Fatalf("the same envelope again, witnesses back: %v", err)
			}
			if again.Receipt.Index != 1 || !again.Duplicate {
				t.Errorf("retry answered index %d duplicate %v, want the logged entry 1 as a duplicate", again.Receipt.Index, again.Duplicate)
			}
			if got := e.Server.Ledger().Head().Size; got != 2 {
				t.Errorf("log size %d after the retry, want 2 (nothing logged twice)", got)
			}
		})
	}
}

// TestSyncWitnessesConfig: a quorum the configured witnesses cannot meet
// is refused at start, naming the flag.
func TestSyncWitnessesConfig(t *testing.T) {
	dir := pki(t)
	g := newGated(t, dir, "witness.test/w0")
	for _, n := range []int{2, -1} {
		_, err := server.Start(server.Config{Listen: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "mvm.db"), CertsDir: dir,
			Witnesses: []witness.Target{g.target()}, SyncWitnesses: n})
		if err == nil || !strings.Contains(err.Error(), "--sync-witnesses") {
			t.Errorf("--sync-witnesses %d with one witness: %v, want an error naming the flag", n, err)
		}
	}
}

// nodeAllow is what a mediator node's witness asks before it cosigns: has
// the node verified and stored every entry up to the checkpoint, with the
// same root? It waits a little for the node to get there.
func nodeAllow(node *testenv.Env) func(ctx context.Context, cp *tlog.Checkpoint) error {
	return func(ctx context.Context, cp *tlog.Checkpoint) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		l := node.Server.Ledger()
		for {
			h := l.Head()
			if h.Size >= cp.Size {
				tree, err := tlog.NewTree(cp.Size, l.Store())
				if err != nil {
					return err
				}
				root, err := tree.Root()
				if err != nil {
					return err
				}
				if string(root) != string(cp.Hash) {
					return fmt.Errorf("the node's tree of size %d is not the checkpoint's", cp.Size)
				}
				return nil
			}
			select {
			case <-h.Changed():
			case <-ctx.Done():
				return fmt.Errorf("%w: the node holds %d entries", witness.ErrNotYet, h.Size)
			}
		}
	}
}

// TestSyncWithNode: with a real mediator node (server --follow) behind
// the witness, every receipt the primary releases under --sync-witnesses 1
// names an entry the node already holds, byte for byte.
func TestSyncWithNode(t *testing.T) {
	dir := pki(t)
	skey, _ := newWitnessKey(t, dir, "witness.test/tr-node")
	h := ourWitness(t, dir, skey, filepath.Join(t.TempDir(), "witness.state"))
	var allow atomic.Pointer[func(context.Context, *tlog.Checkpoint) error]
	h.Allow = func(ctx context.Context, cp *tlog.Checkpoint) error {
		if a := allow.Load(); a != nil {
			return (*a)(ctx, cp)
		}
		return fmt.Errorf("%w: no node yet", witness.ErrNotYet)
	}
	w := serve(t, h)
	primary := testenv.Start(t, dir, filepath.Join(t.TempDir(), "mvm.db"),
		syncing(1, 5*time.Second, witness.Target{Name: "witness.test/tr-node", URL: w.URL()}))
	node := testenv.NewNode(t, primary, "tr-node")
	a := nodeAllow(node)
	allow.Store(&a)

	c := primary.Client(testenv.Submitter)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				env, err := c.Seal(pkg())
				if err != nil {
					t.Error(err)
					return
				}
				resp, err := c.AppendSealed(ctxT(t), env)
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				leaf, err := node.Server.Ledger().Store().Leaf(resp.Receipt.Index)
				if err != nil {
					t.Errorf("receipt of entry %d released, the node does not hold it: %v", resp.Receipt.Index, err)
					return
				}
				if e, err := entry.DecodeLeaf(leaf); err != nil || string(e.Envelope) != string(env) {
					t.Errorf("the node's entry %d is not the envelope receipted (%v)", resp.Receipt.Index, err)
				}
			}
		})
	}
	wg.Wait()
}
