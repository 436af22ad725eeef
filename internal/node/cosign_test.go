package node_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// cosignatureLines are the lines of a checkpoint after the log's
// signature, sorted.
func cosignatureLines(cp []byte) []string {
	_, sigs, _ := strings.Cut(string(cp), "\n\n")
	var out []string
	for line := range strings.Lines(sigs) {
		if !strings.HasPrefix(line, "— "+devpki.DefaultLogOrigin+" ") {
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

// cosigned is a witnessed primary holding 3 packages whose checkpoint of
// size n (signed) the caught-up node cosigned, and the log's key.
type cosigned struct {
	w      *witnessed
	n      uint64
	signed []byte
	logKey note.Verifier
}

func newCosigned(t *testing.T) *cosigned {
	t.Helper()
	w := newWitnessed(t, nil)
	submit(t, w.primary, 3)
	caughtUp(t, w.primary, w.node)
	n, ok := w.cosignedBy(t, 10*time.Second)
	if !ok {
		t.Fatalf("the primary's checkpoint of size %d is not cosigned by the node", n)
	}
	c := &cosigned{w: w, n: n}
	var err error
	if c.logKey, err = note.NewVerifier(c.read(t, "log.vkey")); err != nil {
		t.Fatal(err)
	}
	resp, err := w.primary.Client(testenv.Mediator).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: n})
	if err != nil {
		t.Fatal(err)
	}
	c.signed = resp.Checkpoint
	return c
}

// read is a file of the primary's PKI, trimmed.
func (c *cosigned) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.w.primary.Certs, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// forge is a cosignature line of the checkpoint under name by a key of
// its own, not the agreement's.
func (c *cosigned) forge(t *testing.T, name string) string {
	t.Helper()
	skey, _, err := tlog.GenerateCosignerKey(name)
	if err != nil {
		t.Fatal(err)
	}
	line, err := tlog.Cosign(skey, c.signed, devpki.DefaultLogOrigin, c.logKey)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// plant writes lines (by name) into the stopped primary's store at size
// n, as a lying primary would serve them, and restarts it.
func (c *cosigned) plant(t *testing.T, lines map[string]string) {
	t.Helper()
	c.w.primary.Stop()
	st, err := store.Open(c.w.primary.DB, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, line := range lines {
		if err := st.AddCosignature(c.n, name, line); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	c.w.primary.Restart()
}

// cosignAs has mediator identity as cosign the checkpoint with its key,
// through the primary, and returns the line.
func (c *cosigned) cosignAs(t *testing.T, as string) string {
	t.Helper()
	line, err := tlog.Cosign(c.read(t, as+".cosign.key"), c.signed, devpki.DefaultLogOrigin, c.logKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.w.primary.Client(as).API.AddCosignature(ctxT(t), &mvmv1.AddCosignatureRequest{Checkpoint: c.signed, SignatureLine: line}); err != nil {
		t.Fatal(err)
	}
	return line
}

// TestLateCosignatures: cosignatures that reach the primary after the node
// copied a checkpoint reach the node too — the node's own witness
// cosignature (which exists only once the node copied the checkpoint) and
// a mediator's that comes later still — so the node's checkpoint shows the
// same cosignatures as the primary's and is witnessed by the same count. A
// line the primary serves that does not verify under the agreement's key
// of its name is not copied.
func TestLateCosignatures(t *testing.T) {
	c := newCosigned(t)
	w, n := c.w, c.n

	// The primary's store gets a line under tr-verifier's name by a key
	// the agreement does not list.
	forged := c.forge(t, "tr-verifier")
	c.plant(t, map[string]string{"tr-verifier": forged})

	// qa's mediator cosigns the checkpoint long after the node copied it.
	c.cosignAs(t, testenv.Mediator2)
	qa := w.primary.Client(testenv.Mediator2)
	primary, err := qa.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: n})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(cosignatureLines(primary.Checkpoint), func(l string) bool { return l == forged })
	if len(want) != 2 || len(cosignatureLines(primary.Checkpoint)) != 3 {
		t.Fatalf("the primary's checkpoint of size %d: %q, want the node's, qa's and the forged line", n, cosignatureLines(primary.Checkpoint))
	}

	node := w.node.Client(testenv.Mediator2)
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := node.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{Size: n})
		if err != nil {
			t.Fatal(err)
		}
		lines := cosignatureLines(got.Checkpoint)
		if slices.Contains(lines, forged) {
			t.Fatalf("the node copied a cosignature by a key the agreement does not list: %q", lines)
		}
		if slices.Equal(lines, want) {
			if got.Cosigners != 2 || got.Cosigners != primary.Cosigners {
				t.Errorf("the node counts %d witnesses, the primary %d; want 2 (tr by its node, qa by its mediator)", got.Cosigners, primary.Cosigners)
			}
			if !slices.Equal(logSig(got.Checkpoint), logSig(primary.Checkpoint)) {
				t.Errorf("the node's checkpoint is not the primary's:\n%s\n%s", got.Checkpoint, primary.Checkpoint)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node's checkpoint of size %d carries %q, want the primary's valid cosignatures %q", n, lines, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSyncWithNodeWitness: with --sync-witnesses 1 and a real mediator
// node as the witness (its own HTTPS witness endpoint, which cosigns only
// what it verified and stored), every receipt the primary releases names
// an entry the node already holds, byte for byte, and the node has
// already cosigned a checkpoint covering it.
func TestSyncWithNodeWitness(t *testing.T) {
	w := newWitnessed(t, nil, func(c *server.Config) {
		c.SyncWitnesses, c.SyncTimeout = 1, 20*time.Second
	})
	c := w.primary.Client(testenv.Submitter)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				env, err := c.Seal(target(""))
				if err != nil {
					t.Error(err)
					return
				}
				resp, err := c.AppendSealed(ctxT(t), env)
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				i := resp.Receipt.Index
				leaf, err := w.node.Server.Ledger().Store().Leaf(i)
				if err != nil {
					t.Errorf("receipt of entry %d released, the node does not hold it: %v", i, err)
					return
				}
				if e, err := entry.DecodeLeaf(leaf); err != nil || !bytes.Equal(e.Envelope, env) {
					t.Errorf("the node's entry %d is not the envelope receipted (%v)", i, err)
				}
				if n := w.cosignedSize(t); n <= i {
					t.Errorf("receipt of entry %d released, the node has cosigned only up to size %d", i, n)
				}
			}
		})
	}
	wg.Wait()
}

// cosignedSize is the size of the latest checkpoint the node's witness
// endpoint cosigned: its state, which it saves durably before it answers
// with the cosignature.
func (w *witnessed) cosignedSize(t *testing.T) uint64 {
	t.Helper()
	cp, err := witness.FileState(w.node.DB + ".witness").Load()
	if err != nil {
		t.Fatal(err)
	}
	if cp == nil {
		return 0
	}
	return size(t, cp)
}
