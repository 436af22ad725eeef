package tlog

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/transparency-dev/formats/log"
	fproof "github.com/transparency-dev/formats/proof"
	"golang.org/x/mod/sumdb/note"
)

// MaxReceiptLeafSize is the largest leaf a receipt can carry. The "extra"
// line holding base64(leaf) must fit, with its newline, in the 64 KiB token
// limit of the bufio.Scanner that formats/proof.TLogProof.Unmarshal uses;
// longer lines make Unmarshal fail (with a misleading "missing required
// index" error).
const MaxReceiptLeafSize = (bufio.MaxScanTokenSize - len("extra ") - len("\n")) / 4 * 3

// Receipt is a verified C2SP tlog-proof receipt.
type Receipt struct {
	// Index is the index of the leaf in the log.
	Index uint64
	// Leaf is the complete leaf bytes, carried on the receipt's "extra" line.
	Leaf []byte
	// Proof is the inclusion proof of LeafHash(Leaf) at Index.
	Proof [][]byte
	// Checkpoint is the parsed, verified checkpoint the proof is against.
	Checkpoint log.Checkpoint
	// SignedCheckpoint is the checkpoint's signed note, as carried.
	SignedCheckpoint []byte
}

// ReceiptBuilder makes the receipts of many entries under one checkpoint,
// as a group commit does: the checkpoint is parsed and checked once.
type ReceiptBuilder struct {
	signed []byte
	cp     *log.Checkpoint
}

// NewReceiptBuilder checks signedCheckpoint: exactly one signature line
// (the log's, which it cannot check: it has no key), canonical encoding, a
// canonical checkpoint body. Its receipts are encoded as VerifyReceipt
// accepts them:
//
//	c2sp.org/tlog-proof@v1
//	extra <base64 leaf>
//	index <index>
//	<base64 proof hash>...
//	<blank line>
//	<signed checkpoint>
func NewReceiptBuilder(signedCheckpoint []byte) (*ReceiptBuilder, error) {
	n, err := parseNote(signedCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("receipt checkpoint: %w", err)
	}
	if err := checkReceiptNote(n, signedCheckpoint); err != nil {
		return nil, err
	}
	cp := &log.Checkpoint{}
	rest, err := cp.Unmarshal([]byte(n.Text))
	if err != nil || len(rest) != 0 || len(cp.Hash) != HashSize || !bytes.Equal(cp.Marshal(), []byte(n.Text)) {
		return nil, fmt.Errorf("%w: receipt checkpoint body is not a canonical checkpoint", ErrMalformed)
	}
	return &ReceiptBuilder{signed: signedCheckpoint, cp: cp}, nil
}

// Receipt encodes the receipt of leaf at index, after checking the
// inclusion proof against the checkpoint's root. Safe for concurrent use.
func (b *ReceiptBuilder) Receipt(index uint64, proof [][]byte, leaf []byte) ([]byte, error) {
	if len(leaf) > MaxReceiptLeafSize {
		return nil, fmt.Errorf("%w: leaf is %d bytes, a receipt can carry at most %d", ErrMalformed, len(leaf), MaxReceiptLeafSize)
	}
	if err := VerifyInclusion(LeafHash(leaf), index, b.cp.Size, proof, b.cp.Hash); err != nil {
		return nil, fmt.Errorf("receipt for index %d: %w", index, err)
	}
	if leaf == nil {
		leaf = []byte{}
	}
	return marshalTLogProof(index, proof, b.signed, leaf), nil
}

// tlogProofHeader is the first line of a C2SP tlog-proof.
const tlogProofHeader = "c2sp.org/tlog-proof@v1\n"

