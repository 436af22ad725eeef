package service

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// AppendStream appends the envelopes of a stream one at a time and answers
// each, in order, with its receipt or with the refusal a unary Append
// would have returned, after the same checks: the caller's certificate
// again under the agreement and CRLs in force (a stream may outlive a
// revocation), the rate limit, revoked co-signers, the limits and the
// ledger. A refusal is logged and the stream goes on; only the caller's
// authentication or a broken stream ends it.
func (s *Service) AppendStream(stream grpc.BidiStreamingServer[mvmv1.AppendStreamRequest, mvmv1.AppendStreamResponse]) error {
	ctx := stream.Context()
	caller, ok := CallerFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "a client certificate is required")
	}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, _, err := s.Authenticate(caller.Certificate, caller.intermediates, s.now()); err != nil {
			return status.Error(codes.Unauthenticated, err.Error())
		}
		resp, err := s.appendOne(ctx, req.Envelope)
		out := &mvmv1.AppendStreamResponse{Result: resp}
		if err != nil {
			st := status.Convert(err)
			out.Code, out.Message = int32(st.Code()), st.Message()
			s.log.Log(ctx, slog.Level(callLevel(st.Code())), "append refused", "caller", caller.ID.String(),
				"grpc.code", st.Code().String(), "grpc.error", st.Message(), "stream", true)
		}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
}

// appendOne is one append of a stream: the checks the unary Append's
// interceptors make, then Append itself.
func (s *Service) appendOne(ctx context.Context, env []byte) (*mvmv1.AppendResponse, error) {
	if s.limiter != nil {
		if err := s.limiter.Limit(ctx); err != nil {
			return nil, status.Error(codes.ResourceExhausted, err.Error())
		}
	}
	if err := s.checkRevokedSigners(env); err != nil {
		return nil, err
	}
	return s.Append(ctx, &mvmv1.AppendRequest{Envelope: env})
}
