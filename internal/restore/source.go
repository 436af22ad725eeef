package restore

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Server is a [Source] over a server's read RPCs, called as a party
// identity (a node serves them as the primary does).
type Server struct{ C *mvmclient.Client }

// Checkpoint asks GetCheckpoint for the latest checkpoint, or the latest
// witnessed one (NotFound there is no checkpoint: nil).
func (s Server) Checkpoint(ctx context.Context, witnessed bool) ([]byte, error) {
	resp, err := s.C.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{Witnessed: witnessed})
	if witnessed && status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return resp.Checkpoint, nil
}

// Entries streams GetEntries.
func (s Server) Entries(ctx context.Context, start, end uint64, fn func(index uint64, leaf []byte) error) error {
	return s.C.Entries(ctx, start, end, fn)
}

// Certificate asks GetCertificates for one certificate.
func (s Server) Certificate(ctx context.Context, sha []byte) ([]byte, error) {
	return s.C.Certificate(ctx, sha)
}