// marshalTLogProof encodes a C2SP tlog-proof exactly as
// formats/proof.TLogProof.Marshal does (TestMarshalTLogProofMatchesFormats
// pins that), into one buffer of the right size: Marshal formats each line
// with fmt.Fprintf and grows its buffer as it goes, which was a third of
// the server's allocations per append. extra nil means no "extra" line;
// every hash must be sha256.Size bytes.
func marshalTLogProof(index uint64, hashes [][]byte, checkpoint, extra []byte) []byte {
	enc := base64.StdEncoding
	hashLine := enc.EncodedLen(sha256.Size) + 1
	n := len(tlogProofHeader) + len("index \n") + 20 + len(hashes)*hashLine + 1 + len(checkpoint)
	if extra != nil {
		n += len("extra \n") + enc.EncodedLen(len(extra))
	}
	out := make([]byte, 0, n)
	out = append(out, tlogProofHeader...)
	if extra != nil {
		out = append(out, "extra "...)
		out = enc.AppendEncode(out, extra)
		out = append(out, '\n')
	}
	out = append(out, "index "...)
	out = strconv.AppendUint(out, index, 10)
	out = append(out, '\n')
	for _, h := range hashes {
		out = enc.AppendEncode(out, h)
		out = append(out, '\n')
	}
	out = append(out, '\n')
	return append(out, checkpoint...)
}

// VerifyReceipt verifies a receipt offline: it must be exactly the canonical
// encoding ReceiptBuilder.Receipt produces, its checkpoint must be signed by
// logKey for origin and carry no other signature, index must be below the
// checkpoint size, and LeafHash(leaf) must be included at index under the
// checkpoint's root. Any changed, added or removed byte makes it fail.
func VerifyReceipt(receipt []byte, origin string, logKey note.Verifier) (*Receipt, error) {
	p, err := decodeReceipt(receipt)
	if err != nil {
		return nil, err
	}
	cp, n, err := OpenCheckpoint(p.Checkpoint, origin, logKey)
	if err != nil {
		return nil, fmt.Errorf("receipt checkpoint: %w", err)
	}
	if err := checkReceiptNote(n, p.Checkpoint); err != nil {
		return nil, err
	}
	proof := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		proof[i] = p.Hashes[i][:]
	}
	if err := VerifyInclusion(LeafHash(p.ExtraData), p.Index, cp.Size, proof, cp.Hash); err != nil {
		return nil, fmt.Errorf("receipt for index %d: %w", p.Index, err)
	}
	return &Receipt{
		Index:            p.Index,
		Leaf:             p.ExtraData,
		Proof:            proof,
		Checkpoint:       *cp,
		SignedCheckpoint: p.Checkpoint,
	}, nil
}

// decodeReceipt parses a receipt with formats/proof and insists that it is
// the canonical encoding (TLogProof.Unmarshal alone tolerates CRLF line
// endings, a missing final newline, non-zero base64 padding bits and leading
// zeros in the index) and that it has an "extra" line.
func decodeReceipt(receipt []byte) (*fproof.TLogProof, error) {
	var p fproof.TLogProof
	if err := p.Unmarshal(receipt); err != nil {
		return nil, fmt.Errorf("%w: receipt: %w", ErrMalformed, err)
	}
	if p.ExtraData == nil {
		return nil, fmt.Errorf("%w: receipt has no extra (leaf) line", ErrMalformed)
	}
	hashes := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hashes[i] = p.Hashes[i][:]
	}
	if !bytes.Equal(marshalTLogProof(p.Index, hashes, p.Checkpoint, p.ExtraData), receipt) {
		return nil, fmt.Errorf("%w: receipt is not in canonical encoding", ErrMalformed)
	}
	return &p, nil
}

// checkReceiptNote insists that the receipt's checkpoint carries exactly one
// signature line, canonically encoded, so that no byte of it is ignored.
func checkReceiptNote(n *note.Note, signed []byte) error {
	sigs := append(append([]note.Signature(nil), n.Sigs...), n.UnverifiedSigs...)
	if len(sigs) != 1 {
		return fmt.Errorf("%w: receipt checkpoint has %d distinct signatures, want exactly the log's", ErrMalformed, len(sigs))
	}
	if !canonicalBase64(sigs[0].Base64) {
		return fmt.Errorf("%w: receipt checkpoint signature is not canonical base64", ErrMalformed)
	}
	enc, err := encodeNote(n)
	if err != nil {
		return err
	}
	if !bytes.Equal(enc, signed) {
		return fmt.Errorf("%w: receipt checkpoint is not in canonical encoding", ErrMalformed)
	}
	return nil
}
