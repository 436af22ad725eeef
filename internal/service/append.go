package service

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// MaxEnvelopeBytes bounds one appended envelope. The largest valid payload
// (limits in package message) is under 16 KiB; receipts carry the whole leaf
// on one line, which the C2SP tlog-proof parser caps at tlog.MaxReceiptLeafSize.
const MaxEnvelopeBytes = 32 << 10

// Append logs one signed envelope and returns its receipt.
func (s *Service) Append(ctx context.Context, req *mvmv1.AppendRequest) (*mvmv1.AppendResponse, error) {
	caller, _ := CallerFrom(ctx)
	if len(req.Envelope) == 0 {
		return nil, status.Error(codes.InvalidArgument, "envelope: is required")
	}
	if len(req.Envelope) > MaxEnvelopeBytes {
		return nil, status.Errorf(codes.ResourceExhausted, "envelope: %d bytes, at most %d", len(req.Envelope), MaxEnvelopeBytes)
	}
	if err := s.checkEvidenceStored(ctx, req.Envelope); err != nil {
		return nil, err
	}
	res, err := s.l.Append(ctx, req.Envelope, caller.Certificate)
	if err != nil {
		return nil, toStatus(err)
	}
	receipt, err := s.receipt(res)
	if err != nil {
		return nil, toStatus(err)
	}
	return &mvmv1.AppendResponse{Receipt: receipt, Duplicate: res.Duplicate}, nil
}

// receipt builds the C2SP tlog-proof for a committed entry. It runs on the
// caller's goroutine, after the commit, from the batch's nodes in memory or
// else from committed nodes.
func (s *Service) receipt(res *ledger.Result) (*mvmv1.Receipt, error) {
	var nodes tlog.NodeReader = s.l.Store()
	if res.Nodes != nil {
		nodes = res.Nodes
	}
	proof, err := tlog.InclusionProof(nodes, res.Index, res.Size)
	if err != nil {
		return nil, err
	}
	b := res.Receipts
	if b == nil {
		if b, err = tlog.NewReceiptBuilder(res.Checkpoint); err != nil {
			return nil, err
		}
	}
	text, err := b.Receipt(res.Index, proof, res.Leaf)
	if err != nil {
		return nil, err
	}
	return &mvmv1.Receipt{Index: res.Index, ReceivedAt: timestamppb.New(res.ReceivedAt), TlogProof: text}, nil
}
