package service

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Paged reads (ListPackages, GetBreaches, GetPackage, ListCheckpoints; and a node's
// CompareCheckpoint, which reads its tree) cost CPU in
// proportion to their answer, and a party may call them in a loop from
// many goroutines, over many identities minted from its own CA. So that
// they can never take more than a share of the CPU while appends wait
// (DESIGN invariant 9), a read is worked on only once it holds a slot at
// three levels, taken in this order:
//
//  1. its identity's (Options.MaxReadsPerIdentity, 1 by default), with
//     Options.MaxQueuedReadsPerIdentity waiting;
//  2. its party's (Options.MaxReadsPerParty), with
//     Options.MaxQueuedReadsPerParty waiting: however many identities a
//     party mints, it has this many reads in progress;
//  3. the server's read workers (Options.MaxReads, half the CPUs by
//     default), which every party's reads share. A party has at most
//     MaxReadsPerParty reads waiting here, so the queue takes the parties
//     in turn (Go queues the waiters of a channel in order): no party's
//     reads wait behind another party's flood.
//
// Between the party's slot and the server's, a read waits for its party's
// pace (Options.ReadRatePerParty reads a second, as many in a burst): the
// server's read worker is shared in turn, but a party that keeps it busy
// all the time would still take a whole CPU from the appends of others.
//
// A read waits at no cost until its slot frees or its call ends
// (DeadlineExceeded, Canceled); one beyond a queue is refused at once with
// ResourceExhausted naming the limit. Appends take none of these slots.

// Defaults of the read limits (MaxReads: half the CPUs, at least 1).
const (
	DefaultMaxReadsPerIdentity       = 1
	DefaultMaxQueuedReadsPerIdentity = 16
	DefaultMaxReadsPerParty          = 2
	DefaultMaxQueuedReadsPerParty    = 64
	// DefaultReadRatePerParty: a mediator pages through 100,000 packages
	// (1,000 pages of 100) in about ten seconds; a flood of cheap reads
	// takes a few percent of a CPU.
	DefaultReadRatePerParty = 100
)

// isUnaryRead selects the unary reads whose cost grows with their answer
// (a page of packages, breaches or checkpoints, a package's history), and a node's
// comparison of a client's checkpoint (O(log n) reads of its tree, which
// a caller may ask for in a loop).
func isUnaryRead(_ context.Context, c interceptors.CallMeta) bool {
	switch c.FullMethod() {
	case mvmv1.ExchangeService_ListPackages_FullMethodName, mvmv1.ExchangeService_GetBreaches_FullMethodName,
		mvmv1.ExchangeService_GetPackage_FullMethodName, mvmv1.ExchangeService_CompareCheckpoint_FullMethodName,
		mvmv1.ExchangeService_ListCheckpoints_FullMethodName:
		return true
	}
	return false
}

// readLimits are the three levels of read slots and the parties' pace.
type readLimits struct {
	identity, party, server *limiter
	pace                    *readPace
}

// readPace paces each party's reads: a token bucket per party (parties
// are the agreement's, so the map is bounded by it).
type readPace struct {
	every rate.Limit // rate.Inf: unpaced
	mu    sync.Mutex
	by    map[string]*rate.Limiter
}

func newReadPace(perSecond float64) *readPace {
	p := &readPace{every: rate.Inf, by: map[string]*rate.Limiter{}}
	if perSecond > 0 {
		p.every = rate.Limit(perSecond)
	}
	return p
}

// wait waits for party's next read; beyond the call's deadline it refuses
// at once, naming the limit.
func (p *readPace) wait(ctx context.Context, party string) error {
	if p.every == rate.Inf {
		return nil
	}
	p.mu.Lock()
	lim, ok := p.by[party]
	if !ok {
		lim = rate.NewLimiter(p.every, max(1, int(p.every)))
		p.by[party] = lim
	}
	p.mu.Unlock()
	if err := lim.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		return status.Errorf(codes.ResourceExhausted,
			"party %s reads beyond %g a second, the limit per party (server --read-rate-per-party): retry later", party, float64(p.every))
	}
	return nil
}

func newReadLimits(o Options) readLimits {
	const what, advice = "reads in progress", "retry once one is answered"
	return readLimits{
		identity: newLimiter(limit{what: what, per: "identity", flag: "--max-reads-per-identity", max: o.MaxReadsPerIdentity,
			queue: o.MaxQueuedReadsPerIdentity, queueFlag: "--max-queued-reads-per-identity", advice: advice}),
		party: newLimiter(limit{what: what, per: "party", flag: "--max-reads-per-party", max: o.MaxReadsPerParty,
			queue: o.MaxQueuedReadsPerParty, queueFlag: "--max-queued-reads-per-party", advice: advice}),
		// Its waiters are bounded by the parties' slots.
		server: newLimiter(limit{what: what, per: "server", flag: "--max-reads", max: o.MaxReads, queue: -1, advice: advice}),
		pace:   newReadPace(o.ReadRatePerParty),
	}
}

// readStarted, if set, is called by a read once it holds its slots (for
// tests, to hold a read in progress).
var readStarted atomic.Pointer[func(context.Context)]

// limitReads is the unary interceptor of the read slots; it runs after
// authentication.
func (s *Service) limitReads(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c, ok := CallerFrom(ctx)
	if !ok {
		return handler(ctx, req)
	}
	for _, lv := range []struct {
		l        *limiter
		key, who string
	}{
		{s.reads.identity, c.ID.URI(), c.ID.URI()},
		{s.reads.party, c.ID.Party, "party " + c.ID.Party},
		{s.reads.server, "", "the server"},
	} {
		if lv.l == s.reads.server {
			// Paced while holding only the party's slot: only its own
			// reads wait behind it.
			if err := s.reads.pace.wait(ctx, c.ID.Party); err != nil {
				return nil, err
			}
		}
		release, err := lv.l.acquire(ctx, lv.key, lv.who)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	if f := readStarted.Load(); f != nil {
		(*f)(ctx)
	}
	return handler(ctx, req)
}
