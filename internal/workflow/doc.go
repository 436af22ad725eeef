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
//   - Refusals wrap one of [ErrPermission], [ErrNotFound], [ErrPrecondition],
//     [ErrAlreadyExists] or [ErrInvalid]; illegal transitions name the
//     current status.
//   - [Breaches] depends only on the packages and an as-of time, never on a
//     clock, so every auditor computes the same list.
//
// # Statuses
//
//	submitted → acknowledged ⇄ information-requested
//	acknowledged | information-requested → action-reported
//	action-reported | verified | contested → verified | contested
//	    (mediator findings: confirmed → verified, contradicted → contested,
//	    inconclusive leaves the status as it is)
//	acknowledged … contested → disputed → ruled (quorum of mediators)
//	submitted | acknowledged | information-requested → withdrawn
//
// # Rulings
//
// A ruling is final once the agreement's quorum of mediator parties signed
// the same decision (compared byte for byte). A mediator party's later
// ruling on the open dispute replaces its earlier one: only each party's
// latest decision counts, so a mediator cannot sign two contradictory
// decisions and leave either to be made final by one other mediator. The
// same decision signed again by the same party is refused.
//
// # Deadlines during a dispute
//
// While a dispute is open the responder cannot report action, and a
// dispute ends only with a ruling, after which no report is accepted
// either. So the action-report deadline stops when the dispute opens: the
// obligation ends then (its Met is the dispute's receive time), the
// lateness incurred before the dispute stays a breach, and none accrues
// while the mediators deliberate, however long. A pause that can never
// resume is this end. The evidence deadline keeps running: evidence is
// accepted in every status.
//
// Some entries leave the status unchanged: a further request for
// information, evidence, a ruling below the quorum. A withdrawal ends the
// package's open deadlines; a dispute ends an open action-report
// deadline (no report is accepted any more).
//
// # The evidence deadline
//
// An action report whose outcome needs evidence (a raid, a destroyed
// site, arrests) opens the evidence deadline. What meets it is the rule
// of the agreement in force when the entry is logged:
//
//   - With evidence_needs_files (every dev agreement gen-certs makes): an
//     EvidenceSubmission naming at least one stored file (its files). The
//     server logs such a submission only once every file it names is
//     stored whole, and files stay in the cleartext header of a sealed
//     submission, so every reader counts the same files. Digests alone,
//     in a submission or in the report, are logged as their author's
//     statement and leave the deadline open.
//   - Without it (agreements made before the rule): any
//     EvidenceSubmission, or a report citing evidence digests.
//
// The package is pure: no I/O, no gRPC, no storage, no clock.
package workflow
