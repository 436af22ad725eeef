package ledger_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/metrics"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// fixture is a ledger on a real bbolt file with the dev PKI's identities.
type fixture struct {
	dir    string
	db     string
	st     *store.Store
	l      *ledger.Ledger
	signer note.Signer
	ids    map[string]envelope.Signer
	config []func(*ledger.Config) // applied at every open
}

func newFixture(tb testing.TB, o store.Options, config ...func(*ledger.Config)) *fixture {
	tb.Helper()
	dir := tb.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: dir}); err != nil {
		tb.Fatal(err)
	}
	f := &fixture{dir: dir, db: filepath.Join(tb.TempDir(), "mvm.db"), ids: map[string]envelope.Signer{}, config: config}
	skey, err := os.ReadFile(filepath.Join(dir, "log.key"))
	if err != nil {
		tb.Fatal(err)
	}
	if f.signer, err = note.NewSigner(strings.TrimSpace(string(skey))); err != nil {
		tb.Fatal(err)
	}
	for _, name := range []string{"pk-liaison", "af-interior", "tr-verifier", "qa-verifier"} {
		pair, err := devpki.LoadKeyPair(dir, name)
		if err != nil {
			tb.Fatal(err)
		}
		f.ids[name] = envelope.Signer{Key: pair.PrivateKey.(crypto.Signer), Certificate: pair.Leaf}
	}
	f.open(tb, o)
	return f
}

func (f *fixture) open(tb testing.TB, o store.Options) {
	tb.Helper()
	genesis, err := os.ReadFile(filepath.Join(f.dir, "agreement.envelope"))
	if err != nil {
		tb.Fatal(err)
	}
	if f.st, err = store.Open(f.db, o); err != nil {
		tb.Fatal(err)
	}
	cfg := ledger.Config{Store: f.st, Signer: f.signer, Genesis: genesis}
	for _, c := range f.config {
		c(&cfg)
	}
	if f.l, err = ledger.Open(cfg); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.close)
}

func (f *fixture) close() {
	if f.l != nil {
		f.l.Close()
		f.st.Close()
		f.l = nil
	}
}

func (f *fixture) cert(name string) *x509.Certificate { return f.ids[name].Certificate }

