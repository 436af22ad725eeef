package service_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/store"
)

// A store commit that fails is answered Unavailable over the wire, which
// mvmclient retries with the same bytes (Transient), saying nothing was
// logged and retrying is safe; the log stays as it was, the server keeps
// serving, and the same envelope sent once the disk recovers is logged as
// a new entry, not a duplicate.
func TestFailedCommitIsUnavailable(t *testing.T) {
	var failing atomic.Bool
	f := newFixture(t, func(c *server.Config) {
		c.Commit = func(b *store.Batch, commit func(*store.Batch) error) error {
			if failing.Load() {
				return errors.New("disk on fire")
			}
			return commit(b)
		}
	})
	before := f.size(t)
	env, err := f.pk().Seal(targetPackage(loc(34, 71)))
	if err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	_, err = f.pk().AppendSealed(ctxT(t), env)
	wantCode(t, err, codes.Unavailable, "nothing of its batch was logged", "retrying is safe", "disk on fire")
	if !mvmclient.Transient(err) {
		t.Errorf("a failed commit is not retried by the client: %v", err)
	}
	f.wantSize(t, before)

	failing.Store(false)
	resp, err := f.pk().AppendSealed(ctxT(t), env)
	if err != nil {
		t.Fatalf("the same envelope once the disk recovers: %v", err)
	}
	if resp.Duplicate || resp.Receipt.Index != before {
		t.Fatalf("the same envelope once the disk recovers: entry %d (duplicate %v), want a new entry at %d", resp.Receipt.Index, resp.Duplicate, before)
	}
	f.verifyReceipt(t, resp.Receipt)
	f.wantSize(t, before+1)
}
