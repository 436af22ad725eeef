package ledger_test

import (
	"context"
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// gate is the ledger's Config.Commit in these tests: it can hold the
// writer inside a commit, so that every append sent meanwhile lands in the
// next batch, and it can fail commits.
type gate struct {
	st      *store.Store
	mu      sync.Mutex
	hold    chan struct{} // the next commit waits until it is closed
	entered chan struct{} // closed when the held commit has started
	fail    error         // commits fail with it
	sizes   []int         // leaves of every batch the writer committed or tried
}

func newGatedFixture(t *testing.T) (*fixture, *gate) {
	g := &gate{}
	f := newFixture(t, store.Options{}, func(c *ledger.Config) {
		g.st = c.Store
		c.Commit = g.commit
	})
	return f, g
}

func (g *gate) commit(b *store.Batch) error {
	g.mu.Lock()
	hold, entered, fail := g.hold, g.entered, g.fail
	g.hold, g.entered = nil, nil
	g.sizes = append(g.sizes, len(b.Leaves))
	g.mu.Unlock()
	if hold != nil {
		close(entered)
		<-hold
	}
	if fail != nil {
		return fail
	}
	return g.st.Commit(b)
}

func (g *gate) set(fn func(g *gate)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fn(g)
}

type outcome struct {
	res *ledger.Result
	err error
}

// inOneBatch holds the writer in the commit of a first append, sends the
// envelopes in order (each one's preparation done before the next is
// sent), and lets the writer go: the envelopes then reach it together,
// in one batch. It returns their outcomes, and the first append's error.
func (f *fixture) inOneBatch(t *testing.T, g *gate, envs []func() ([]byte, string)) ([]outcome, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hold, entered := make(chan struct{}), make(chan struct{})
	g.set(func(g *gate) { g.hold, g.entered = hold, entered })
	first := make(chan error, 1)
	go func() {
		_, err := f.l.Append(ctx, f.seal(t, "pk-liaison", target()), f.cert("pk-liaison"))
		first <- err
	}()
	<-entered
	out := make([]outcome, len(envs))
	var wg sync.WaitGroup
	for i, mk := range envs {
		raw, who := mk()
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].res, out[i].err = f.l.Append(ctx, raw, f.cert(who))
		}()
		// The append is prepared and queued long before the next one is
		// sent and the writer let go: the order of the queue is the order
		// of the batch. (Preparing takes well under a millisecond.)
		time.Sleep(200 * time.Millisecond)
	}
	close(hold)
	wg.Wait()
	return out, <-first
}

// A failed store commit answers every append of its batch with ErrCommit
// and logs none of them; retried, they are logged.
func TestFailedCommitLogsNothing(t *testing.T) {
	f, g := newGatedFixture(t)
	before := f.l.Head()
	var envs []func() ([]byte, string)
	var raws [][]byte
	for range 4 {
		raw := f.seal(t, "pk-liaison", target())
		raws = append(raws, raw)
		envs = append(envs, func() ([]byte, string) { return raw, "pk-liaison" })
	}
	disk := errors.New("disk on fire")
	g.set(func(g *gate) { g.fail = disk })
	out, err := f.inOneBatch(t, g, envs)
	if !errors.Is(err, ledger.ErrCommit) {
		t.Errorf("the append that held the writer: got %v, want %v", err, ledger.ErrCommit)
	}
	for i, o := range out {
		if !errors.Is(o.err, ledger.ErrCommit) || !strings.Contains(o.err.Error(), "disk on fire") {
			t.Errorf("append %d of the failed batch: got %v, %v, want %v wrapping the store's error", i, o.res, o.err, ledger.ErrCommit)
		}
	}
	var sizes []int
	g.set(func(g *gate) { sizes = append(sizes, g.sizes...) })
	if sizes[len(sizes)-1] != len(envs) {
		t.Errorf("the last failed batch had %d entries, want the %d sent together (sizes %v)", sizes[len(sizes)-1], len(envs), sizes)
	}
	h := f.l.Head()
	if h.Size != before.Size || string(h.Checkpoint) != string(before.Checkpoint) {
		t.Fatalf("head after failed commits: size %d, want %d and the same checkpoint", h.Size, before.Size)
	}
	if n, err := f.st.Size(); err != nil || n != before.Size {
		t.Fatalf("stored size after failed commits: %d, %v, want %d", n, err, before.Size)
	}

	// The disk recovers: the same envelopes are logged, continuing the log.
	g.set(func(g *gate) { g.fail = nil })
	ctx := context.Background()
	for i, raw := range raws {
		r, err := f.l.Append(ctx, raw, f.cert("pk-liaison"))
		if err != nil || r.Duplicate || r.Index != before.Size+uint64(i) {
			t.Fatalf("retry %d: got %+v, %v, want a new entry at %d", i, r, err, before.Size+uint64(i))
		}
	}
}

