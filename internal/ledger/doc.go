// Package ledger is the server's log: it admits signed envelopes, runs them
// through the workflow reducer, and commits them in groups to the store with
// the Merkle tree nodes and a signed checkpoint.
//
// # Append path
//
// [Ledger.Append] runs the admission checks that need no state (envelope
// shape, payload validation, the peer's certificate under the agreement) on
// the caller's goroutine, so that work spreads over every core. The
// verifier goroutine then checks the signatures: while the writer commits
// it holds arrivals until 32 can be verified as one Ed25519 batch, and
// when the writer asks for its next batch it verifies what it holds and
// hands over everything verified; forged signatures are refused there.
// The single writer goroutine answers re-sent envelopes from the log,
// checks each author's clock against its own (receive times follow the
// clock but never go backwards: [entry.ReceiveTime]), applies the reducer
// in order, assigns indexes, extends the tree, signs one checkpoint for
// the whole batch and commits everything in one bbolt transaction with one
// fsync. Only then are the callers released with their index and the
// checkpoint: a receipt never precedes durability.
//
// # Guarantees
//   - A refused append changes nothing: the reducer works on copies, and a
//     failed commit discards the whole batch, tree and state included: every
//     append of it is answered with [ErrCommit] (retrying is safe), and the
//     writer's tree, package cache and the head advance only once the store
//     commit ([Config.Commit]) succeeded (the phases of commit.go).
//   - The same envelope sent twice (same author, same message id, same
//     bytes) yields the first entry's index; a different envelope under a
//     used message id is refused with [ErrDuplicateMessageID].
//   - Receive times never go backwards; a clock that reads earlier than
//     the last one (stepped back) holds them there, with a warning, and
//     does not refuse honest appends ([entry.CheckClock] judges authors
//     against the clock).
//   - Checkpoints are signed only over trees extended from the committed
//     one, and a checkpoint for a size is never replaced by another.
//   - Start-up reads O(log n) tree nodes and the agreements; it does not
//     replay the log. Package state is rebuilt lazily from the package's
//     own entries.
package ledger
