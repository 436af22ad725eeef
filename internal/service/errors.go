package service

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/workflow"
)

// codeOf maps the domain errors to gRPC codes. Order matters only where an
// error wraps two kinds; the first match wins.
var codeOf = []struct {
	err  error
	code codes.Code
}{
	{workflow.ErrPermission, codes.PermissionDenied},
	{entry.ErrNotPeer, codes.PermissionDenied},
	{agreement.ErrUntrusted, codes.PermissionDenied},
	{agreement.ErrUnsigned, codes.PermissionDenied},
	{identity.ErrBadIdentity, codes.PermissionDenied},
	{workflow.ErrNotFound, codes.NotFound},
	{store.ErrNotFound, codes.NotFound},
	{workflow.ErrPrecondition, codes.FailedPrecondition},
	{workflow.ErrAlreadyExists, codes.AlreadyExists},
	{ledger.ErrDuplicateMessageID, codes.AlreadyExists},
	{workflow.ErrInvalid, codes.InvalidArgument},
	{workflow.ErrBound, codes.ResourceExhausted},
	{message.ErrInvalid, codes.InvalidArgument},
	{message.ErrUnknownType, codes.InvalidArgument},
	{envelope.ErrMalformed, codes.InvalidArgument},
	{envelope.ErrBadSignature, codes.InvalidArgument},
	{envelope.ErrUnsupportedKey, codes.InvalidArgument},
	{agreement.ErrInvalid, codes.InvalidArgument},
	{ledger.ErrReplica, codes.FailedPrecondition},
	{ledger.ErrClosed, codes.Unavailable},
	{ledger.ErrCommit, codes.Unavailable},
	{ledger.ErrRetry, codes.Unavailable},
	{ledger.ErrNotReplicated, codes.Unavailable},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// toStatus turns a domain error into a gRPC status error with its message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if np := (*workflow.NotPartyError)(nil); errors.As(err, &np) {
		// Answered exactly as a package that does not exist (the same
		// code, the same words around it): an append must not tell a
		// party which packages of others exist.
		msg := strings.Replace(err.Error(), np.Error(), workflow.Missing(np.ID).Error(), 1)
		return status.Error(codes.NotFound, msg)
	}
	for _, m := range codeOf {
		if errors.Is(err, m.err) {
			return status.Error(m.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}
