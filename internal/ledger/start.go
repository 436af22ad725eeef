package ledger

// How a ledger starts on its store: the genesis agreement appended to a
// new log, or the state of an existing one recovered from what is stored.

import (
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/verify"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// genesis appends the agreement as entry 0.
func (l *Ledger) genesis() error {
	if len(l.cfg.Genesis) == 0 {
		return ErrNoGenesis
	}
	// The genesis is opened as the leaf it will be, like every entry.
	now := l.cfg.Now().UTC()
	leaf, err := entry.NewLeaf(0, now, l.cfg.Genesis, nil)
	if err != nil {
		return err
	}
	o, err := entry.Open(leaf)
	if err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	ap, ok := o.Payload.(*mvmv1.Agreement)
	if !ok {
		return fmt.Errorf("genesis: payload is %s, not an agreement", o.Type)
	}
	ag, err := workflow.Amend(nil, o.Envelope, ap, 0, now)
	if err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	if err := l.checkLogKey(ag); err != nil {
		return err
	}
	tree, _ := tlog.NewTree(0, l.st)
	b := &store.Batch{First: 0, Leaves: [][]byte{leaf}, Agreement: new(uint64), Certs: map[string][]byte{}}
	if err := tree.Append(tlog.LeafHash(leaf), func(id tlog.NodeID, h []byte) {
		b.Nodes = append(b.Nodes, store.Node{ID: id, Hash: h})
	}); err != nil {
		return err
	}
	root, err := tree.Root()
	if err != nil {
		return err
	}
	if b.Checkpoint, err = tlog.SignCheckpoint(l.cfg.Signer, l.origin, 1, root); err != nil {
		return err
	}
	if err := l.cfg.Commit(b); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	l.tree, l.lastTime = tree, now
	l.publish(&Head{Size: 1, Checkpoint: b.Checkpoint, Agreement: ag, History: []*agreement.Agreement{ag}})
	l.log.Info("genesis agreement logged", "origin", l.origin, "parties", len(ag.Parties()))
	return nil
}

// checkLogKey refuses to run a log whose signing key is not the one the
// agreement publishes: every party verifies checkpoints with that key.
func (l *Ledger) checkLogKey(ag *agreement.Agreement) error {
	v, err := note.NewVerifier(ag.LogKey)
	if err != nil {
		return fmt.Errorf("agreement log_verifier_key: %w", err)
	}
	if v.Name() != l.cfg.Signer.Name() || v.KeyHash() != l.cfg.Signer.KeyHash() {
		return fmt.Errorf("the log signing key (%s) is not the key the agreement names (%s)", l.cfg.Signer.Name(), ag.LogKey)
	}
	if ag.LogOrigin != l.origin {
		return fmt.Errorf("the agreement's log origin %q is not the signing key's name %q", ag.LogOrigin, l.origin)
	}
	return nil
}

// recover loads the committed state: O(log n) tree nodes, the agreements
// and the latest checkpoint. It does not replay the log.
func (l *Ledger) recover(size uint64, replica bool) error {
	tree, err := tlog.NewTree(size, l.st)
	if err != nil {
		return fmt.Errorf("recover tree: %w", err)
	}
	cpSize, cp, err := l.st.LatestCheckpoint()
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	// A replica may hold verified entries beyond its latest checkpoint
	// (Replicate without one); a log this server signs may not.
	if cpSize > size || (cpSize < size && !replica) {
		return fmt.Errorf("recover: latest checkpoint covers %d entries, log has %d", cpSize, size)
	}
	idxs, err := l.st.AgreementIndexes()
	if err != nil {
		return err
	}
	if len(idxs) == 0 {
		return errors.New("recover: no agreement in the log")
	}
	// The agreements are verified again as the verifier verifies them
	// (every party's signature, from entry 0): they decide who may append.
	var leaves [][]byte
	for _, i := range idxs {
		leaf, err := l.st.Leaf(i)
		if err != nil {
			return fmt.Errorf("recover agreement at %d: %w", i, err)
		}
		leaves = append(leaves, leaf)
	}
	history, err := verify.Agreements(idxs, leaves, nil)
	if ee := (*verify.EntryError)(nil); errors.As(err, &ee) {
		return fmt.Errorf("recover agreement at %d: %w", ee.Index, ee.Err)
	}
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	ag := history[len(history)-1]
	if l.cfg.Signer != nil { // a replica signs nothing (replica.go)
		if err := l.checkLogKey(ag); err != nil {
			return err
		}
	}
	v, _ := note.NewVerifier(ag.LogKey)
	c, _, err := tlog.OpenCheckpoint(cp, l.origin, v)
	if err != nil {
		return fmt.Errorf("recover: stored checkpoint: %w", err)
	}
	signedTree := tree
	if cpSize < size {
		if signedTree, err = tlog.NewTree(cpSize, l.st); err != nil {
			return fmt.Errorf("recover tree: %w", err)
		}
	}
	root, err := signedTree.Root()
	if err != nil {
		return err
	}
	if string(c.Hash) != string(root) {
		return fmt.Errorf("recover: stored checkpoint root differs from the tree's at size %d", cpSize)
	}
	last, err := l.st.Leaf(size - 1)
	if err != nil {
		return err
	}
	e, err := entry.DecodeLeaf(last)
	if err != nil {
		return fmt.Errorf("recover: last entry: %w", err)
	}
	l.tree, l.lastTime = tree, e.ReceivedAt.AsTime()
	h := &Head{Size: size, Checkpoint: cp, Agreement: ag, History: history}
	if cpSize < size {
		h.signed = cpSize
	}
	l.publish(h)
	l.log.Info("log recovered", "size", size, "signed", cpSize, "agreements", len(history))
	return nil
}

// parseAgreement parses the agreement entry leaf at index.
func parseAgreement(index uint64, leaf []byte) (*agreement.Agreement, error) {
	o, err := entry.Open(leaf)
	if err != nil {
		return nil, err
	}
	ap, ok := o.Payload.(*mvmv1.Agreement)
	if !ok {
		return nil, fmt.Errorf("entry %d is a %s, not an agreement", index, o.Type)
	}
	return agreement.Parse(ap, index)
}