func (f *fixture) seal(tb testing.TB, name string, m proto.Message) []byte {
	tb.Helper()
	b, err := envelope.Seal(m, f.ids[name])
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func target() *mvmv1.TargetPackage {
	return &mvmv1.TargetPackage{Header: mvmclient.NewHeader(), Locations: []*mvmv1.Location{{Lat: 34, Lon: 71}}}
}

// TestBatchRefusalKeepsOthers sends, in one burst, valid packages mixed
// with refused appends (a second acknowledgement, an unknown package, a
// forbidden role, a forged signature in the middle of a verification
// batch). Every valid one is logged, every refused one is not, and the log
// stays continuous.
func TestBatchRefusalKeepsOthers(t *testing.T) {
	f := newFixture(t, store.Options{})
	ctx := context.Background()
	tp := target()
	if _, err := f.l.Append(ctx, f.seal(t, "pk-liaison", tp), f.cert("pk-liaison")); err != nil {
		t.Fatal(err)
	}
	ack := func() []byte {
		return f.seal(t, "af-interior", &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: tp.Header.MessageId})
	}
	if _, err := f.l.Append(ctx, ack(), f.cert("af-interior")); err != nil {
		t.Fatal(err)
	}
	type call struct {
		name string
		env  []byte
		want error // nil: accepted
	}
	// A valid envelope whose signature is then flipped: the batch
	// verification must refuse it alone.
	forged := func() []byte {
		env, err := envelope.Parse(f.seal(t, "pk-liaison", target()))
		if err != nil {
			t.Fatal(err)
		}
		env.Signatures[0].Sig[9] ^= 1
		b, _ := proto.Marshal(env)
		return b
	}
	var calls []call
	for i := range 50 {
		if i%5 == 4 {
			calls = append(calls, call{"pk-liaison", forged(), envelope.ErrBadSignature})
			continue
		}
		switch i % 4 {
		case 0:
			calls = append(calls, call{"af-interior", ack(), workflow.ErrAlreadyExists})
		case 1:
			calls = append(calls, call{"af-interior", f.seal(t, "af-interior", &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: "nope"}), workflow.ErrNotFound})
		case 2:
			calls = append(calls, call{"af-interior", f.seal(t, "af-interior", target()), workflow.ErrPermission})
		default:
			calls = append(calls, call{"pk-liaison", f.seal(t, "pk-liaison", target()), nil})
		}
	}
	before := f.l.Head().Size
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.l.Append(ctx, c.env, f.cert(c.name))
		}()
	}
	wg.Wait()
	accepted := 0
	for i, c := range calls {
		if c.want == nil {
			if errs[i] != nil {
				t.Errorf("call %d: got %v, want accepted", i, errs[i])
			}
			accepted++
		} else if !errors.Is(errs[i], c.want) {
			t.Errorf("call %d: got %v, want %v", i, errs[i], c.want)
		}
	}
	if got, want := f.l.Head().Size, before+uint64(accepted); got != want {
		t.Fatalf("log size %d, want %d", got, want)
	}
	// Every index up to the head is present and the tree matches the
	// checkpoint.
	tree, _ := tlog.NewTree(0, nil)
	if err := f.st.Leaves(0, f.l.Head().Size, func(i uint64, leaf []byte) error {
		return tree.Append(tlog.LeafHash(leaf), nil)
	}); err != nil {
		t.Fatal(err)
	}
	root, _ := tree.Root()
	v, _ := note.NewVerifier(f.l.Head().Agreement.LogKey)
	cp, _, err := tlog.OpenCheckpoint(f.l.Head().Checkpoint, f.l.Origin(), v)
	if err != nil {
		t.Fatal(err)
	}
	if string(cp.Hash) != string(root) || cp.Size != tree.Size() {
		t.Fatalf("checkpoint (%d, %x) does not match the stored leaves (%d, %x)", cp.Size, cp.Hash, tree.Size(), root)
	}
}

// TestLingerEndsWhenArrivalsStop: under load the writer waits for fuller
// batches, but not for appends that are not coming. With an hour's linger,
// bursts of appends and the lone append after each still complete: the
// wait ends once appends stop arriving, and a lone caller never waits.
func TestLingerEndsWhenArrivalsStop(t *testing.T) {
	f := newFixture(t, store.Options{})
	f.close()
	st, err := store.Open(f.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Store: st, Signer: f.signer, Linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	peer := f.cert("pk-liaison")
	var appended int
	for round := range 3 {
		envs := make([][]byte, 48)
		for i := range envs {
			envs[i] = f.seal(t, "pk-liaison", target())
		}
		errs := make(chan error, len(envs))
		for _, env := range envs {
			go func() {
				_, err := l.Append(ctx, env, peer)
				errs <- err
			}()
		}
		for range envs {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: burst append: %v", round, err)
			}
		}
		if _, err := l.Append(ctx, f.seal(t, "pk-liaison", target()), peer); err != nil {
			t.Fatalf("round %d: lone append after a burst: %v", round, err)
		}
		appended += len(envs) + 1
	}
	if got := l.Head().Size; got != uint64(1+appended) {
		t.Errorf("log size %d, want %d", got, 1+appended)
	}
}

