package service_test

// Read streams bounded in bytes, in time and per identity (streams.go,
// conns.go): real servers on loopback, real TLS, real bbolt, and clients
// that stop reading.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// fillMax appends n entries of the largest size a submitter can make.
func fillMax(t *testing.T, env *testenv.Env, n int) {
	t.Helper()
	pk := env.Client(testenv.Submitter)
	var wg sync.WaitGroup
	var failed atomic.Value
	var next atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := pk.Append(context.Background(), bench.MaxPackage()); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("fill: %v", err)
	}
}

// rawClient is a connection as name whose windows stay at 64 KiB (no
// bandwidth probing): a client that does not read takes at most that much
// off the server, the worst case for the server.
func rawClient(t *testing.T, env *testenv.Env, name string) mvmv1.ExchangeServiceClient {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(env.Certs, name+".crt"), filepath.Join(env.Certs, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(env.Certs, "ca-server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	conn, err := grpc.NewClient(env.Addr,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, Certificates: []tls.Certificate{pair}})),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return mvmv1.NewExchangeServiceClient(conn)
}

// heapInuse is the heap in use after two collections (the second empties
// the pools' victim caches).
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// heldBy is the heap in use of what was allocated under a function whose
// name ends with one of names, and of that, what gRPC's PreparedMsg.Encode
// or chunkcodec.EncodeEntries allocated (encoded messages). Exact only with runtime.MemProfileRate =
// 1; the profile is as of the last collection, so it collects twice.
func heldBy(names ...string) (all, encoded map[string]int64) {
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, false)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, false); ok {
			recs = recs[:n]
			break
		}
	}
	all, encoded = map[string]int64{}, map[string]int64{}
	for _, r := range recs {
		frames := runtime.CallersFrames(r.Stack())
		enc := false
		for {
			f, more := frames.Next()
			enc = enc || strings.HasSuffix(f.Function, ".(*PreparedMsg).Encode") || strings.HasSuffix(f.Function, "chunkcodec.EncodeEntries")
			if i := slices.IndexFunc(names, func(n string) bool { return strings.HasSuffix(f.Function, n) }); i >= 0 {
				all[names[i]] += r.InUseBytes()
				if enc {
					encoded[names[i]] += r.InUseBytes()
				}
				break
			}
			if !more {
				break
			}
		}
	}
	return all, encoded
}

// TestGetEntriesMessagesBoundedInBytes: every message carries at most
// MaxMessageBytes of entries, and the messages together are the log.
func TestGetEntriesMessagesBoundedInBytes(t *testing.T) {
	env := testenv.New(t)
	fillMax(t, env, 120)
	stream, err := env.Client(testenv.Mediator).API.GetEntries(ctxT(t), &mvmv1.GetEntriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	next, messages := uint64(0), 0
	for {
		msg, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.OK && !strings.Contains(err.Error(), "EOF") {
				t.Fatal(err)
			}
			break
		}
		messages++
		n := 0
		for _, l := range msg.Leaves {
			n += len(l)
		}
		if len(msg.Leaves) > 1 && n > service.MaxMessageBytes {
			t.Errorf("message %d carries %d bytes of entries in %d entries, over %d", messages, n, len(msg.Leaves), service.MaxMessageBytes)
		}
		if msg.FirstIndex != next {
			t.Fatalf("message %d starts at %d, want %d", messages, msg.FirstIndex, next)
		}
		next += uint64(len(msg.Leaves))
	}
	if next != 121 || messages < 4 {
		t.Errorf("got %d entries in %d messages, want 121 in several", next, messages)
	}
}

