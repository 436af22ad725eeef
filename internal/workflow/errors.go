package workflow

import (
	"errors"
	"fmt"
)

// Refusal kinds. Every error from Apply wraps exactly one of them.
var (
	// ErrPermission: the author's party or role may not send this message.
	ErrPermission = errors.New("permission denied")
	// ErrNotFound: the package (or request, dispute, finding) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPrecondition: the message is not allowed in the package's status.
	ErrPrecondition = errors.New("failed precondition")
	// ErrAlreadyExists: the thing the message creates exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalid: the message contradicts the agreement (e.g. unknown party).
	ErrInvalid = errors.New("invalid")
)

func refuse(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}
