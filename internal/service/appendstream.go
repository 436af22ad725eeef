package service

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// AppendStream appends the envelopes of a stream one at a time and answers
// each, in order, with its receipt or with the refusal a unary Append
// would have returned, after the same checks in the same order: the
// caller's certificate again under the agreement and CRLs in force (a
// stream may outlive a revocation), revoked co-signers, the rate limit,
// the limits and the ledger, within the unary call deadline. A refusal is
// logged and the stream goes on; the caller's authentication, a broken
// stream or the server's shutdown ends it: once the server is stopping,
// the next envelope is not taken and the stream ends with Unavailable
// (reopen it elsewhere or later). Recv is not raced against the shutdown
// (a goroutine per stream handing over each message cost ~10 % of the
// server's CPU per append), so an idle stream lasts until the server's
// stop deadline closes its connection.
func (s *Service) AppendStream(stream grpc.BidiStreamingServer[mvmv1.AppendStreamRequest, mvmv1.AppendStreamResponse]) error {
	ctx := stream.Context()
	caller, ok := CallerFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "a client certificate is required")
	}
	sends, release := s.streamSender(stream)
	defer release()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-s.stop:
			// Not taken: the client resends it elsewhere or later. An idle
			// stream ends when the server's stop deadline closes it.
			return status.Error(codes.Unavailable, "server is shutting down; reopen the stream")
		default:
		}
		if _, _, err := s.Authenticate(caller.Certificate, caller.intermediates, s.now()); err != nil {
			return status.Error(codes.Unauthenticated, err.Error())
		}
		resp, err := s.appendOne(ctx, req.Envelope)
		out := &mvmv1.AppendStreamResponse{Result: resp}
		if err != nil {
			st := status.Convert(err)
			out.Code, out.Message = int32(st.Code()), st.Message()
			s.logRefusedAppend(ctx, err, true)
		}
		if err := sends.send(out); err != nil {
			return err
		}
	}
}

// appendOne is one append of a stream: the checks the unary Append's
// interceptors make, in their order, then Append itself under the unary
// call deadline.
func (s *Service) appendOne(ctx context.Context, env []byte) (*mvmv1.AppendResponse, error) {
	if err := s.checkRevokedSigners(env); err != nil {
		return nil, err
	}
	if s.limiter != nil {
		if err := s.limiter.Limit(ctx); err != nil {
			// The words of the unary path's ratelimit interceptor.
			return nil, status.Error(codes.ResourceExhausted, fmt.Sprintf("%s is rejected by grpc_ratelimit middleware, please retry later. %s",
				mvmv1.ExchangeService_Append_FullMethodName, err))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	return s.Append(ctx, &mvmv1.AppendRequest{Envelope: env})
}
