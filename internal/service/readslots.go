package service

import (
	"context"
	"errors"
	"sync"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// DefaultMaxReadsPerIdentity is how many unary reads of one identity the
// server works on at once; more wait for a slot.
const DefaultMaxReadsPerIdentity = 1

// isUnaryRead selects the unary reads whose cost grows with their answer
// (a page of packages or breaches, a package's history): one identity
// calling them in a loop from many goroutines must not take every CPU
// from the other parties' appends (DESIGN invariant 9).
func isUnaryRead(_ context.Context, c interceptors.CallMeta) bool {
	switch c.FullMethod() {
	case mvmv1.ExchangeService_ListPackages_FullMethodName, mvmv1.ExchangeService_GetBreaches_FullMethodName,
		mvmv1.ExchangeService_GetPackage_FullMethodName:
		return true
	}
	return false
}

// readSlots lets each identity have at most max unary reads worked on at
// once; the others wait, costing no CPU, until a slot frees or their
// deadline ends. An identity's entry goes when nobody holds or waits for
// its slots, so the map holds only identities with calls in flight.
type readSlots struct {
	max int // ≤ 0: unlimited
	mu  sync.Mutex
	by  map[string]*slots
}

type slots struct {
	ch    chan struct{}
	users int // holding or waiting
}

func newReadSlots(max int) *readSlots { return &readSlots{max: max, by: map[string]*slots{}} }

// acquire waits for one of uri's slots, to be given back to release; it
// fails only when ctx ends.
func (r *readSlots) acquire(ctx context.Context, uri string) (*slots, error) {
	r.mu.Lock()
	sl := r.by[uri]
	if sl == nil {
		sl = &slots{ch: make(chan struct{}, r.max)}
		r.by[uri] = sl
	}
	sl.users++
	r.mu.Unlock()
	select {
	case sl.ch <- struct{}{}:
		return sl, nil
	case <-ctx.Done():
		r.leave(uri, sl)
		return nil, ctx.Err()
	}
}

func (r *readSlots) release(uri string, sl *slots) {
	<-sl.ch
	r.leave(uri, sl)
}

func (r *readSlots) leave(uri string, sl *slots) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sl.users--; sl.users == 0 {
		delete(r.by, uri)
	}
}

// limitReads is the unary interceptor of the per-identity read slots; it
// runs after authentication.
func (s *Service) limitReads(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c, ok := CallerFrom(ctx)
	if !ok || s.reads.max <= 0 {
		return handler(ctx, req)
	}
	uri := c.ID.URI()
	sl, err := s.reads.acquire(ctx, uri)
	if err != nil {
		code := codes.DeadlineExceeded
		if errors.Is(err, context.Canceled) {
			code = codes.Canceled
		}
		return nil, status.Errorf(code, "%s had %d reads in progress, the limit per identity (server --max-reads-per-identity), until the call ended: %v", c.ID, s.reads.max, err)
	}
	defer s.reads.release(uri, sl)
	return handler(ctx, req)
}
