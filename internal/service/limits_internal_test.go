package service

import (
	"context"
	"fmt"
	"testing"

	"github.com/mvm-exchange/mvm/internal/identity"
)

// TestAppendLimiterBounded: identities minted without end (a party's own
// CA issues as many as it likes) keep at most limiterCacheSize buckets,
// and an identity whose bucket was dropped gets a full one again.
func TestAppendLimiterBounded(t *testing.T) {
	defer func(n int) { limiterCacheSize = n }(limiterCacheSize)
	limiterCacheSize = 16
	a := newAppendLimiter(1, 1)
	as := func(name string) context.Context {
		return context.WithValue(context.Background(), callerKey{}, &Caller{ID: identity.Identity{TrustDomain: "mvm.example", Party: "pk", Name: name}})
	}
	for i := range 500 {
		if err := a.Limit(as(fmt.Sprintf("minted-%d", i))); err != nil {
			t.Fatalf("identity %d's first append: %v", i, err)
		}
		if n := a.by.Len(); n > 16 {
			t.Fatalf("after %d identities %d buckets are kept, want at most 16", i+1, n)
		}
	}
	// The bucket of a recent identity is kept: its second append is refused.
	if err := a.Limit(as("minted-499")); err == nil {
		t.Error("a second append at once by an identity whose bucket is kept was allowed")
	}
}
