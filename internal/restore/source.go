package restore

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Server is a [Source] over a server's read RPCs, called as a party
// identity (a node serves them as the primary does).
type Server struct{ C *mvmclient.Client }

// Checkpoint asks GetCheckpoint for the latest checkpoint.
func (s Server) Checkpoint(ctx context.Context) ([]byte, error) {
	resp, err := s.C.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{})
	if err != nil {
		return nil, err
	}
	return resp.Checkpoint, nil
}

// Checkpoints asks ListCheckpoints for a page. A source that does not
// serve it (an older server: Unimplemented) is refused with what to do.
func (s Server) Checkpoints(ctx context.Context, after, atMost uint64) ([][]byte, bool, error) {
	resp, err := s.C.API.ListCheckpoints(ctx, &mvmv1.ListCheckpointsRequest{After: after, AtMost: atMost})
	if status.Code(err) == codes.Unimplemented {
		return nil, false, fmt.Errorf("the source does not list its checkpoints (ListCheckpoints: %w): upgrade it, a restore copies every checkpoint", err)
	}
	if err != nil {
		return nil, false, err
	}
	return resp.Checkpoints, resp.More, nil
}

// Entries streams GetEntries.
func (s Server) Entries(ctx context.Context, start, end uint64, fn func(index uint64, leaf []byte) error) error {
	return s.C.Entries(ctx, start, end, fn)
}

// Certificate asks GetCertificates for one certificate.
func (s Server) Certificate(ctx context.Context, sha []byte) ([]byte, error) {
	return s.C.Certificate(ctx, sha)
}
