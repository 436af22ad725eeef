package service

import (
	"context"
	"fmt"

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
	// Compare compares a checkpoint a client holds with the node's copy
	// (node.Follower.CompareCheckpoint); from names the client's saved
	// state in the alarm. Its error is a gRPC status, or the node's own
	// failure (Internal).
	Compare func(from string, checkpoint []byte) (*mvmv1.CompareCheckpointResponse, error)
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

// maxComparedCheckpoint bounds the checkpoint a client hands to
// CompareCheckpoint: a checkpoint is a few lines, with a line per
// cosignature.
const maxComparedCheckpoint = 64 << 10

// CompareCheckpoint hands a node a checkpoint the caller holds (its
// --state), compared with the node's verified copy; a fork proven raises
// the node's alarm (node.Follower.CompareCheckpoint). It is a read: it
// holds the caller's read slots (isUnaryRead). A primary refuses it.
func (s *Service) CompareCheckpoint(ctx context.Context, req *mvmv1.CompareCheckpointRequest) (*mvmv1.CompareCheckpointResponse, error) {
	if s.node == nil || s.node.Compare == nil {
		return nil, status.Error(codes.FailedPrecondition,
			"this server is the primary: it signed the checkpoints it serves and compares none; hand a saved checkpoint to a mediator node (server --follow), which compares it with the copy it verified")
	}
	if len(req.Checkpoint) > maxComparedCheckpoint {
		return nil, status.Errorf(codes.InvalidArgument, "checkpoint of %d bytes: at most %d", len(req.Checkpoint), maxComparedCheckpoint)
	}
	caller, _ := CallerFrom(ctx)
	resp, err := s.node.Compare(fmt.Sprintf("client %s's saved state", caller.ID), req.Checkpoint)
	return resp, toStatus(err)
}
