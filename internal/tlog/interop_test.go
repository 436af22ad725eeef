package tlog_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	fproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

type nodeMap map[compact.NodeID][]byte

func (m nodeMap) ReadNodes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := m[id]
		if !ok {
			return nil, fmt.Errorf("node %+v: %w", id, tlog.ErrNodeNotFound)
		}
		out[i] = h
	}
	return out, nil
}

// TestInterop produces a log, checkpoints, a receipt, a consistency proof
// and a cosignature with this package, then checks them with nothing but
// the transparency-dev and x/mod libraries' own parsers and verifiers.
func TestInterop(t *testing.T) {
	const origin = "interop.example/log"
	const n = 13
	skey, vkey, err := tlog.GenerateLogKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := tlog.NewTree(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	nodes := nodeMap{}
	var leaves [][]byte
	for i := 0; i < n; i++ {
		leaf := []byte(fmt.Sprintf(`{"entry":%d}`, i))
		leaves = append(leaves, leaf)
		if err := tree.Append(tlog.LeafHash(leaf), func(id compact.NodeID, h []byte) { nodes[id] = h }); err != nil {
			t.Fatal(err)
		}
	}
	root, err := tree.Root()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := tlog.SignCheckpoint(signer, origin, n, root)
	if err != nil {
		t.Fatal(err)
	}
	const index = 6
	incl, err := tlog.InclusionProof(nodes, index, n)
	if err != nil {
		t.Fatal(err)
	}
	receipt, err := tlog.NewReceipt(index, incl, signed, leaves[index])
	if err != nil {
		t.Fatal(err)
	}

	// Only library code from here on.
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	var p fproof.TLogProof
	if err := p.Unmarshal(receipt); err != nil {
		t.Fatalf("TLogProof.Unmarshal: %v", err)
	}
	if got, want := p.Index, uint64(index); got != want {
		t.Errorf("receipt index: got %v, want %v", got, want)
	}
	if got, want := p.ExtraData, leaves[index]; !bytes.Equal(got, want) {
		t.Errorf("receipt extra: got %q, want %q", got, want)
	}
	if got, want := p.Checkpoint, signed; !bytes.Equal(got, want) {
		t.Errorf("receipt checkpoint: got %q, want %q", got, want)
	}
	if got := p.Marshal(); !bytes.Equal(got, receipt) {
		t.Errorf("TLogProof.Marshal of the parsed receipt: got %q, want %q", got, receipt)
	}
	cp, other, _, err := log.ParseCheckpoint(p.Checkpoint, origin, verifier)
	if err != nil {
		t.Fatalf("log.ParseCheckpoint: %v", err)
	}
	if cp.Origin != origin || cp.Size != n || len(other) != 0 {
		t.Errorf("checkpoint: got %s/%d (+%d bytes), want %s/%d", cp.Origin, cp.Size, len(other), origin, n)
	}
	hashes := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hashes[i] = p.Hashes[i][:]
	}
	leafHash := rfc6962.DefaultHasher.HashLeaf(p.ExtraData)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, leafHash, hashes, cp.Hash); err != nil {
		t.Errorf("proof.VerifyInclusion: %v", err)
	}
	// The library would also catch a different leaf.
	wrong := rfc6962.DefaultHasher.HashLeaf(leaves[index+1])
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, wrong, hashes, cp.Hash); err == nil {
		t.Errorf("proof.VerifyInclusion with another leaf: got nil, want an error")
	}
	// The root is the RFC 6962 hash: check it against leaf hashes with
	// sha256 directly for this small tree.
	if got, want := cp.Hash, mth(leaves); !bytes.Equal(got, want) {
		t.Errorf("checkpoint root: got %x, want %x", got, want)
	}

	// A consistency proof from an older checkpoint.
	const old = 5
	oldTree, err := tlog.NewTree(old, nodes)
	if err != nil {
		t.Fatal(err)
	}
	oldRoot, _ := oldTree.Root()
	oldSigned, err := tlog.SignCheckpoint(signer, origin, old, oldRoot)
	if err != nil {
		t.Fatal(err)
	}
	oldCP, _, _, err := log.ParseCheckpoint(oldSigned, origin, verifier)
	if err != nil {
		t.Fatalf("log.ParseCheckpoint(old): %v", err)
	}
	cons, err := tlog.ConsistencyProof(nodes, old, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, oldCP.Size, cp.Size, cons, oldCP.Hash, cp.Hash); err != nil {
		t.Errorf("proof.VerifyConsistency: %v", err)
	}

	// A mediator's cosignature, checked by the library's cosignature/v1
	// verifier through log.ParseCheckpoint.
	cskey, cvkey, err := tlog.GenerateCosignerKey("tr")
	if err != nil {
		t.Fatal(err)
	}
	line, err := tlog.Cosign(cskey, signed, origin, verifier)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := tlog.AddCosignatures(signed, []string{line})
	if err != nil {
		t.Fatal(err)
	}
	cv, err := fnote.NewVerifierForCosignatureV1(cvkey)
	if err != nil {
		t.Fatal(err)
	}
	_, _, nt, err := log.ParseCheckpoint(cosigned, origin, verifier, cv)
	if err != nil {
		t.Fatalf("log.ParseCheckpoint(cosigned): %v", err)
	}
	found := false
	for _, s := range nt.Sigs {
		if s.Name == cv.Name() && s.Hash == cv.KeyHash() {
			found = true
			if _, err := fnote.CoSigV1Timestamp(s); err != nil {
				t.Errorf("CoSigV1Timestamp: %v", err)
			}
		}
	}
	if !found {
		t.Errorf("log.ParseCheckpoint(cosigned): cosignature of %s not among verified signatures %+v", cv.Name(), nt.Sigs)
	}
}

// mth is RFC 6962's Merkle Tree Hash with crypto/sha256 only.
func mth(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		h := sha256.Sum256(append([]byte{0}, leaves[0]...))
		return h[:]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(mth(leaves[:k]))
	h.Write(mth(leaves[k:]))
	return h.Sum(nil)
}
