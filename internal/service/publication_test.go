package service_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestAppendPublication: the server logs a report publication only at a
// checkpoint it had, the root of the log at that size, at or below its
// head; anything else is InvalidArgument and changes nothing. The
// reducer's refusals (role, month) come through as their codes.
func TestAppendPublication(t *testing.T) {
	e := testenv.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := e.Client(testenv.Mediator)
	if _, err := e.Client(testenv.Submitter).Append(ctx, &mvmv1.TargetPackage{Header: mvmclient.NewHeader(),
		Locations: []*mvmv1.Location{{Lat: 1, Lon: 2}}}); err != nil {
		t.Fatal(err)
	}
	root := func(size uint64) []byte {
		cp, err := tr.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{Size: size})
		if err != nil {
			t.Fatal(err)
		}
		text, _, _ := strings.Cut(string(cp.Checkpoint), "\n\n")
		var c tlog.Checkpoint
		if _, err := c.Unmarshal([]byte(text + "\n")); err != nil {
			t.Fatal(err)
		}
		return c.Hash
	}
	r1, r2 := root(1), root(2)
	for _, tc := range []struct {
		name  string
		as    string
		month string
		size  uint64
		root  []byte
		want  codes.Code
	}{
		{"a root the log never had", testenv.Mediator, "2026-01", 2, bytes.Repeat([]byte{7}, 32), codes.InvalidArgument},
		{"the root of another size", testenv.Mediator, "2026-01", 2, r1, codes.InvalidArgument},
		{"a size beyond the log", testenv.Mediator, "2026-01", 3, r2, codes.InvalidArgument},
		{"the submitter", testenv.Submitter, "2026-01", 2, r2, codes.PermissionDenied},
		{"a month not over", testenv.Mediator, time.Now().UTC().AddDate(0, 1, 0).Format("2006-01"), 2, r2, codes.FailedPrecondition},
		{"a bad month", testenv.Mediator, "2026-1", 2, r2, codes.InvalidArgument},
		{"the log's checkpoint of size 1", testenv.Mediator, "2026-01", 1, r1, codes.OK},
		{"the log's latest checkpoint", testenv.Mediator2, "2026-01", 2, r2, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Server.Ledger().Head().Size
			_, err := e.Client(tc.as).Append(ctx, &mvmv1.ReportPublication{Header: mvmclient.NewHeader(), Month: tc.month,
				ReportSha256: bytes.Repeat([]byte{1}, 32), CheckpointSize: tc.size, CheckpointRoot: tc.root})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("Append: got %v (%v), want %v", got, err, tc.want)
			}
			grew := e.Server.Ledger().Head().Size - before
			if want := uint64(map[bool]int{true: 1}[tc.want == codes.OK]); grew != want {
				t.Errorf("the log grew by %d, want %d", grew, want)
			}
		})
	}
}
