package tlog

import "errors"

// Sentinel errors. Functions in this package wrap them (errors.Is works) and
// add detail.
var (
	// ErrMalformed reports input that does not have the expected syntax or
	// sizes: a hash that is not 32 bytes, a non-canonical checkpoint or
	// receipt encoding, a malformed signature line.
	ErrMalformed = errors.New("tlog: malformed input")

	// ErrOutOfRange reports an index not below the tree size, or a
	// consistency proof request with from > to.
	ErrOutOfRange = errors.New("tlog: index or size out of range")

	// ErrNodeNotFound is what a NodeReader should wrap when a requested node
	// is not stored. This package passes reader errors through with %w.
	ErrNodeNotFound = errors.New("tlog: tree node not found")

	// ErrInvalidProof reports an inclusion or consistency proof that does not
	// verify.
	ErrInvalidProof = errors.New("tlog: invalid proof")

	// ErrInvalidSignature reports a signed note that does not carry a valid
	// signature of the pinned log key.
	ErrInvalidSignature = errors.New("tlog: invalid or missing log signature")

	// ErrOriginMismatch reports a checkpoint whose origin line is not the
	// pinned origin, or a log key whose name is not the origin.
	ErrOriginMismatch = errors.New("tlog: checkpoint origin mismatch")

	// ErrInvalidCosignature reports a cosignature line that does not verify
	// under the given cosigner key for the given checkpoint.
	ErrInvalidCosignature = errors.New("tlog: invalid cosignature")

	// ErrInvalidKey reports a signer or verifier key string that cannot be
	// used.
	ErrInvalidKey = errors.New("tlog: invalid key")

	// ErrTooManySignatures reports a note that would carry more signature
	// lines than golang.org/x/mod/sumdb/note.Open accepts (100).
	ErrTooManySignatures = errors.New("tlog: too many signatures on note")
)
