package ledger_test

import (
	"bytes"
	"context"
	"crypto"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// stepClock is a clock the test steps.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// syncBuffer is a log sink the writer goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// storeSource feeds the auditor from the ledger's store. A leaf is the
// auditor's to keep (audit.Source), and bbolt's memory is valid only
// inside the read transaction: each is copied.
type storeSource struct{ st *store.Store }

func (s storeSource) Entries(_ context.Context, start, end uint64, fn func(uint64, []byte) error) error {
	return s.st.Leaves(start, end, func(i uint64, leaf []byte) error { return fn(i, bytes.Clone(leaf)) })
}
func (s storeSource) Certificate(_ context.Context, sha []byte) ([]byte, error) {
	return s.st.Certificate(sha)
}

// auditStore runs the full audit over the fixture's store.
func (f *fixture) auditStore(t *testing.T) (*audit.Report, error) {
	t.Helper()
	genesis, err := os.ReadFile(filepath.Join(f.dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	return audit.Run(context.Background(), storeSource{f.st}, f.l.Head().Size, audit.Options{Genesis: genesis})
}

// targetAt is a target package its author signed at authored.
func targetAt(authored time.Time) *mvmv1.TargetPackage {
	tp := target()
	tp.Header.AuthoredAt = timestamppb.New(authored)
	return tp
}

// TestClockStep (hole 6 of issue 12): the server's clock runs an hour
// ahead, then is stepped back an hour. Receive times never go backwards
// (they are held at the last one, with a warning), yet honest appends are
// not refused: authors' clocks are judged against the server's clock. Then
// the clock steps an hour behind the right time, and is set right. The
// audit passes the whole log.
func TestClockStep(t *testing.T) {
	base := time.Now().UTC().Truncate(time.Second)
	clock := &stepClock{t: base}
	var logs syncBuffer
	f := newFixture(t, store.Options{}, func(c *ledger.Config) {
		c.Now = clock.Now
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	ctx := context.Background()
	appendAt := func(authored time.Time) (*ledger.Result, error) {
		return f.l.Append(ctx, f.seal(t, "pk-liaison", targetAt(authored)), f.cert("pk-liaison"))
	}
	mustAt := func(authored time.Time) *ledger.Result {
		t.Helper()
		r, err := appendAt(authored)
		if err != nil {
			t.Fatalf("append authored at %v, clock %v: %v", authored, clock.Now(), err)
		}
		return r
	}

	if r := mustAt(base); !r.ReceivedAt.Equal(base) {
		t.Fatalf("receive time: got %v, want the clock %v", r.ReceivedAt, base)
	}

	// The clock steps an hour ahead: an honest author is an hour behind it
	// and refused; an author whose clock ran ahead with it is logged.
	ahead := base.Add(time.Hour)
	clock.Set(ahead)
	if _, err := appendAt(base); err == nil || !strings.Contains(err.Error(), "behind the receive time") {
		t.Fatalf("honest author while the server's clock is an hour ahead: got %v, want a clock skew refusal", err)
	}
	if r := mustAt(ahead); !r.ReceivedAt.Equal(ahead) {
		t.Fatalf("receive time: got %v, want %v", r.ReceivedAt, ahead)
	}

	// Stepped back an hour (corrected): honest appends are logged, their
	// receive times held at the last one, and the operator is warned once.
	corrected := base.Add(time.Minute)
	clock.Set(corrected)
	for i := range 2 {
		r := mustAt(corrected)
		if !r.ReceivedAt.Equal(ahead) {
			t.Fatalf("append %d after the step back: receive time %v, want it held at %v", i, r.ReceivedAt, ahead)
		}
		clock.Set(corrected.Add(time.Second))
	}
	if got, want := f.l.ClockBehind(), ahead.Sub(corrected.Add(time.Second)); got != want {
		t.Errorf("ClockBehind while held: got %v, want %v", got, want)
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"clock is behind"); n != 1 {
		t.Errorf("warnings about the clock: got %d, want 1; log:\n%s", n, logs.String())
	}

	// A certificate valid at the clock but expired at the held receive
	// time: the audit judges certificates at receive times, so the server
	// refuses it.
	if err := devpki.Issue(f.dir, "pk-second", "pk", devpki.IssueOptions{NotAfter: corrected.Add(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	pair, err := devpki.LoadKeyPair(f.dir, "pk-second")
	if err != nil {
		t.Fatal(err)
	}
	second := envelope.Signer{Key: pair.PrivateKey.(crypto.Signer), Certificate: pair.Leaf}
	raw, err := envelope.Seal(targetAt(corrected.Add(time.Second)), second)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := f.l.Append(ctx, raw, pair.Leaf); err == nil || !strings.Contains(err.Error(), "expired") {
		if err == nil {
			t.Fatalf("certificate expired at the held receive time: logged at %d, want refused as expired", r.Index)
		}
		t.Fatalf("certificate expired at the held receive time: got %v, want refused as expired", err)
	}

	// The clock passes the held time: receive times follow it again.
	later := ahead.Add(time.Minute)
	clock.Set(later)
	if r := mustAt(later); !r.ReceivedAt.Equal(later) {
		t.Fatalf("receive time after catching up: got %v, want %v", r.ReceivedAt, later)
	}
	if got := f.l.ClockBehind(); got != 0 {
		t.Errorf("ClockBehind after catching up: got %v, want 0", got)
	}
	if !strings.Contains(logs.String(), "clock caught up") {
		t.Errorf("no notice that the clock caught up; log:\n%s", logs.String())
	}

	// Stepped back an hour from the right time: the server's clock is now
	// wrong, so honest authors are an hour ahead of it and refused (loudly:
	// a second warning) until it is set right.
	clock.Set(later.Add(-time.Hour))
	if _, err := appendAt(later); err == nil || !strings.Contains(err.Error(), "ahead of the receive time") {
		t.Fatalf("honest author while the server's clock is an hour behind: got %v, want a clock skew refusal", err)
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"clock is behind"); n != 2 {
		t.Errorf("warnings about the clock after the second step: got %d, want 2; log:\n%s", n, logs.String())
	}
	clock.Set(later.Add(time.Minute))
	if r := mustAt(later.Add(time.Minute)); !r.ReceivedAt.Equal(later.Add(time.Minute)) {
		t.Fatalf("receive time once the clock is set right: got %v, want %v", r.ReceivedAt, later.Add(time.Minute))
	}

	rep, err := f.auditStore(t)
	if err != nil {
		t.Fatalf("audit of the log across the clock steps: %v", err)
	}
	if got, want := rep.Entries, uint64(7); got != want {
		t.Errorf("audited entries: got %d, want %d", got, want)
	}
}
