package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/identity"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestReadSlots: an identity has at most max reads worked on at once, the
// next waits (and gives up at its deadline), other identities are not held
// up, and an identity with nothing in flight leaves no entry behind.
func TestReadSlots(t *testing.T) {
	r := newReadSlots(1)
	ctx := context.Background()
	a1, err := r.acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := r.acquire(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second read of one identity: %v, want it to wait until its deadline", err)
	}
	b, err := r.acquire(ctx, "b")
	if err != nil {
		t.Fatalf("another identity was held up: %v", err)
	}
	got := make(chan error, 1)
	var a2 *slots
	go func() {
		var err error
		a2, err = r.acquire(ctx, "a")
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the waiting read went on before the slot was freed (%v)", err)
	case <-time.After(20 * time.Millisecond):
	}
	r.release("a", a1)
	if err := <-got; err != nil {
		t.Fatalf("the waiting read did not get the freed slot: %v", err)
	}
	r.release("a", a2)
	r.release("b", b)
	if n := len(r.by); n != 0 {
		t.Fatalf("%d identities left in the map with nothing in flight", n)
	}
}

// TestLimitReads: the interceptor holds a second read of one identity
// until the first is answered, and one that cannot get a slot before its
// deadline gets DeadlineExceeded naming the flag; the reads it applies to
// are the paged ones.
func TestLimitReads(t *testing.T) {
	s := &Service{reads: newReadSlots(1)}
	ctx := context.WithValue(context.Background(), callerKey{}, &Caller{ID: identity.Identity{TrustDomain: "mvm.example", Party: "tr", Name: "tr-verifier"}})
	info := &grpc.UnaryServerInfo{FullMethod: mvmv1.ExchangeService_GetBreaches_FullMethodName}
	inFirst, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := s.limitReads(ctx, nil, info, func(context.Context, any) (any, error) {
			close(inFirst)
			<-release
			return nil, nil
		})
		first <- err
	}()
	<-inFirst
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := s.limitReads(short, nil, info, func(context.Context, any) (any, error) {
		t.Error("a second read ran while the identity's one slot was taken")
		return nil, nil
	})
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--max-reads-per-identity") {
		t.Errorf("second read: %v, want DeadlineExceeded naming --max-reads-per-identity", err)
	}
	gone, goneCancel := context.WithCancel(ctx)
	goneCancel()
	if _, err := s.limitReads(gone, nil, info, func(context.Context, any) (any, error) { return nil, nil }); status.Code(err) != codes.Canceled {
		t.Errorf("a read whose caller gave up while waiting: %v, want Canceled", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	ran := false
	if _, err := s.limitReads(ctx, nil, info, func(context.Context, any) (any, error) { ran = true; return nil, nil }); err != nil || !ran {
		t.Fatalf("a read after the slot was freed: ran %v, %v", ran, err)
	}
	for method, want := range map[string]bool{
		mvmv1.ExchangeService_ListPackages_FullMethodName:  true,
		mvmv1.ExchangeService_GetBreaches_FullMethodName:   true,
		mvmv1.ExchangeService_GetPackage_FullMethodName:    true,
		mvmv1.ExchangeService_Append_FullMethodName:        false,
		mvmv1.ExchangeService_GetCheckpoint_FullMethodName: false,
	} {
		if got := isUnaryRead(ctx, interceptors.NewServerCallMeta(method, nil, nil)); got != want {
			t.Errorf("isUnaryRead(%s) = %v, want %v", method, got, want)
		}
	}
}
