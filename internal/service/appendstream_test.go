package service_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func appender(t *testing.T, c *mvmclient.Client) *mvmclient.Appender {
	t.Helper()
	a, err := c.NewAppender(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func seal(t *testing.T, c *mvmclient.Client, m proto.Message) []byte {
	t.Helper()
	env, err := c.Seal(m)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestAppendStream: over one stream, envelopes get receipts in order, a
// refusal is answered with the unary code and the stream goes on, and a
// re-sent envelope gets its original entry.
func TestAppendStream(t *testing.T) {
	f := newFixture(t)
	a := appender(t, f.pk())
	first := f.size(t)
	var envs [][]byte
	for i := range 3 {
		env, err := f.pk().Seal(targetPackage())
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
		resp, err := a.AppendSealed(env)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if resp.Receipt.Index != first+uint64(i) || resp.Duplicate {
			t.Fatalf("append %d: index %d duplicate %v, want %d", i, resp.Receipt.Index, resp.Duplicate, first+uint64(i))
		}
		e := f.verifyReceipt(t, resp.Receipt)
		if !bytes.Equal(e.Envelope, env) {
			t.Fatalf("append %d: receipt leaf holds another envelope", i)
		}
	}
	// A submitter may not acknowledge: refused as a unary append would be.
	ackEnv, err := f.pk().Seal(ack("no-such-package"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.AppendSealed(ackEnv)
	_, unaryErr := f.pk().AppendSealed(ctxT(t), ackEnv)
	wantCode(t, err, codes.PermissionDenied)
	if err.Error() != unaryErr.Error() {
		t.Errorf("stream refusal %q, unary %q", err, unaryErr)
	}
	if a.Broken() {
		t.Fatal("a refusal broke the stream")
	}
	// Malformed bytes, then an empty envelope: refused, the stream goes on.
	_, err = a.AppendSealed([]byte("not an envelope"))
	wantCode(t, err, codes.InvalidArgument)
	_, err = a.AppendSealed(nil)
	wantCode(t, err, codes.InvalidArgument, "envelope: is required")
	// The same envelope again: its original entry.
	resp, err := a.AppendSealed(envs[1])
	if err != nil || !resp.Duplicate || resp.Receipt.Index != first+1 {
		t.Fatalf("re-sent envelope: %+v, %v; want duplicate of %d", resp, err, first+1)
	}
	resp, err = a.AppendSealed(seal(t, f.pk(), targetPackage()))
	if err != nil || resp.Receipt.Index != first+3 {
		t.Fatalf("append after refusals: %+v, %v; want index %d", resp, err, first+3)
	}
	f.wantSize(t, first+4)
}

// TestAppendStreamsShareConnection: streams on one connection, whose
// answers one sender sends for all of them, each get their own receipts,
// in order; the sender ends with the connection's last stream.
func TestAppendStreamsShareConnection(t *testing.T) {
	f := newFixture(t)
	c := f.pk() // one TLS connection
	first := f.size(t)
	const streams, each = 12, 6
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[uint64]bool{}
		errs = make(chan error, streams)
		apps []*mvmclient.Appender
	)
	for range streams {
		a := appender(t, c)
		apps = append(apps, a)
		wg.Go(func() {
			var last uint64
			for i := range each {
				env, err := c.Seal(targetPackage())
				if err == nil {
					var resp *mvmv1.AppendResponse
					if resp, err = a.AppendSealed(env); err == nil {
						err = checkOwnReceipt(f, resp, env, last)
						last = resp.Receipt.Index
					}
				}
				if err != nil {
					errs <- fmt.Errorf("append %d: %w", i, err)
					return
				}
				mu.Lock()
				seen[last] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != streams*each {
		t.Errorf("%d distinct indexes for %d appends", len(seen), streams*each)
	}
	f.wantSize(t, first+streams*each)
	if n := connSenders(); n != 1 {
		t.Errorf("%d connection senders for one connection's streams, want 1", n)
	}
	for _, a := range apps {
		a.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for connSenders() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the connection's sender outlived its streams")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAppendStreamUnreadHoldsNoOther: a stream whose client stops reading
// its answers holds up its own answers only, not those of another stream
// on the same connection, although the two share the connection's sender.
func TestAppendStreamUnreadHoldsNoOther(t *testing.T) {
	f := newFixture(t)
	// A fixed 64 KiB stream window: the server's Send on the unread stream
	// blocks after some twenty answers.
	conn, signer := rawConn(t, f, f.env.Certs, testenv.Submitter,
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(16<<20))
	api := mvmv1.NewExchangeServiceClient(conn)
	ctx := ctxT(t)
	first := f.size(t)

	actx, cancelA := context.WithCancel(ctx)
	defer cancelA()
	unread, err := api.AppendStream(actx)
	if err != nil {
		t.Fatal(err)
	}
	const flood = 200
	sendErr := make(chan error, 1)
	go func() {
		for range flood {
			env, err := envelope.Seal(targetPackage(), signer)
			if err == nil {
				err = unread.Send(&mvmv1.AppendStreamRequest{Envelope: env})
			}
			if err != nil {
				sendErr <- err
				return
			}
		}
	}()
	// Until the unread stream's appends stop short of the flood: its
	// handler is blocked in Send, through the connection's sender.
	last, stable := first, 0
	deadline := time.Now().Add(10 * time.Second)
	for stable < 5 {
		select {
		case err := <-sendErr:
			t.Fatalf("flooding the unread stream: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unread stream's appends did not stop (log size %d)", f.size(t))
		}
		if n := f.size(t); n == last && n > first+10 {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	if last >= first+flood {
		t.Fatalf("all %d answers fit in the stream window: nothing was held up", flood)
	}

	other, err := api.AppendStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(targetPackage(), signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Send(&mvmv1.AppendStreamRequest{Envelope: env}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		resp, err := other.Recv()
		if err == nil {
			err = checkOwnReceipt(f, resp.Result, env, 0)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the other stream's append: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other stream's answer is held up by the unread stream")
	}
	cancelA()
	other.CloseSend()
}

// checkOwnReceipt checks that resp is a valid receipt for env, after the
// stream's previous index last.
func checkOwnReceipt(f *fixture, resp *mvmv1.AppendResponse, env []byte, last uint64) error {
	vr, err := tlog.VerifyReceipt(resp.Receipt.TlogProof, f.v.Name(), f.v)
	if err != nil {
		return err
	}
	e, err := entry.DecodeLeaf(vr.Leaf)
	if err != nil {
		return err
	}
	if !bytes.Equal(e.Envelope, env) || vr.Index != resp.Receipt.Index {
		return fmt.Errorf("receipt %d is for another envelope", resp.Receipt.Index)
	}
	if last != 0 && resp.Receipt.Index <= last {
		return fmt.Errorf("index %d after %d: answers out of order", resp.Receipt.Index, last)
	}
	return nil
}

// connSenders counts the goroutines sending append streams' answers.
func connSenders() int {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	return strings.Count(b.String(), "service.(*connSender).run")
}

// TestAppendStreamRevoked: a stream opened before its identity was revoked
// appends nothing after the revocation; the stream ends Unauthenticated.
func TestAppendStreamRevoked(t *testing.T) {
	f := newFixture(t)
	if err := devpki.Issue(f.env.Certs, "pk-second", "pk", devpki.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	c := f.env.Client("pk-second")
	a := appender(t, c)
	if _, err := a.AppendSealed(seal(t, c, targetPackage())); err != nil {
		t.Fatalf("append before the revocation: %v", err)
	}
	if err := devpki.Revoke(f.env.Certs, "pk-second", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Server.Reload(); err != nil {
		t.Fatal(err)
	}
	before := f.size(t)
	_, err := a.AppendSealed(seal(t, c, targetPackage()))
	wantCode(t, err, codes.Unauthenticated, "revoked")
	if !a.Broken() {
		t.Error("the stream of a revoked identity goes on")
	}
	f.wantSize(t, before)
}

// TestAppendStreamRateLimit: the per-identity rate limit holds on a stream;
// a refused append leaves the stream usable.
func TestAppendStreamRateLimit(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) {
		c.Limits.AppendRate = 2
		c.Limits.AppendBurst = 2
	})
	pk := env.Client(testenv.Submitter)
	a, err := pk.NewAppender(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	seen := map[codes.Code]int{}
	for range 5 {
		env, err := pk.Seal(targetPackage())
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.AppendSealed(env)
		if err != nil {
			wantCode(t, err, codes.ResourceExhausted, "is rejected by grpc_ratelimit middleware", "retry in")
			seen[codes.ResourceExhausted]++
		} else {
			seen[codes.OK]++
		}
	}
	if seen[codes.OK] < 2 || seen[codes.OK] > 3 || a.Broken() {
		t.Fatalf("5 appends at a burst of 2: %v (broken %v)", seen, a.Broken())
	}
}

// TestAppendStreamShutdown: once the server is stopping, a stream takes no
// more envelopes: the next one is answered by the end of the stream with
// Unavailable (reopen elsewhere or later), which lets the graceful stop
// finish.
func TestAppendStreamShutdown(t *testing.T) {
	f := newFixture(t)
	a := appender(t, f.pk())
	if _, err := a.AppendSealed(seal(t, f.pk(), targetPackage())); err != nil {
		t.Fatalf("append before the shutdown: %v", err)
	}
	stopped := make(chan struct{})
	go func() { f.env.Stop(); close(stopped) }()
	// Appends that beat the stop are logged as usual; the first one after
	// it ends the stream.
	var err error
	for range 1000 {
		if _, err = a.AppendSealed(seal(t, f.pk(), targetPackage())); err != nil {
			break
		}
	}
	wantCode(t, err, codes.Unavailable, "server is shutting down; reopen the stream")
	if !a.Broken() {
		t.Error("the stream goes on after the shutdown")
	}
	<-stopped
}

// TestAppenderDeadline: an Appender whose server does not answer within
// the client's CallTimeout fails with DeadlineExceeded and is broken.
func TestAppenderDeadline(t *testing.T) {
	f := newFixture(t)
	o := mvmclient.FromCertsDir(f.env.Addr, f.env.Certs, testenv.Submitter)
	o.ServerCA = filepath.Join(f.env.Certs, "ca-server.crt")
	o.CallTimeout = time.Nanosecond // no answer can come that fast
	c, err := mvmclient.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := appender(t, c)
	_, err = a.AppendSealed(seal(t, c, targetPackage()))
	if code := status.Code(err); code != codes.DeadlineExceeded && code != codes.Canceled {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if !a.Broken() {
		t.Fatal("an Appender past its deadline is not broken")
	}
}
