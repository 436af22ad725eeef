package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestLimiter: a key has at most max held and queue waiting; the next is
// refused at once with ResourceExhausted naming the limit and its flags;
// a waiter that gives up gets its call's end; a freed slot goes to a
// waiter; other keys are not held up; a key with nothing in flight
// leaves no entry behind.
func TestLimiter(t *testing.T) {
	ctx := context.Background()
	expired := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	wantErr := func(err error, code codes.Code, substrs ...string) {
		t.Helper()
		if got := status.Code(err); got != code {
			t.Fatalf("got %v (%v), want %v", got, err, code)
		}
		for _, s := range substrs {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q does not say %q", err, s)
			}
		}
	}
	t.Run("no queue", func(t *testing.T) {
		l := newLimiter(limit{what: "read streams open", per: "identity", flag: "--max-x", max: 2, advice: "end one first"})
		r1, err := l.acquire(ctx, "a", "A")
		if err != nil {
			t.Fatal(err)
		}
		r2, err := l.acquire(expired(), "a", "A")
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.acquire(expired(), "a", "A") // a limit without a queue refuses, it never waits
		wantErr(err, codes.ResourceExhausted, "A has 2 read streams open, the limit per identity (server --max-x): end one first")
		rb, err := l.acquire(ctx, "b", "B")
		if err != nil {
			t.Fatalf("another key was refused: %v", err)
		}
		r1()
		r1() // idempotent: it must not free a slot it does not hold
		r3, err := l.acquire(ctx, "a", "A")
		if err != nil {
			t.Fatalf("after a release: %v", err)
		}
		if _, err := l.acquire(expired(), "a", "A"); err == nil {
			t.Fatal("a release called twice freed two slots")
		}
		r2()
		r3()
		rb()
		if n := l.held(); n != 0 {
			t.Errorf("%d keys left with nothing in flight", n)
		}
	})
	t.Run("queue", func(t *testing.T) {
		l := newLimiter(limit{what: "reads in progress", per: "party", flag: "--max-y", max: 1, queue: 1, queueFlag: "--max-queued-y", advice: "retry"})
		r1, err := l.acquire(ctx, "a", "party a")
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.acquire(expired(), "a", "party a")
		wantErr(err, codes.DeadlineExceeded, "party a had 1 reads in progress, the limit per party (server --max-y), until the call ended")
		gone, cancel := context.WithCancel(ctx)
		cancel()
		_, err = l.acquire(gone, "a", "party a")
		wantErr(err, codes.Canceled)
		got := make(chan error, 1)
		var r2 func()
		go func() {
			var err error
			r2, err = l.acquire(ctx, "a", "party a")
			got <- err
		}()
		deadline := time.Now().Add(5 * time.Second)
		for l.users("a") < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		_, err = l.acquire(expired(), "a", "party a")
		wantErr(err, codes.ResourceExhausted, "party a has 1 reads in progress and 1 waiting, the limit per party (server --max-y, --max-queued-y): retry")
		select {
		case err := <-got:
			t.Fatalf("the waiter went on before the slot was freed (%v)", err)
		case <-time.After(20 * time.Millisecond):
		}
		r1()
		if err := <-got; err != nil {
			t.Fatalf("the waiter did not get the freed slot: %v", err)
		}
		r2()
		if n := l.held(); n != 0 {
			t.Errorf("%d keys left with nothing in flight", n)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		l := newLimiter(limit{what: "x", max: -1})
		for range 100 {
			if _, err := l.acquire(ctx, "a", "a"); err != nil {
				t.Fatal(err)
			}
		}
	})
}
