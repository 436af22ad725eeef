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

// NotPartyError is the refusal of a message about a package whose author's
// party is not a party to it (not its submitter, not its responder). It
// wraps ErrPermission and says so in full, for the auditor; the server
// answers it as [Missing] answers a package that does not exist, so that a
// party cannot learn from its appends which packages of others exist.
type NotPartyError struct {
	ID  string // the package
	err error
}

func (e *NotPartyError) Error() string { return e.err.Error() }
func (e *NotPartyError) Unwrap() error { return e.err }

// Missing is the refusal of a message about package id, which does not
// exist.
func Missing(id string) error { return missing(id) }

func missing(id string) error { return refuse(ErrNotFound, "package %q does not exist", id) }

func refuse(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}
