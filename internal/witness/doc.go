// Package witness speaks C2SP tlog-witness (https://c2sp.org/tlog-witness):
// the log side, which pushes each new checkpoint to the witnesses the
// agreement trusts and stores the cosignatures they return, and the witness
// side, an http.Handler that cosigns a checkpoint only after checking it.
//
// Trust and reachability are separate. The agreement says who counts (a
// witness's name and cosignature/v1 verifier key, see
// agreement.Agreement.Witnesses); the primary's configuration says where to
// reach it ([Target], `server --witness NAME=URL`).
//
// # Log side
//
// [Client.AddCheckpoint] is one add-checkpoint request. It returns the
// witness's cosignature lines only once each verifies, under the witness's
// key, on the very checkpoint sent; lines from other keys are ignored (the
// protocol says so); a response with none is an error. A 409 becomes a
// [*ConflictError] carrying the witness's size; 403, 404, 422 and others
// wrap [ErrForbidden], [ErrUnknownLog], [ErrInconsistent] and [ErrStatus].
//
// [Pusher] drives one witness: at most one request in flight, always the
// latest checkpoint (the ones in between are skipped, latest wins), a 409
// answered by retrying from the witness's size, a 409 to the witness's own
// size (it holds another checkpoint of that size: a fork) reported as
// [ErrFork], every failure logged (a fork, a 422 or a bad cosignature at
// error level), counted and retried with exponential backoff. It runs beside the log's
// writer, never on its path: an append never waits for a witness.
//
// # Witness side
//
// [Handler] serves POST /add-checkpoint for one log. It cosigns a checkpoint
// only if the log key signed it, the old size is the size it last cosigned
// (else 409 with that size), the consistency proof from its saved
// checkpoint verifies (else 422), its owner's hook agrees ([Handler.Allow],
// e.g. a mediator node that has not verified that far: 503), and the new
// checkpoint is durably saved ([State]) — the check and the save under one
// lock, so it never cosigns two inconsistent checkpoints nor goes back.
// When a request proves that the log signed a checkpoint inconsistent with
// the one it holds (same size, another root; or a consistency proof that
// reproduces the new root and gives another at the held size), it hands
// [Handler.OnFork] a fork proof (internal/forkproof) besides refusing.
package witness
