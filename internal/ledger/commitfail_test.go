package ledger_test

import (
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/dbcheck"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// amendment is an amendment of the genesis agreement changed by change,
// signed by every identity of the dev PKI and by extra.
func (f *fixture) amendment(t *testing.T, change func(*mvmv1.Agreement), extra ...envelope.Signer) []byte {
	t.Helper()
	genesis, err := os.ReadFile(filepath.Join(f.dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	ag, _, err := agreement.FromEnvelope(genesis, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := proto.Clone(ag.Proto).(*mvmv1.Agreement)
	p.Header = mvmclient.NewHeader()
	p.AmendsIndex = 0
	change(p)
	var signers []envelope.Signer
	for _, name := range []string{"pk-liaison", "af-interior", "tr-verifier", "qa-verifier"} {
		pair, err := devpki.LoadKeyPair(f.dir, name)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, envelope.Signer{Key: pair.PrivateKey.(crypto.Signer), Certificate: pair.Leaf, EmbedCertificate: true})
	}
	raw, err := envelope.Seal(p, append(signers, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A failed store commit of a batch that would have changed everything the
// writer keeps (an amendment, a package's state, a new package, the tree)
// answers every append of the batch, re-sent and duplicate ones included,
// with ErrCommit telling the caller to retry, and leaves the published
// head, the stored log and its indexes, and the writer's own tree and
// package cache as they were: the same appends, retried, are logged at the
// same indexes, an acknowledgement the failed batch held is not refused as
// a second one, and the log audits clean, online and offline.
func TestFailedCommitLeavesStateAsBefore(t *testing.T) {
	f, g := newGatedFixture(t)
	ctx := context.Background()
	tp := target()
	submitted := f.seal(t, "pk-liaison", tp)
	if _, err := f.l.Append(ctx, submitted, f.cert("pk-liaison")); err != nil {
		t.Fatal(err)
	}
	before := f.l.Head()
	index := dumpPackageIndex(t, f.st)

	amend := f.amendment(t, func(p *mvmv1.Agreement) { p.Title += " (amended)" })
	ack := f.seal(t, "af-interior", &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: tp.Header.MessageId})
	other := f.seal(t, "pk-liaison", target())
	sent := []struct {
		raw []byte
		who string
	}{
		{amend, "af-interior"},
		{ack, "af-interior"},
		{other, "pk-liaison"},
		{ack, "af-interior"},      // the same envelope twice in the batch
		{submitted, "pk-liaison"}, // re-sent: logged by an earlier batch
	}
	var envs []func() ([]byte, string)
	for _, s := range sent {
		envs = append(envs, func() ([]byte, string) { return s.raw, s.who })
	}
	g.set(func(g *gate) { g.fail = errors.New("disk on fire") })
	out, err := f.inOneBatch(t, g, envs)
	if !errors.Is(err, ledger.ErrCommit) {
		t.Errorf("the append that held the writer: got %v, want %v", err, ledger.ErrCommit)
	}
	for i, o := range out {
		if !errors.Is(o.err, ledger.ErrCommit) || !strings.Contains(o.err.Error(), "retry") || !strings.Contains(o.err.Error(), "disk on fire") {
			t.Errorf("append %d of the failed batch: got %v, want %v saying to retry and wrapping the store's error", i, o.err, ledger.ErrCommit)
		}
	}
	var sizes []int
	g.set(func(g *gate) { sizes = append(sizes, g.sizes...) })
	if got := sizes[len(sizes)-1]; got != 3 {
		t.Errorf("the failed batch staged %d entries, want 3 (amendment, acknowledgement, package; sizes %v)", got, sizes)
	}

	h := f.l.Head()
	if h.Size != before.Size || string(h.Checkpoint) != string(before.Checkpoint) || h.Agreement != before.Agreement || len(h.History) != len(before.History) {
		t.Fatalf("head after the failed commit: size %d, agreement at %d, %d agreements; want %d, %d, %d and the same checkpoint",
			h.Size, h.Agreement.Index, len(h.History), before.Size, before.Agreement.Index, len(before.History))
	}
	if n, err := f.st.Size(); err != nil || n != before.Size {
		t.Fatalf("stored size after the failed commit: %d, %v, want %d", n, err, before.Size)
	}
	if got := dumpPackageIndex(t, f.st); got != index {
		t.Fatalf("package index after the failed commit:\n%s\nwant as before:\n%s", got, index)
	}

	// The disk recovers: the same appends are logged where the failed
	// batch would have put them.
	g.set(func(g *gate) { g.fail = nil })
	for i, s := range sent[:3] {
		r, err := f.l.Append(ctx, s.raw, f.cert(s.who))
		want := before.Size + uint64(i)
		if err != nil {
			t.Fatalf("retry %d: %v, want a new entry at %d", i, err, want)
		}
		if r.Duplicate || r.Index != want || r.Size != want+1 {
			t.Fatalf("retry %d: entry %d of a log of %d (duplicate %v), want a new entry at %d of a log of %d", i, r.Index, r.Size, r.Duplicate, want, want+1)
		}
	}
	for i, s := range sent[3:] {
		if r, err := f.l.Append(ctx, s.raw, f.cert(s.who)); err != nil || !r.Duplicate {
			t.Fatalf("retry %d: got %v, want the earlier entry", 3+i, err)
		}
	}
	if h := f.l.Head(); h.Agreement.Index != before.Size {
		t.Errorf("agreement in force at %d, want the amendment at %d", h.Agreement.Index, before.Size)
	}
	rep, err := f.auditStore(t)
	if err != nil {
		t.Fatalf("audit after the failed commit and the retries: %v", err)
	}
	if rep.Entries != before.Size+3 {
		t.Errorf("audited %d entries, want %d", rep.Entries, before.Size+3)
	}
	f.close()
	if rep, err := dbcheck.File(f.db); err != nil || !rep.OK() {
		t.Fatalf("server --verify-db after the failed commit and the retries: %v, %v", err, rep.Damage)
	}
}

// The genesis entry goes through Config.Commit too: a failed commit fails
// Open, logs nothing, and the next Open appends it.
func TestFailedGenesisCommit(t *testing.T) {
	var failing atomic.Bool
	f := newFixture(t, store.Options{}, func(c *ledger.Config) {
		st := c.Store
		c.Commit = func(b *store.Batch) error {
			if failing.Load() {
				return errors.New("disk on fire")
			}
			return st.Commit(b)
		}
	})
	f.close()
	if err := os.Remove(f.db); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	st, err := store.Open(f.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := os.ReadFile(filepath.Join(f.dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ledger.Config{Store: st, Signer: f.signer, Genesis: genesis}
	for _, c := range f.config {
		c(&cfg)
	}
	if l, err := ledger.Open(cfg); err == nil || !strings.Contains(err.Error(), "genesis") || !strings.Contains(err.Error(), "disk on fire") {
		if l != nil {
			l.Close()
		}
		t.Fatalf("open with a failing commit: got %v, want the genesis commit's error", err)
	}
	if n, err := st.Size(); err != nil || n != 0 {
		t.Fatalf("stored size after the failed genesis commit: %d, %v, want 0", n, err)
	}
	st.Close()

	failing.Store(false)
	f.open(t, store.Options{})
	if h := f.l.Head(); h.Size != 1 || h.Agreement == nil {
		t.Fatalf("head after the retried open: size %d, want the genesis agreement alone", h.Size)
	}
}
