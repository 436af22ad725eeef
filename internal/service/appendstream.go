package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

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
// stream or the server's shutdown (Unavailable: reopen the stream
// elsewhere or later) ends it.
func (s *Service) AppendStream(stream grpc.BidiStreamingServer[mvmv1.AppendStreamRequest, mvmv1.AppendStreamResponse]) error {
	ctx := stream.Context()
	caller, ok := CallerFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "a client certificate is required")
	}
	type received struct {
		req *mvmv1.AppendStreamRequest
		err error
	}
	// Recv blocks; it runs apart so that a shutdown ends an idle stream.
	// The channel holds one message: the reader waits for each answer.
	in := make(chan received, 1)
	go func() {
		for {
			req, err := stream.Recv()
			select {
			case in <- received{req, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		var r received
		select {
		case r = <-in:
		case <-s.stop:
			return status.Error(codes.Unavailable, "server is shutting down; reopen the stream")
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
		if errors.Is(r.err, io.EOF) {
			return nil
		}
		if r.err != nil {
			return r.err
		}
		if _, _, err := s.Authenticate(caller.Certificate, caller.intermediates, s.now()); err != nil {
			return status.Error(codes.Unauthenticated, err.Error())
		}
		resp, err := s.appendOne(ctx, r.req.Envelope)
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
