package workflow

import "errors"

// Per-package bounds (DESIGN invariant 9: no party can hurt the others).
// They are rules of the workflow, so the server refuses and the auditor
// re-derives exactly the same entries; a refusal wraps [ErrBound].
//
// They also keep a package's state small: what Apply copies on every entry
// (open requests, findings, the per-party counts) is bounded by them, not
// by the package's history, and a package's history is bounded in entries.
const (
	// MaxOpenRequests bounds the unanswered requests for information on a
	// package: the responder asks again once the submitter has answered.
	MaxOpenRequests = 16
	// MaxEntriesPerParty bounds the entries one party adds to one package,
	// the submission included. Each party has its own allowance, so no
	// party can use up another's; a package holds at most this many
	// entries per party of the agreement.
	MaxEntriesPerParty = 5_000
	// MaxFindings bounds the verification findings on a package.
	MaxFindings = 64
)

// ErrBound: the entry would take a package past one of its bounds
// (MaxOpenRequests, MaxEntriesPerParty, MaxFindings). Answer what is open,
// or start a new package.
var ErrBound = errors.New("package bound reached")