// TestUnreadStreamsHoldBounded: streams whose clients never read hold a
// bounded number of bytes each: beyond gRPC's write quota, one message
// their handler is blocked sending and nothing else (no entries read
// ahead or kept), measured per handler; another party's calls go on
// meanwhile.
func TestUnreadStreamsHoldBounded(t *testing.T) {
	env := testenv.New(t)
	fillMax(t, env, 600) // ~6 MB of entries
	tr := rawClient(t, env, testenv.Mediator)
	if _, err := tr.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err != nil {
		t.Fatal(err)
	}
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1 // every allocation, for heldBy
	before := heapInuse()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const entries, watches = 32, 16
	for range entries {
		if _, err := tr.GetEntries(ctx, &mvmv1.GetEntriesRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	for range watches {
		if _, err := tr.Watch(ctx, &mvmv1.WatchRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second) // every handler reads, encodes and blocks
	af := env.Client(testenv.Responder)
	if _, err := af.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err != nil {
		t.Fatalf("another party during the hold: %v", err)
	}
	grown := int64(heapInuse()) - int64(before)
	// What each handler allocated and still holds. Besides encoded
	// messages, only the stream's own structures (under 4 KiB): no
	// read-ahead, no entries a message was encoded from. Encoded messages:
	// gRPC's per-stream write quota (64 KiB of queued data, counted from
	// what reached the wire; the transport takes a message while any is
	// left, so it holds under 64 KiB, the message that crossed it and the
	// rest of one partly written), plus the one the handler is blocked
	// sending. A Watch message is one entry; a GetEntries message at most
	// MaxMessageBytes.
	all, encoded := heldBy(".(*Service).GetEntries", ".(*Service).Watch")
	leaf, err := env.Server.Ledger().Store().Leaf(1)
	if err != nil {
		t.Fatal(err)
	}
	const quota, own = 64 << 10, 4 << 10
	for _, c := range []struct {
		handler string
		streams int
		message int
	}{
		{".(*Service).GetEntries", entries, service.MaxMessageBytes},
		{".(*Service).Watch", watches, len(leaf) + 16},
	} {
		enc := encoded[c.handler] / int64(c.streams)
		other := (all[c.handler] - encoded[c.handler]) / int64(c.streams)
		t.Logf("%s holds %.1f KiB of encoded messages (of at most %.1f KiB) and %.1f KiB else a stream", c.handler, float64(enc)/1024, float64(c.message)/1024, float64(other)/1024)
		if other > own {
			t.Errorf("%s holds %d bytes a stream besides its encoded messages, over %d: it keeps entries (read ahead, or those a message was encoded from) while blocked", c.handler, other, own)
		}
		// An allocation is rounded up to its size class, by at most 1/8.
		if bound := int64(quota + 3*(c.message+c.message/8)); enc > bound {
			t.Errorf("%s holds %d bytes of encoded messages a stream, over %d: gRPC's 64 KiB write quota and three messages of %d bytes (the one crossing the quota, one partly written, the one blocked): it holds more than one message",
				c.handler, enc, bound, c.message)
		}
	}
	// All told, clients' buffers included: ~250 KiB a stream. Before byte
	// bounds each held ~5 MB of entries twice over.
	const bound = 32 << 20
	t.Logf("heap in use grew by %.1f MiB for %d unread streams", float64(grown)/(1<<20), entries+watches)
	if grown > bound {
		t.Errorf("%d unread streams grew the heap by %d MiB, want at most %d MiB", entries+watches, grown>>20, bound>>20)
	}
}

// TestReadStreamLimitPerIdentity: an identity's read streams beyond the
// limit are refused with ResourceExhausted naming it; other identities
// are not affected; an ended stream frees its place.
func TestReadStreamLimitPerIdentity(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.Limits.MaxStreamsPerIdentity = 3 })
	pk := env.Client(testenv.Submitter)
	// watch opens a live feed from the last entry and waits for it, so
	// the server has counted it.
	watch := func(c *mvmclient.Client) (context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(context.Background())
		size := env.Server.Ledger().Head().Size
		s, err := c.API.Watch(ctx, &mvmv1.WatchRequest{From: size - 1})
		if err == nil {
			_, err = s.Recv()
		}
		if err != nil {
			cancel()
		}
		return cancel, err
	}
	var cancels []context.CancelFunc
	for i := range 3 {
		cancel, err := watch(pk)
		if err != nil {
			t.Fatalf("stream %d of 3: %v", i+1, err)
		}
		cancels = append(cancels, cancel)
	}
	_, err := watch(pk)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "3 read streams open") ||
		!strings.Contains(err.Error(), "--max-streams-per-identity") {
		t.Fatalf("a 4th stream: got %v, want ResourceExhausted naming the limit", err)
	}
	// Another identity, and GetEntries counting too.
	if cancel, err := watch(env.Client(testenv.Responder)); err != nil {
		t.Errorf("another identity: %v", err)
	} else {
		cancel()
	}
	s, err := pk.API.GetEntries(ctxT(t), &mvmv1.GetEntriesRequest{})
	if err == nil {
		_, err = s.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("GetEntries at the limit: got %v, want ResourceExhausted", err)
	}
	cancels[0]()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cancel, err := watch(pk)
		if err == nil {
			cancel()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after one stream ended, a new one is still refused: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range cancels[1:] {
		c()
	}
}

// TestConnLimitPerIdentity: an identity's connections beyond the limit
// get ResourceExhausted naming it; other identities are not affected; a
// closed connection frees its place.
func TestConnLimitPerIdentity(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.Limits.MaxConnsPerIdentity = 2 })
	first := env.Client(testenv.Submitter)
	for i, c := range []*mvmclient.Client{first, env.Client(testenv.Submitter)} {
		if _, err := c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err != nil {
			t.Fatalf("connection %d of 2: %v", i+1, err)
		}
	}
	_, err := env.Client(testenv.Submitter).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "2 connections open") ||
		!strings.Contains(err.Error(), "--max-conns-per-identity") {
		t.Fatalf("a 3rd connection: got %v, want ResourceExhausted naming the limit", err)
	}
	if _, err := env.Client(testenv.Responder).API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err != nil {
		t.Errorf("another identity: %v", err)
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := env.Client(testenv.Submitter)
		_, err := c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a connection closed, a new one is still refused: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWatchStallEndsWithResumePosition: a watcher (or a GetEntries reader)
// that stops reading is dropped after the stall timeout with Unavailable
// and the index of the first entry it did not get; every entry before it
// was delivered.
func TestWatchStallEndsWithResumePosition(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.Limits.StallTimeout = 300 * time.Millisecond })
	fillMax(t, env, 60)
	tr := rawClient(t, env, testenv.Mediator)
	for _, tc := range []struct {
		name string
		open func(ctx context.Context) (func() (first uint64, n int, err error), error)
	}{
		{"watch", func(ctx context.Context) (func() (uint64, int, error), error) {
			s, err := tr.Watch(ctx, &mvmv1.WatchRequest{})
			return func() (uint64, int, error) {
				m, err := s.Recv()
				return m.GetIndex(), 1, err
			}, err
		}},
		{"entries", func(ctx context.Context) (func() (uint64, int, error), error) {
			s, err := tr.GetEntries(ctx, &mvmv1.GetEntriesRequest{})
			return func() (uint64, int, error) {
				m, err := s.Recv()
				return m.GetFirstIndex(), len(m.GetLeaves()), err
			}, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recv, err := tc.open(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second) // not reading
			var got uint64
			for {
				first, n, err := recv()
				if err != nil {
					if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), tc.name+": the client took no message") ||
						!strings.Contains(err.Error(), "fell behind") {
						t.Fatalf("after %d entries: got %v, want Unavailable: fell behind", got, err)
					}
					want := fmt.Sprintf("resume from %d", got)
					if !strings.Contains(err.Error(), want) {
						t.Errorf("got %q after %d entries, want it to say %q", err, got, want)
					}
					break
				}
				if first != got {
					t.Fatalf("entry %d, want %d", first, got)
				}
				got += uint64(n)
			}
			if got == 0 || got >= 61 {
				t.Errorf("the stalled stream delivered %d entries before it ended, want some but not all 61", got)
			}
		})
	}
}

// TestWatchResumesAfterStall: the client library's Watch, whose callback
// is slow enough to be dropped, reconnects from the entry after the last
// it delivered: every entry once, in order.
func TestWatchResumesAfterStall(t *testing.T) {
	var logs syncBuffer
	env := testenv.New(t, func(c *server.Config) {
		c.Limits.StallTimeout = 200 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	fillMax(t, env, 150)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var seen []uint64
	err := mvmclient.Watch(ctx, env.Client(testenv.Mediator), 0, func(i uint64, _ []byte) error {
		if i == 0 {
			time.Sleep(time.Second) // the server drops the stream meanwhile
		}
		seen = append(seen, i)
		if i == 150 {
			return mvmclient.ErrStopWatch
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range seen {
		if v != uint64(i) {
			t.Fatalf("delivery %d is entry %d: %v", i, v, seen[max(0, i-3):min(len(seen), i+3)])
		}
	}
	if len(seen) != 151 {
		t.Fatalf("%d entries delivered, want 151", len(seen))
	}
	if len(logs.lines("fell behind")) == 0 {
		t.Error("the server never dropped the slow watcher: the test tested no resume")
	}
}
