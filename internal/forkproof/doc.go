// Package forkproof turns a split view into evidence: a fork proof is two
// checkpoints signed by the log key that no append-only log can have both
// signed, with the Merkle hashes that show it, in a small text file that
// anyone holding the pinned log key checks offline ([Verify], `client
// verify-fork FILE`).
//
// Most callers need [Make] (build and check a proof from what they hold),
// [Proof.Marshal] / [Parse] (the file) and [Verify]. A holder of a verified
// tree (a mediator node) compares another checkpoint with its own through
// [Against], which proves a rollback too, from its own nodes.
//
// # What is provable offline, exactly
//
// A log signs (m, root_m) and (n, root_n), m <= n. It claims that the tree
// of size m is the prefix of the tree of size n. Under the collision
// resistance of SHA-256 a root commits to the value of every node of its
// tree (two different node values at one position under one root are a
// collision), so the claim is refuted, and the two signatures prove a fork,
// exactly in these cases:
//
//   - m == n and root_m != root_n: one size, two trees. No hashes needed.
//
//   - 0 < m < n and hashes H form a consistency proof from m to n in full
//     form (below) with which the RFC 6962 / RFC 9162 verification chain
//     computes root_n exactly, but computes a root of the first m leaves
//     h_m != root_m. The chain that gives root_n uses every hash in H at
//     fixed positions, so every tree of n leaves whose root is root_n has
//     exactly these nodes there; the nodes that give h_m are among them,
//     so the first m leaves of any such tree hash to h_m, not to the
//     root_m the log signed for them.
//
// A consistency proof that merely fails to verify proves nothing: anyone
// can write a wrong hash. That is why the proof must reproduce the larger
// checkpoint's root, and differ only at the smaller one. The proof need
// not come from the log nor be signed: its hashes are bound by root_n, and
// whoever holds the larger tree's leaves or nodes can compute it (a client
// that read the log up to n, a mediator node holding its copy).
//
// Full form: the standard proof (RFC 9162 section 2.1.4, what
// transparency-dev/merkle builds and C2SP tlog-witness carries) starts with
// the root of the largest perfect subtree ending at m, except when m is a
// power of two: then that subtree is the whole size-m tree, the verifier
// is assumed to know its root, and the proof leaves it out. Seeding the
// chain with root_m would make h_m == root_m by construction, so nothing
// could be shown. The full form always includes that node first: for m not
// a power of two it is the standard proof unchanged (a log's own failing
// proof is a fork proof as it stands when it reproduces root_n); for m a
// power of two it is the node [0, m) of the size-n tree followed by the
// standard proof ([ConsistencyProof] and [Collector] build it).
//
// Not provable: a checkpoint of size 0 (its root is fixed); a smaller
// checkpoint seen after a larger one (a rollback) by someone who holds only
// the larger checkpoint and not its tree's nodes — it is refused, but the
// proof waits until someone holding the larger tree (a node) or a later
// larger checkpoint of the new branch supplies the hashes; a log that
// refuses to serve anything at all.
//
// # Checks
//
// [Verify] returns nil only if both checkpoints open under the pinned log
// key (tlog.OpenCheckpoint: the log's signature, the key's origin, the
// canonical body), and the rule above holds. Cosignature lines on either
// checkpoint are carried but not needed.
//
// [Against] opens both checkpoints it compares; a holder that compares
// many with the one it holds (a mediator node) opens each once
// (tlog.OpenCheckpoint) and calls [AgainstOpened], which verifies no
// signature again and returns the fork with its proof.
//
// # File format (version 1)
//
//	mvm-exchange fork proof v1
//	sizes M N
//	<base64 hash>            (the full-form proof, one a line; none if M == N)
//
//	<signed checkpoint of size M>
//
//	<signed checkpoint of size N>
//
// Each signed checkpoint is the signed note as the log served it (its text,
// an empty line, its signature lines). [Parse] accepts exactly what
// [Proof.Marshal] writes.
package forkproof
