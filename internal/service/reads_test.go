package service_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/service"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// heldReads holds every paged read of the server in progress, once it has
// its slots, until let go; started says whose got that far.
type heldReads struct {
	started chan string
	mu      sync.Mutex
	gates   map[string]chan struct{}
}

func holdReads(t *testing.T) *heldReads {
	h := &heldReads{started: make(chan string, 64), gates: map[string]chan struct{}{}}
	restore := service.OnReadStarted(func(ctx context.Context) {
		c, _ := service.CallerFrom(ctx)
		h.started <- c.ID.Name
		<-h.gate(c.ID.Name)
	})
	t.Cleanup(func() {
		restore()
		h.mu.Lock()
		defer h.mu.Unlock()
		for n, g := range h.gates {
			if g != closed {
				close(g)
			}
			h.gates[n] = closed
		}
	})
	return h
}

func (h *heldReads) gate(name string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gates[name] == nil {
		h.gates[name] = make(chan struct{})
	}
	return h.gates[name]
}

// letGo ends name's held reads.
func (h *heldReads) letGo(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.gates[name]; g != nil && g != closed {
		close(g)
	}
	h.gates[name] = closed
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// wantStarted: who's read, and no other, is now in progress.
func (h *heldReads) wantStarted(t *testing.T, who string) {
	t.Helper()
	select {
	case got := <-h.started:
		if got != who {
			t.Fatalf("%s's read went on, want %s's", got, who)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s's read was not worked on", who)
	}
}

// wantNoneStarted: no other read went on within a moment.
func (h *heldReads) wantNoneStarted(t *testing.T, why string) {
	t.Helper()
	select {
	case got := <-h.started:
		t.Fatalf("%s's read went on: %s", got, why)
	case <-time.After(100 * time.Millisecond):
	}
}

// mint issues identities of party and connects as each.
func mint(t *testing.T, env *testenv.Env, party string, names ...string) map[string]*mvmclient.Client {
	cs := map[string]*mvmclient.Client{}
	for _, n := range names {
		if err := devpki.Issue(env.Certs, n, party, devpki.IssueOptions{}); err != nil {
			t.Fatal(err)
		}
		cs[n] = env.Client(n)
	}
	return cs
}

// breaches starts a GetBreaches of c; its result arrives on the channel.
func breaches(c *mvmclient.Client) <-chan error {
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := c.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{})
		got <- err
	}()
	return got
}

func wantRefused(t *testing.T, got <-chan error, substrs ...string) {
	t.Helper()
	select {
	case err := <-got:
		wantCode(t, err, codes.ResourceExhausted, substrs...)
	case <-time.After(10 * time.Second):
		t.Fatal("a read beyond the queue waited instead of being refused")
	}
}

// TestReadsSharedByParty: on a real server, however many identities a
// party mints, it has --max-reads-per-party reads in progress and
// --max-queued-reads-per-party waiting, the next refused at once with
// ResourceExhausted naming the limit; an identity's own queue is bounded
// the same way; another party's reads go on meanwhile; and the server's
// read workers (--max-reads) take the parties' waiting reads in turn.
func TestReadsSharedByParty(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) {
		c.Limits.MaxReadsPerIdentity, c.Limits.MaxQueuedReadsPerIdentity = 1, 1
		c.Limits.MaxReadsPerParty, c.Limits.MaxQueuedReadsPerParty = 1, 1
		c.Limits.MaxReads = 2
	})
	tr := mint(t, env, "tr", "tr-a", "tr-b", "tr-c")
	pk := env.Client(testenv.Submitter)
	for _, c := range []*mvmclient.Client{tr["tr-a"], tr["tr-b"], tr["tr-c"], pk} {
		if _, err := c.API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{}); err != nil {
			t.Fatal(err) // connected before the reads, so that each reaches its slot at once
		}
	}
	h := holdReads(t)
	waitUntil := func(what string, n func() int, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for n() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d, want %d", what, n(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	svc := env.Server.Service()

	a1 := breaches(tr["tr-a"])
	h.wantStarted(t, "tr-a")
	b := breaches(tr["tr-b"]) // another identity of tr: waits for tr's one slot
	waitUntil("tr's reads", func() int { return service.PartyReads(svc, "tr") }, 2)
	h.wantNoneStarted(t, "a second identity of party tr went past the party's one read in progress")
	wantRefused(t, breaches(tr["tr-c"]), "party tr has 1 reads in progress and 1 waiting", "--max-reads-per-party", "--max-queued-reads-per-party")
	// tr-a's own queue: one waits, the next is refused by the identity's
	// queue before it reaches the party's.
	a2 := breaches(tr["tr-a"])
	waitUntil("tr-a's reads", func() int { return service.IdentityReads(svc, "spiffe://mvm.example/party/tr/tr-a") }, 2)
	wantRefused(t, breaches(tr["tr-a"]), "tr-a has 1 reads in progress and 1 waiting", "--max-queued-reads-per-identity")

	// Another party is not held up by tr's reads: it takes the server's
	// second read worker.
	p := breaches(pk)
	h.wantStarted(t, testenv.Submitter)
	// Both workers busy: a third party's read waits for one, and gets it
	// before tr's next read, which was still waiting for tr's slot then:
	// the workers take the parties in turn, not tr's queue first.
	q := breaches(env.Client(testenv.Mediator2))
	waitUntil("qa's reads", func() int { return service.PartyReads(svc, "qa") }, 1)
	h.wantNoneStarted(t, "a read went past the server's 2 read workers")
	h.letGo("tr-a")
	h.wantStarted(t, "qa-verifier")
	h.letGo("qa-verifier")
	h.wantStarted(t, "tr-b")
	for _, n := range []string{"tr-b", testenv.Submitter} {
		h.letGo(n)
	}
	for i, got := range []<-chan error{a1, b, p, q, a2} {
		if err := <-got; err != nil {
			t.Errorf("read %d: %v", i, err)
		}
	}
}

