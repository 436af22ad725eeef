package service

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/chunkcodec"
	"github.com/mvm-exchange/mvm/internal/store"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// GetAgreement returns the leaf of the agreement in force.
func (s *Service) GetAgreement(ctx context.Context, _ *mvmv1.GetAgreementRequest) (*mvmv1.GetAgreementResponse, error) {
	leaf, err := s.l.Store().Leaf(s.l.Head().Agreement.Index)
	if err != nil {
		return nil, toStatus(err)
	}
	return &mvmv1.GetAgreementResponse{Leaf: leaf}, nil
}

// GetEntries streams raw leaves [start, end), at most MaxMessageBytes of
// leaves a message (streams.go: bounded in bytes and in time).
func (s *Service) GetEntries(req *mvmv1.GetEntriesRequest, stream grpc.ServerStreamingServer[mvmv1.GetEntriesResponse]) error {
	size := s.l.Head().Size
	end := req.End
	if end == 0 {
		end = size
	}
	if req.Start > end || end > size {
		return status.Errorf(codes.OutOfRange, "entries [%d, %d) are not in a log of size %d", req.Start, end, size)
	}
	out := newStallSender(stream, s.opts.StallTimeout)
	defer out.close()
	var scratch [][]byte
	for next := req.Start; next < end; {
		m, n, err := entriesMessage(s.l.Store(), next, end, &scratch)
		if err != nil {
			return toStatus(err)
		}
		if err := out.sendEncoded(stream.Context(), m); err != nil {
			return s.streamEnded(err, "entries", next)
		}
		next += n
	}
	return nil
}

// entriesMessage encodes the message of the leaves from next (at most
// MaxMessageBytes of them, before end) inside the read transaction,
// straight from bbolt's bytes into one buffer of messageBuffers: each
// leaf is copied once, and nothing but the encoding outlives the call, so
// a blocked send holds only that. scratch is the array for the leaves'
// slices, reused message after message.
func entriesMessage(st *store.Store, next, end uint64, scratch *[][]byte) (*chunkcodec.Encoded, uint64, error) {
	var m *chunkcodec.Encoded
	var n uint64
	err := st.LeafRun(next, end, MaxMessageBytes-messageOverhead, leafOverhead, scratch, func(leaves [][]byte) error {
		m, n = chunkcodec.EncodeEntries(messageBuffers, next, leaves), uint64(len(leaves))
		return nil
	})
	return m, n, err
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
// It reads at most MaxMessageBytes of entries at a time, and a client that
// takes no entry for the stall timeout is dropped with the index to resume
// from (streams.go).
func (s *Service) Watch(req *mvmv1.WatchRequest, stream grpc.ServerStreamingServer[mvmv1.WatchResponse]) error {
	ctx := stream.Context()
	out := newStallSender(stream, s.opts.StallTimeout)
	defer out.close()
	next := req.From
	for {
		h := s.l.Head()
		if next > h.Size {
			return status.Errorf(codes.OutOfRange, "from %d is beyond the log size %d", next, h.Size)
		}
		for ; next < h.Size; next++ {
			m, err := s.watchMessage(out, next)
			if err != nil {
				return toStatus(err)
			}
			if err := out.send(ctx, m); err != nil {
				return s.streamEnded(err, "watch", next)
			}
		}
		select {
		case <-h.Changed():
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return status.Errorf(codes.Unavailable, "server is shutting down; resume from %d", next)
		}
	}
}

// watchMessage reads entry i and encodes it: one entry a message, read
// only when the last was sent (a batch read ahead would be held while the
// client does not read).
func (s *Service) watchMessage(out *stallSender, i uint64) (*grpc.PreparedMsg, error) {
	leaf, err := s.l.Store().Leaf(i)
	if err != nil {
		return nil, err
	}
	return out.prepare(&mvmv1.WatchResponse{Index: i, Leaf: leaf})
}
