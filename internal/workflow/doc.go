// Package workflow is the one reducer: the rules of the mechanism as a pure
// function from (agreement, package state, entry) to the next package state
// or a refusal.
//
// The server calls [Apply] to accept or refuse an append; the auditor calls
// the same [Apply] to re-derive every package from the raw log. Because both
// run this code, a status, a finding or a breach shown by the server can be
// recomputed by anyone holding the log.
//
// Guarantees:
//   - [Apply] never mutates its input: the returned *Package is a new value,
//     so a refused entry changes nothing.
//   - Refusals wrap one of [ErrPermission], [ErrNotFound], [ErrPrecondition]
//     or [ErrAlreadyExists]; illegal transitions name the current status.
//   - [Breaches] depends only on the packages and an as-of time, never on a
//     clock, so every auditor computes the same list.
//
// # Statuses
//
//	submitted → acknowledged ⇄ information-requested → action-reported
//	action-reported → verified | contested (by mediator findings)
//	acknowledged … contested → disputed → ruled (quorum of mediators)
//	submitted | acknowledged | information-requested → withdrawn
//
// The package is pure: no I/O, no gRPC, no storage, no clock.
package workflow