// TestReadsPacedByParty: a party's paged reads go at --read-rate-per-party
// whatever identities it uses, one beyond its pace and its call's deadline
// is refused at once with ResourceExhausted naming the limit, and another
// party's reads are not paced by it.
func TestReadsPacedByParty(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.Limits.ReadRatePerParty = 2 })
	tr := mint(t, env, "tr", "tr-a", "tr-b")
	read := func(c *mvmclient.Client, d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, err := c.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{})
		return err
	}
	for i, c := range []*mvmclient.Client{tr["tr-a"], tr["tr-b"]} { // the burst: two at once
		if err := read(c, 10*time.Second); err != nil {
			t.Fatalf("read %d within the burst: %v", i, err)
		}
	}
	// The next token is half a second away: beyond a 100 ms deadline.
	wantCode(t, read(tr["tr-b"], 100*time.Millisecond), codes.ResourceExhausted, "party tr reads beyond 2 a second", "--read-rate-per-party")
	if err := read(env.Client(testenv.Submitter), 100*time.Millisecond); err != nil {
		t.Fatalf("party pk's read, paced by tr's: %v", err)
	}
	if err := read(tr["tr-a"], 10*time.Second); err != nil {
		t.Fatalf("tr's read within its deadline waits for its pace: %v", err)
	}
}

// TestCompareCheckpointIsARead: a node's CompareCheckpoint holds its
// caller's read slots and pace like a paged read, so a party cannot make a
// node compare checkpoints in a loop beyond them. On a primary, which
// refuses it, the refusal comes after the pace: a call beyond it is
// refused with ResourceExhausted, not answered.
func TestCompareCheckpointIsARead(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.Limits.ReadRatePerParty = 1 })
	tr := env.Client(testenv.Mediator)
	compare := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, err := tr.API.CompareCheckpoint(ctx, &mvmv1.CompareCheckpointRequest{Checkpoint: []byte("x")})
		return err
	}
	wantCode(t, compare(10*time.Second), codes.FailedPrecondition, "this server is the primary")
	wantCode(t, compare(100*time.Millisecond), codes.ResourceExhausted, "party tr reads beyond 1 a second", "--read-rate-per-party")
}

// TestListCheckpointsIsARead: ListCheckpoints holds its caller's read
// slots and pace like the other paged reads (a page costs up to 256
// checkpoints read), and answers pages within the published head.
func TestListCheckpointsIsARead(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.Limits.ReadRatePerParty = 1 })
	mustAppend(t, env.Client(testenv.Submitter), targetPackage())
	tr := env.Client(testenv.Mediator)
	list := func(d time.Duration) (*mvmv1.ListCheckpointsResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return tr.API.ListCheckpoints(ctx, &mvmv1.ListCheckpointsRequest{})
	}
	resp, err := list(10 * time.Second)
	if err != nil || len(resp.Checkpoints) != 2 || resp.More {
		t.Fatalf("ListCheckpoints: %v, %v; want the checkpoints of sizes 1 and 2, no more", resp, err)
	}
	_, err = list(100 * time.Millisecond)
	wantCode(t, err, codes.ResourceExhausted, "party tr reads beyond 1 a second", "--read-rate-per-party")
}