// TestRestartRecovers reopens the ledger on the same file: the head,
// checkpoint and package states survive, and appends continue.
func TestRestartRecovers(t *testing.T) {
	f := newFixture(t, store.Options{})
	ctx := context.Background()
	tp := target()
	if _, err := f.l.Append(ctx, f.seal(t, "pk-liaison", tp), f.cert("pk-liaison")); err != nil {
		t.Fatal(err)
	}
	ack := f.seal(t, "af-interior", &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: tp.Header.MessageId})
	first, err := f.l.Append(ctx, ack, f.cert("af-interior"))
	if err != nil {
		t.Fatal(err)
	}
	head := f.l.Head()
	f.close()
	f.open(t, store.Options{})
	if got := f.l.Head(); got.Size != head.Size || string(got.Checkpoint) != string(head.Checkpoint) {
		t.Fatalf("after restart head (%d) differs from before (%d)", got.Size, head.Size)
	}
	// The same envelope is still a duplicate of the same index.
	again, err := f.l.Append(ctx, ack, f.cert("af-interior"))
	if err != nil || !again.Duplicate || again.Index != first.Index {
		t.Fatalf("resend after restart: got %+v, %v; want duplicate of index %d", again, err, first.Index)
	}
	// The package state is rebuilt from the log: a second ack is refused.
	_, err = f.l.Append(ctx, f.seal(t, "af-interior", &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: tp.Header.MessageId}), f.cert("af-interior"))
	if !errors.Is(err, workflow.ErrAlreadyExists) {
		t.Fatalf("second ack after restart: got %v, want %v", err, workflow.ErrAlreadyExists)
	}
}

// BenchmarkAppend is the full append path in process: admission (signature,
// chain, validation), the reducer, group commit with fsync and a signed
// checkpoint, with concurrent callers. Envelopes are signed outside the
// timer. The +metrics runs feed the commit hook to package metrics, as
// the server does with --metrics.
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name          string
		sync, metrics bool
	}{{"fsync", true, false}, {"nosync", false, false}, {"fsync+metrics", true, true}, {"nosync+metrics", false, true}} {
		b.Run(c.name, func(b *testing.B) {
			// The commit hook (the writer's goroutine) records the pages
			// each batch wrote and its size, to split page writes into a
			// cost per commit and a cost per append (pagesPerCommit).
			var st *store.Store
			var last int64
			var mu sync.Mutex
			var commits [][2]float64
			var onCommit func(int, time.Duration)
			if c.metrics {
				onCommit = metrics.New().Committed
			}
			hook := func(cfg *ledger.Config) {
				cfg.Committed = func(n int, took time.Duration) {
					if onCommit != nil {
						onCommit(n, took)
					}
					mu.Lock()
					defer mu.Unlock()
					if st != nil {
						ts := st.DB().Stats().TxStats
						commits = append(commits, [2]float64{float64(n), float64(ts.GetWrite() - last)})
						last = ts.GetWrite()
					}
				}
			}
			f := newFixture(b, store.Options{NoSync: !c.sync}, hook)
			ts0 := f.st.DB().Stats().TxStats
			mu.Lock()
			st, last = f.st, ts0.GetWrite()
			mu.Unlock()
			envs := make([][]byte, b.N)
			for i := range envs {
				envs[i] = f.seal(b, "pk-liaison", target())
			}
			cert := f.cert("pk-liaison")
			var next sync2
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := f.l.Append(context.Background(), envs[next.add()], cert); err != nil {
						b.Error(err)
						return
					}
				}
			})
			// Pages bbolt writes per append: what each index costs the
			// commit (docs/PERFORMANCE.md).
			ts := f.st.DB().Stats().TxStats
			b.ReportMetric(float64(ts.GetWrite())/float64(b.N), "pagewrites/op")
			mu.Lock()
			defer mu.Unlock()
			if perCommit, perAppend, ok := pagesPerCommit(commits); ok {
				b.ReportMetric(perCommit, "pages/commit")
				b.ReportMetric(perAppend, "pages/append")
			}
		})
	}
}

