package service

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Read limits.
const (
	entriesPerMessage = 512
)

// GetAgreement returns the leaf of the agreement in force.
func (s *Service) GetAgreement(ctx context.Context, _ *mvmv1.GetAgreementRequest) (*mvmv1.GetAgreementResponse, error) {
	leaf, err := s.l.Store().Leaf(s.l.Head().Agreement.Index)
	if err != nil {
		return nil, toStatus(err)
	}
	return &mvmv1.GetAgreementResponse{Leaf: leaf}, nil
}

// GetEntries streams raw leaves [start, end).
func (s *Service) GetEntries(req *mvmv1.GetEntriesRequest, stream grpc.ServerStreamingServer[mvmv1.GetEntriesResponse]) error {
	size := s.l.Head().Size
	end := req.End
	if end == 0 {
		end = size
	}
	if req.Start > end || end > size {
		return status.Errorf(codes.OutOfRange, "entries [%d, %d) are not in a log of size %d", req.Start, end, size)
	}
	for next := req.Start; next < end; {
		leaves, err := s.l.Store().LeafRange(next, end, entriesPerMessage)
		if err == nil {
			err = stream.Send(&mvmv1.GetEntriesResponse{FirstIndex: next, Leaves: leaves})
		}
		if err != nil {
			return toStatus(err)
		}
		next += uint64(len(leaves))
	}
	return nil
}

// GetCertificates returns stored certificates by SHA-256.
func (s *Service) GetCertificates(ctx context.Context, req *mvmv1.GetCertificatesRequest) (*mvmv1.GetCertificatesResponse, error) {
	if len(req.Sha256) > 1024 {
		return nil, status.Error(codes.InvalidArgument, "sha256: at most 1024 fingerprints per call")
	}
	resp := &mvmv1.GetCertificatesResponse{}
	for _, fp := range req.Sha256 {
		der, err := s.l.Store().Certificate(fp)
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Certificates = append(resp.Certificates, der)
	}
	return resp, nil
}

// Watch streams entries from req.From on, then each new one as it commits.
// Resuming with From = last index seen + 1 gives no gap and no duplicate.
func (s *Service) Watch(req *mvmv1.WatchRequest, stream grpc.ServerStreamingServer[mvmv1.WatchResponse]) error {
	next := req.From
	for {
		h := s.l.Head()
		if next > h.Size {
			return status.Errorf(codes.OutOfRange, "from %d is beyond the log size %d", next, h.Size)
		}
		for next < h.Size {
			leaves, err := s.l.Store().LeafRange(next, h.Size, entriesPerMessage)
			if err != nil {
				return toStatus(err)
			}
			for _, leaf := range leaves {
				if err := stream.Send(&mvmv1.WatchResponse{Index: next, Leaf: leaf}); err != nil {
					return toStatus(err)
				}
				next++
			}
		}
		select {
		case <-h.Changed():
		case <-stream.Context().Done():
			return nil
		case <-s.stop:
			return status.Errorf(codes.Unavailable, "server is shutting down; resume from %d", next)
		}
	}
}
