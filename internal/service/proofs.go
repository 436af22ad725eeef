package service

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// GetCheckpoint returns the latest signed checkpoint.
func (s *Service) GetCheckpoint(ctx context.Context, _ *mvmv1.GetCheckpointRequest) (*mvmv1.GetCheckpointResponse, error) {
	return &mvmv1.GetCheckpointResponse{Checkpoint: s.l.Head().Checkpoint}, nil
}

// GetInclusionProof proves entry index is in the tree of size size.
func (s *Service) GetInclusionProof(ctx context.Context, req *mvmv1.GetInclusionProofRequest) (*mvmv1.GetInclusionProofResponse, error) {
	size := s.l.Head().Size
	if req.Size == 0 || req.Size > size || req.Index >= req.Size {
		return nil, status.Errorf(codes.OutOfRange, "no inclusion proof for index %d in size %d (log size %d)", req.Index, req.Size, size)
	}
	hashes, err := tlog.InclusionProof(s.l.Store(), req.Index, req.Size)
	if err != nil {
		return nil, toStatus(err)
	}
	return &mvmv1.GetInclusionProofResponse{Hashes: hashes}, nil
}

// GetConsistencyProof proves the tree of size from is a prefix of size to.
func (s *Service) GetConsistencyProof(ctx context.Context, req *mvmv1.GetConsistencyProofRequest) (*mvmv1.GetConsistencyProofResponse, error) {
	size := s.l.Head().Size
	if req.From > req.To || req.To > size {
		return nil, status.Errorf(codes.OutOfRange, "no consistency proof from %d to %d (log size %d)", req.From, req.To, size)
	}
	hashes, err := tlog.ConsistencyProof(s.l.Store(), req.From, req.To)
	if err != nil {
		return nil, toStatus(err)
	}
	return &mvmv1.GetConsistencyProofResponse{Hashes: hashes}, nil
}
