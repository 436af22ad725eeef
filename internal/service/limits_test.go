package service_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func pkg(at time.Time) *mvmv1.TargetPackage {
	return &mvmv1.TargetPackage{
		Header:    &mvmv1.Header{MessageId: mvmclient.NewMessageID(), AuthoredAt: timestamppb.New(at)},
		Locations: []*mvmv1.Location{{Lat: 1, Lon: 2}},
	}
}

// TestRateLimit: a burst past an identity's limit is refused with
// ResourceExhausted and a retry hint; another identity is unaffected, and
// after waiting the first may append again.
func TestRateLimit(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) {
		c.Limits.AppendRate = 5
		c.Limits.AppendBurst = 5
	})
	pk := env.Client(testenv.Submitter)
	af := env.Client(testenv.Responder)
	ctx := context.Background()

	var mu sync.Mutex
	codesSeen := map[codes.Code]int{}
	var hint string
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := pk.Append(ctx, pkg(time.Now()))
			mu.Lock()
			defer mu.Unlock()
			codesSeen[status.Code(err)]++
			if status.Code(err) == codes.ResourceExhausted {
				hint = status.Convert(err).Message()
			}
		}()
	}
	wg.Wait()
	if codesSeen[codes.OK] < 5 || codesSeen[codes.OK] > 6 || codesSeen[codes.ResourceExhausted] < 6 {
		t.Fatalf("12 appends at a burst of 5: got %v, want 5 (or 6) OK and the rest ResourceExhausted", codesSeen)
	}
	if !strings.Contains(hint, "rate limit of 5 appends/s for pk/pk-liaison exceeded; retry in") {
		t.Errorf("refusal %q does not state the limit and a retry hint", hint)
	}
	// The responder has its own bucket: a package exists to acknowledge.
	var id string
	for time.Sleep(300 * time.Millisecond); id == ""; time.Sleep(200 * time.Millisecond) {
		tp := pkg(time.Now())
		if _, err := pk.Append(ctx, tp); err == nil {
			id = tp.Header.MessageId
		} else if status.Code(err) != codes.ResourceExhausted {
			t.Fatal(err)
		}
	}
	if _, err := af.Append(ctx, &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id}); err != nil {
		t.Fatalf("another identity while pk is limited: %v", err)
	}
}

// TestClockSkew: an author timestamp beyond the agreement's skew (5 minutes
// in the dev agreement) is refused with the skew stated; within it, accepted.
func TestClockSkew(t *testing.T) {
	env := testenv.New(t)
	pk := env.Client(testenv.Submitter)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		offset time.Duration
		want   codes.Code
		msg    string
	}{
		{"now", 0, codes.OK, ""},
		{"4m ahead", 4 * time.Minute, codes.OK, ""},
		{"4m behind", -4 * time.Minute, codes.OK, ""},
		{"6m ahead", 6 * time.Minute, codes.InvalidArgument, "ahead of the receive time"},
		{"1h behind", -time.Hour, codes.InvalidArgument, "the agreement allows at most 5m0s of skew"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Server.Ledger().Head().Size
			_, err := pk.Append(ctx, pkg(time.Now().Add(tc.offset)))
			if got := status.Code(err); got != tc.want {
				t.Fatalf("got %v (%v), want %v", got, err, tc.want)
			}
			if tc.msg != "" {
				if m := status.Convert(err).Message(); !strings.Contains(m, "header.authored_at") || !strings.Contains(m, tc.msg) {
					t.Errorf("message %q, want the field and %q", m, tc.msg)
				}
				if after := env.Server.Ledger().Head().Size; after != before {
					t.Errorf("refused append changed the log size from %d to %d", before, after)
				}
			}
		})
	}
}