// Two different envelopes under one author's message id in the same batch:
// the first is logged, the second refused with ErrDuplicateMessageID, and
// the log holds the first one's bytes once.
func TestSameMessageIDInOneBatch(t *testing.T) {
	f, g := newGatedFixture(t)
	one, two := target(), target()
	two.Header.MessageId = one.Header.MessageId
	two.Summary = "a different payload"
	rawOne, rawTwo := f.seal(t, "pk-liaison", one), f.seal(t, "pk-liaison", two)
	out, err := f.inOneBatch(t, g, []func() ([]byte, string){
		func() ([]byte, string) { return rawOne, "pk-liaison" },
		func() ([]byte, string) { return rawTwo, "pk-liaison" },
	})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].err != nil || out[0].res.Duplicate {
		t.Fatalf("first envelope: got %v, want logged", out[0].err)
	}
	if !errors.Is(out[1].err, ledger.ErrDuplicateMessageID) || !strings.Contains(out[1].err.Error(), "in this batch") {
		if out[1].err == nil {
			t.Fatalf("second envelope: logged at %d (duplicate %v), want %v found in this batch", out[1].res.Index, out[1].res.Duplicate, ledger.ErrDuplicateMessageID)
		}
		t.Fatalf("second envelope: got %v, want %v found in this batch", out[1].err, ledger.ErrDuplicateMessageID)
	}
	var sizes []int
	g.set(func(g *gate) { sizes = append(sizes, g.sizes...) })
	if got := sizes[len(sizes)-1]; got != 1 {
		t.Errorf("the batch logged %d entries, want 1", got)
	}
	var n int
	if err := f.st.Leaves(0, f.l.Head().Size, func(i uint64, leaf []byte) error {
		e, err := entry.DecodeLeaf(leaf)
		if err != nil {
			return err
		}
		if strings.Contains(string(e.Envelope), one.Header.MessageId) {
			n++
			if string(e.Envelope) != string(rawOne) {
				return fmt.Errorf("entry %d holds the second envelope", i)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("entries under the message id: got %d, want 1", n)
	}
}

// An append admitted under the agreement in force, queued while an
// amendment replacing its party's CA commits ahead of it in the same
// batch, is authenticated again under the amendment and refused: its
// certificate no longer chains to its party's CA. (The reducer alone
// would accept it: the party and its role are unchanged.)
func TestAmendmentInBatchReadmitsQueuedAppends(t *testing.T) {
	f, g := newGatedFixture(t)
	// pk's new CA, and an identity it issued.
	dir2 := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: dir2}); err != nil {
		t.Fatal(err)
	}
	pemCA, err := os.ReadFile(filepath.Join(dir2, "ca-pk.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemCA)
	if blk == nil {
		t.Fatal("ca-pk.crt: no PEM block")
	}
	pair, err := devpki.LoadKeyPair(dir2, "pk-liaison")
	if err != nil {
		t.Fatal(err)
	}
	amendment := f.amendment(t, func(p *mvmv1.Agreement) {
		for _, party := range p.Parties {
			if party.Id == "pk" {
				party.CaCertificates = [][]byte{blk.Bytes}
			}
		}
	}, envelope.Signer{Key: pair.PrivateKey.(crypto.Signer), Certificate: pair.Leaf, EmbedCertificate: true}) // pk under its new CA
	queued := f.seal(t, "pk-liaison", target()) // pk under its old CA

	out, err := f.inOneBatch(t, g, []func() ([]byte, string){
		func() ([]byte, string) { return amendment, "af-interior" },
		func() ([]byte, string) { return queued, "pk-liaison" },
	})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].err != nil {
		t.Fatalf("amendment: %v", out[0].err)
	}
	if out[1].err == nil {
		t.Fatalf("an append by a certificate of pk's replaced CA was logged at %d after the amendment at %d", out[1].res.Index, out[0].res.Index)
	}
	if !strings.Contains(out[1].err.Error(), "pk") {
		t.Errorf("refusal %v does not name the party", out[1].err)
	}
	var sizes []int
	g.set(func(g *gate) { sizes = append(sizes, g.sizes...) })
	if got := sizes[len(sizes)-1]; got != 1 {
		t.Errorf("the amendment's batch logged %d entries, want 1 (sizes %v)", got, sizes)
	}
	if h := f.l.Head(); h.Agreement.Index != out[0].res.Index {
		t.Errorf("agreement in force at %d, want the amendment at %d", h.Agreement.Index, out[0].res.Index)
	}
}
