package service

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Options are the service's limits. The zero value means the defaults.
type Options struct {
	// AppendRate limits appends per identity per second; 0 is unlimited.
	AppendRate float64
	// AppendBurst is how many appends an identity may send at once
	// (default: one second's worth, at least 1).
	AppendBurst int
	// CallTimeout bounds a unary call that arrives without a deadline
	// (default 30s).
	CallTimeout time.Duration
	// Operators are the SPIFFE URIs of the identities that may call the
	// admin RPCs (Backup); see [CheckOperator]. None by default: the admin
	// RPCs are then refused to everyone.
	Operators []string
	// MaxStreamsPerIdentity bounds one identity's concurrent read streams
	// (GetEntries, Watch, Backup); default DefaultMaxStreamsPerIdentity,
	// negative: unlimited.
	MaxStreamsPerIdentity int
	// MaxConnsPerIdentity bounds one identity's open connections; default
	// DefaultMaxConnsPerIdentity, negative: unlimited.
	MaxConnsPerIdentity int
	// The read limits (reads.go): how many of one identity's, one
	// party's and everyone's paged reads (ListPackages, GetBreaches,
	// GetPackage) are worked on at once, and how many more of an
	// identity's and a party's may wait for a slot. Defaults
	// DefaultMaxReadsPerIdentity, DefaultMaxQueuedReadsPerIdentity,
	// DefaultMaxReadsPerParty, DefaultMaxQueuedReadsPerParty and half the
	// CPUs (at least 1); negative: unlimited.
	MaxReadsPerIdentity, MaxQueuedReadsPerIdentity int
	MaxReadsPerParty, MaxQueuedReadsPerParty       int
	MaxReads                                       int
	// ReadRatePerParty paces one party's paged reads (reads a second, as
	// many in a burst); default DefaultReadRatePerParty, negative: unpaced.
	ReadRatePerParty float64
	// The handshake limits (handshakes.go): TLS handshakes in progress on
	// the server and from one source address, those of an address that
	// may wait, and the time from a connection's accept to the end of its
	// handshake. Defaults DefaultMaxHandshakes, DefaultMaxHandshakesPerAddr,
	// DefaultMaxQueuedHandshakesPerAddr and DefaultHandshakeTimeout;
	// negative counts: unlimited. The server sets gRPC's ConnectionTimeout
	// to HandshakeTimeout.
	MaxHandshakes, MaxHandshakesPerAddr, MaxQueuedHandshakesPerAddr int
	HandshakeTimeout                                                time.Duration
	// StallTimeout ends a read stream whose client takes no message for
	// this long (default DefaultStallTimeout).
	StallTimeout time.Duration
}

func (o *Options) defaults() {
	if o.AppendBurst <= 0 {
		o.AppendBurst = max(1, int(o.AppendRate))
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.MaxStreamsPerIdentity == 0 {
		o.MaxStreamsPerIdentity = DefaultMaxStreamsPerIdentity
	}
	if o.MaxConnsPerIdentity == 0 {
		o.MaxConnsPerIdentity = DefaultMaxConnsPerIdentity
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.MaxReadsPerIdentity, DefaultMaxReadsPerIdentity)
	def(&o.MaxQueuedReadsPerIdentity, DefaultMaxQueuedReadsPerIdentity)
	def(&o.MaxReadsPerParty, DefaultMaxReadsPerParty)
	def(&o.MaxQueuedReadsPerParty, DefaultMaxQueuedReadsPerParty)
	def(&o.MaxReads, DefaultMaxReads())
	if o.ReadRatePerParty == 0 {
		o.ReadRatePerParty = DefaultReadRatePerParty
	}
	def(&o.MaxHandshakes, DefaultMaxHandshakes)
	def(&o.MaxHandshakesPerAddr, DefaultMaxHandshakesPerAddr)
	def(&o.MaxQueuedHandshakesPerAddr, DefaultMaxQueuedHandshakesPerAddr)
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
}

// DefaultMaxReads is the default Options.MaxReads: half the CPUs, at
// least one, so that paged reads leave appends the other half.
func DefaultMaxReads() int { return max(1, runtime.NumCPU()/2) }

// appendLimiter is a token bucket per identity, for the go-grpc-middleware
// ratelimit interceptor. It runs after authentication, so the caller is
// known; other identities are unaffected by one identity's burst.
//
// A party can mint identities from its own CA at will, so the buckets are
// kept in an LRU of limiterCacheSize: the bucket dropped is the one used
// least recently, and a bucket idle for a second is full again anyway, so
// dropping it forgets nothing.
type appendLimiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	by    *simplelru.LRU[string, *rate.Limiter]
}

// limiterCacheSize bounds the identities with a rate-limit bucket.
var limiterCacheSize = 4096

func newAppendLimiter(perSecond float64, burst int) *appendLimiter {
	by, err := simplelru.NewLRU[string, *rate.Limiter](limiterCacheSize, nil)
	if err != nil {
		panic(err) // only for a size ≤ 0
	}
	return &appendLimiter{limit: rate.Limit(perSecond), burst: burst, by: by}
}

// Limit refuses an append beyond the caller's rate, saying when to retry.
func (a *appendLimiter) Limit(ctx context.Context) error {
	c, ok := CallerFrom(ctx)
	if !ok {
		return nil
	}
	a.mu.Lock()
	lim, ok := a.by.Get(c.ID.URI())
	if !ok {
		lim = rate.NewLimiter(a.limit, a.burst)
		a.by.Add(c.ID.URI(), lim)
	}
	a.mu.Unlock()
	r := lim.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return fmt.Errorf("rate limit of %g appends/s for %s exceeded; retry in %s", float64(a.limit), c.ID, d.Round(time.Millisecond))
	}
	return nil
}

// isAppend selects the Append RPC for the rate limiter.
func isAppend(_ context.Context, c interceptors.CallMeta) bool {
	return c.FullMethod() == mvmv1.ExchangeService_Append_FullMethodName
}

// defaultDeadline gives unary calls without a deadline one, so no call can
// hold server resources forever.
func defaultDeadline(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return handler(ctx, req)
	}
}
