// Package tlog is the pure Merkle-log layer of MVM Exchange: RFC 6962 tree
// hashing, inclusion and consistency proofs, C2SP tlog-checkpoint signed
// notes, C2SP tlog-proof receipts and C2SP tlog-cosignature (cosignature/v1)
// cosignatures. It does no I/O of its own: persisted tree nodes are read
// through the NodeReader interface, which the store implements.
//
// The hashing, proof and signed-note formats are those of
// github.com/transparency-dev/merkle, github.com/transparency-dev/formats and
// golang.org/x/mod/sumdb/note; this package only wires them together and adds
// the checks the system's invariants need.
//
// Guarantees:
//
//   - Tree hashing is RFC 6962 (SHA-256, 0x00 leaf prefix, 0x01 node prefix);
//     the root of the empty tree is SHA-256 of the empty string.
//   - Tree.Append reports every node that becomes a perfect subtree (the leaf
//     itself included) exactly once, so a store that persists everything the
//     visitor is given can serve every inclusion and consistency proof, and
//     NewTree can restore the writer's right edge by reading O(log n) nodes.
//   - InclusionProof and ConsistencyProof read only perfect-subtree nodes that
//     lie entirely inside [0, size): they never need a node the store would
//     not have had when the tree had that size.
//   - Every Verify* function fails (with an error wrapping one of the exported
//     sentinel errors) unless the cryptographic check succeeds; none of them
//     needs a server.
//   - A checkpoint is accepted only if it carries a valid signature of the
//     pinned log key, names the pinned origin, and has exactly the canonical
//     three-line body (origin, decimal size, base64 32-byte root hash) that
//     SignCheckpoint produces.
//   - A receipt is accepted only if it is byte-for-byte the canonical encoding
//     that a ReceiptBuilder produces: any changed, added or removed byte makes
//     VerifyReceipt fail. Its checkpoint carries the log signature only;
//     cosignatures travel separately.
//   - Cosignatures are counted per distinct cosigner name; duplicate lines,
//     lines from unknown keys and invalid lines are never counted.
//
// Tree is not safe for concurrent use; it is meant for the single writer.
// All other functions are safe for concurrent use.
package tlog