// pagesPerCommit fits pages = perCommit + perAppend·entries over the
// commits (least squares): what a commit costs whatever its size (the last
// page of each range it extends, and their branch pages) apart from what
// each append adds. The batch size varies with the host's scheduling,
// pagewrites/op with it; the two terms do not. ok is false with fewer than
// two batch sizes.
func pagesPerCommit(commits [][2]float64) (perCommit, perAppend float64, ok bool) {
	var n, sx, sy, sxx, sxy float64
	for _, c := range commits {
		n, sx, sy, sxx, sxy = n+1, sx+c[0], sy+c[1], sxx+c[0]*c[0], sxy+c[0]*c[1]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0, 0, false
	}
	perAppend = (n*sxy - sx*sy) / d
	return (sy - perAppend*sx) / n, perAppend, true
}

type sync2 struct {
	mu sync.Mutex
	n  int
}

func (s *sync2) add() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.n - 1
}

// TestRebuildIndexes drops and recomputes the indexes from the entries:
// idempotency, package state and the agreement pointer are as before.
func TestRebuildIndexes(t *testing.T) {
	f := newFixture(t, store.Options{})
	ctx := context.Background()
	tp := target()
	sub := f.seal(t, "pk-liaison", tp)
	first, err := f.l.Append(ctx, sub, f.cert("pk-liaison"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Append(ctx, f.seal(t, "af-interior", &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: tp.Header.MessageId}), f.cert("af-interior")); err != nil {
		t.Fatal(err)
	}
	wantIdx, _ := f.st.PackageIndexes(tp.Header.MessageId)
	f.close()
	st, err := store.Open(f.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.RebuildIndexes(st); err != nil {
		t.Fatal(err)
	}
	st.Close()
	f.open(t, store.Options{})
	gotIdx, _ := f.st.PackageIndexes(tp.Header.MessageId)
	if fmt.Sprint(gotIdx) != fmt.Sprint(wantIdx) {
		t.Fatalf("package indexes after rebuild %v, want %v", gotIdx, wantIdx)
	}
	again, err := f.l.Append(ctx, sub, f.cert("pk-liaison"))
	if err != nil || !again.Duplicate || again.Index != first.Index {
		t.Fatalf("resend after rebuild: got %+v, %v; want duplicate of %d", again, err, first.Index)
	}
	_, err = f.l.Append(ctx, f.seal(t, "af-interior", &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: tp.Header.MessageId}), f.cert("af-interior"))
	if !errors.Is(err, workflow.ErrAlreadyExists) {
		t.Fatalf("second ack after rebuild: got %v, want %v", err, workflow.ErrAlreadyExists)
	}
}

// TestAuthorCacheBounded: a party that signs each entry with a freshly
// minted certificate fills the cache of authors only up to its bound, and
// replays still name every author.
func TestAuthorCacheBounded(t *testing.T) {
	defer ledger.SetAuthorCacheSize(4)()
	f := newFixture(t, store.Options{})
	ctx := context.Background()
	var ids []string
	for i := range 10 {
		name := fmt.Sprintf("pk-minted-%d", i)
		if err := devpki.Issue(f.dir, name, "pk", devpki.IssueOptions{}); err != nil {
			t.Fatal(err)
		}
		pair, err := devpki.LoadKeyPair(f.dir, name)
		if err != nil {
			t.Fatal(err)
		}
		f.ids[name] = envelope.Signer{Key: pair.PrivateKey.(crypto.Signer), Certificate: pair.Leaf}
		tp := target()
		if _, err := f.l.Append(ctx, f.seal(t, name, tp), f.cert(name)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tp.Header.MessageId)
	}
	f.close()
	f.open(t, store.Options{}) // empty caches: replays read the authors back
	h := f.l.Head()
	for i, id := range ids {
		p, err := f.l.ReplayUntil(id, h.History, time.Time{}, h.Size)
		if err != nil || p == nil {
			t.Fatalf("replay package %d: %v", i, err)
		}
		if want := fmt.Sprintf("pk-minted-%d", i); p.Submitter.Name != want {
			t.Errorf("package %d submitted by %s, want %s", i, p.Submitter.Name, want)
		}
		if n := f.l.CachedAuthors(); n > 4 {
			t.Fatalf("after %d replays %d authors are cached, want at most 4", i+1, n)
		}
	}
}
