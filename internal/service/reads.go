package service

import (
	"context"
	"sync/atomic"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"google.golang.org/grpc"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Paged reads (ListPackages, GetBreaches, GetPackage) cost CPU in
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
// A read waits at no cost until its slot frees or its call ends
// (DeadlineExceeded, Canceled); one beyond a queue is refused at once with
// ResourceExhausted naming the limit. Appends take none of these slots.

// Defaults of the read limits (MaxReads: half the CPUs, at least 1).
const (
	DefaultMaxReadsPerIdentity       = 1
	DefaultMaxQueuedReadsPerIdentity = 16
	DefaultMaxReadsPerParty          = 2
	DefaultMaxQueuedReadsPerParty    = 64
)

// isUnaryRead selects the unary reads whose cost grows with their answer
// (a page of packages or breaches, a package's history).
func isUnaryRead(_ context.Context, c interceptors.CallMeta) bool {
	switch c.FullMethod() {
	case mvmv1.ExchangeService_ListPackages_FullMethodName, mvmv1.ExchangeService_GetBreaches_FullMethodName,
		mvmv1.ExchangeService_GetPackage_FullMethodName:
		return true
	}
	return false
}

// readLimits are the three levels of read slots.
type readLimits struct {
	identity, party, server *limiter
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
