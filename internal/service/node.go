package service

import (
	"context"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Node makes the service a mediator node's (package node): it serves the
// reads of a copy of the primary's log, refuses every write, and answers
// GetStatus with the node's own status.
type Node struct {
	// Primary is the address of the primary the node follows: writes are
	// sent there.
	Primary string
	// Status reports the node's follower (role, sizes, alarm).
	Status func() *mvmv1.GetStatusResponse
}

// SetNode makes the service a node's; call it before serving.
func (s *Service) SetNode(n *Node) { s.node = n }

// writes are the calls that change what the server holds: a node refuses
// them all, naming the primary, where they belong.
var writes = map[string]bool{
	mvmv1.ExchangeService_Append_FullMethodName:         true,
	mvmv1.ExchangeService_AppendStream_FullMethodName:   true,
	mvmv1.ExchangeService_AddCosignature_FullMethodName: true,
	mvmv1.ExchangeService_UploadEvidence_FullMethodName: true,
}

func (s *Service) isWriteOnNode(_ context.Context, c interceptors.CallMeta) bool {
	return s.node != nil && writes[c.FullMethod()]
}

func (s *Service) refuseWrite() error {
	return status.Errorf(codes.FailedPrecondition,
		"this server is a mediator node, a read-only copy of the log: send writes to the primary at %s", s.node.Primary)
}

func (s *Service) refuseWriteUnary(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
	return nil, s.refuseWrite()
}

func (s *Service) refuseWriteStream(any, grpc.ServerStream, *grpc.StreamServerInfo, grpc.StreamHandler) error {
	return s.refuseWrite()
}

// GetStatus says whether this server is the primary or a node, and how far
// it has copied and verified the log.
func (s *Service) GetStatus(ctx context.Context, _ *mvmv1.GetStatusRequest) (*mvmv1.GetStatusResponse, error) {
	if s.node != nil {
		return s.node.Status(), nil
	}
	size := s.l.Head().Size
	return &mvmv1.GetStatusResponse{Role: "primary", Size: size, VerifiedSize: size}, nil
}
