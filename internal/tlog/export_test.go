package tlog

import "fmt"

// NewReceipt, used by the tests only (the server builds receipts with a
// ReceiptBuilder per group commit), is the receipt of one entry, checked
// to round-trip through decodeReceipt.
//
// It encodes a C2SP tlog-proof receipt for the leaf at index:
//
//	c2sp.org/tlog-proof@v1
//	extra <base64 leaf>
//	index <index>
//	<base64 proof hash>...
//	<blank line>
//	<signed checkpoint>
//
// signedCheckpoint must carry exactly one signature (the log's) and be
// canonical. NewReceipt cannot check that signature (it has no key), but it
// checks everything else VerifyReceipt will: index < size, the inclusion of
// LeafHash(leaf) against the checkpoint's root, and that the output parses
// back to the same bytes. A nil leaf is encoded as an empty one.
func NewReceipt(index uint64, proof [][]byte, signedCheckpoint []byte, leaf []byte) ([]byte, error) {
	b, err := NewReceiptBuilder(signedCheckpoint)
	if err != nil {
		return nil, err
	}
	out, err := b.Receipt(index, proof, leaf)
	if err != nil {
		return nil, err
	}
	if _, err := decodeReceipt(out); err != nil {
		return nil, fmt.Errorf("receipt for index %d does not round-trip: %w", index, err)
	}
	return out, nil
}
