package service

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// limit is one named bound on what a holder (an identity, a party, the
// whole server) has at once: its read streams, its connections, its reads
// in progress. Every per-identity and per-party bound of the service is a
// limit enforced by a [limiter]; a caller beyond one is refused with
// ResourceExhausted naming it and the flag that sets it.
type limit struct {
	// what is counted, as the refusal says it: "read streams open".
	what string
	// per names the holder in the refusal: "identity", "party", "server".
	per string
	// flag sets max; max ≤ 0 is unlimited.
	flag string
	max  int
	// queue is how many more may wait for one of the max to free (they
	// cost no CPU while they wait, and give up when their call ends);
	// beyond it, refused. 0: none wait; negative: unbounded (a limit
	// whose waiters are already bounded by the limits taken before it).
	queue     int
	queueFlag string
	// advice tells the refused caller what to do.
	advice string
}

// limiter enforces a limit for each key (an identity's URI, a party's
// name). A key's entry goes when nobody holds or waits for one of its
// slots, so the map holds only keys with something in flight: minted
// identities leave nothing behind.
type limiter struct {
	limit
	mu sync.Mutex
	by map[string]*slots
}

type slots struct {
	ch    chan struct{} // one token per slot held
	users int           // holding or waiting
}

func newLimiter(l limit) *limiter { return &limiter{limit: l, by: map[string]*slots{}} }

// acquire takes one of key's slots, waiting in key's queue for one to
// free. It returns the function that gives the slot back (idempotent),
// or a *limitError: at once if key already has max held and queue
// waiting, or when ctx ends while it waits. who names key in the
// refusal. A limit with no queue never waits.
func (l *limiter) acquire(ctx context.Context, key, who string) (release func(), err error) {
	if l.max <= 0 {
		return func() {}, nil
	}
	l.mu.Lock()
	sl := l.by[key]
	if sl == nil {
		sl = &slots{ch: make(chan struct{}, l.max)}
		l.by[key] = sl
	}
	if l.queue >= 0 && sl.users >= l.max+l.queue {
		l.mu.Unlock()
		return nil, &limitError{limit: &l.limit, who: who}
	}
	sl.users++
	l.mu.Unlock()
	release = sync.OnceFunc(func() {
		<-sl.ch
		l.leave(key, sl)
	})
	select {
	case sl.ch <- struct{}{}:
		return release, nil
	default:
	}
	select {
	case sl.ch <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		l.leave(key, sl)
		return nil, &limitError{limit: &l.limit, who: who, waited: ctx.Err()}
	}
}

func (l *limiter) leave(key string, sl *slots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sl.users--; sl.users == 0 {
		delete(l.by, key)
	}
}

// users is how many hold or wait for key's slots (for tests).
func (l *limiter) users(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sl := l.by[key]; sl != nil {
		return sl.users
	}
	return 0
}

// held is how many keys have something in flight (for tests).
func (l *limiter) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.by)
}

// limitError is a refusal by a limit: ResourceExhausted when the holder
// had all it may have (and all it may queue), or the end of the call
// (DeadlineExceeded, Canceled) when it waited for a slot until then.
type limitError struct {
	*limit
	who    string
	waited error // the call's end, if it waited
}

func (e *limitError) Error() string {
	if e.waited != nil {
		return fmt.Sprintf("%s had %d %s, the limit per %s (server %s), until the call ended: %v", e.who, e.max, e.what, e.per, e.flag, e.waited)
	}
	if e.queue > 0 {
		return fmt.Sprintf("%s has %d %s and %d waiting, the limit per %s (server %s, %s): %s", e.who, e.max, e.what, e.queue, e.per, e.flag, e.queueFlag, e.advice)
	}
	return fmt.Sprintf("%s has %d %s, the limit per %s (server %s): %s", e.who, e.max, e.what, e.per, e.flag, e.advice)
}

// GRPCStatus makes the refusal a gRPC status.
func (e *limitError) GRPCStatus() *status.Status {
	code := codes.ResourceExhausted
	switch {
	case errors.Is(e.waited, context.Canceled):
		code = codes.Canceled
	case e.waited != nil:
		code = codes.DeadlineExceeded
	}
	return status.New(code, e.Error())
}
