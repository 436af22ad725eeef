package service

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReadSlots: an identity has at most max reads worked on at once, the
// next waits (and gives up at its deadline), other identities are not held
// up, and an identity with nothing in flight leaves no entry behind.
func TestReadSlots(t *testing.T) {
	r := newReadSlots(1)
	ctx := context.Background()
	if err := r.acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := r.acquire(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second read of one identity: %v, want it to wait until its deadline", err)
	}
	if err := r.acquire(ctx, "b"); err != nil {
		t.Fatalf("another identity was held up: %v", err)
	}
	got := make(chan error, 1)
	go func() { got <- r.acquire(ctx, "a") }()
	select {
	case err := <-got:
		t.Fatalf("the waiting read went on before the slot was freed (%v)", err)
	case <-time.After(20 * time.Millisecond):
	}
	r.release("a")
	if err := <-got; err != nil {
		t.Fatalf("the waiting read did not get the freed slot: %v", err)
	}
	r.release("a")
	r.release("b")
	if n := len(r.by); n != 0 {
		t.Fatalf("%d identities left in the map with nothing in flight", n)
	}
}
