package node

// pushBatch is how many leaves the node hands the verifier at once (the
// verifier's own chunk): its signature batches are a push's leaves cut
// among the cores, and an Ed25519 batch of a few hundred signatures costs
// far less a signature than one of a dozen (a 32 KiB GetEntries message
// holds about 45 leaves of 700 bytes).
const pushBatch = 1024

// batcher gathers leaves, in log order, into pushes of pushBatch.
type batcher struct {
	push   func(leaves ...[]byte) error
	leaves [][]byte
	// first is the index of the first leaf not yet pushed successfully:
	// the entry to blame when a push fails without naming one.
	first uint64
}

// add queues leaves and pushes every full pushBatch of them: exactly
// pushBatch a push, whatever the size of what is added (a push of 1,035
// would reach the verifier as 1,024 and a batch of 11).
func (b *batcher) add(leaves [][]byte) error {
	b.leaves = append(b.leaves, leaves...)
	for len(b.leaves) >= pushBatch {
		rest := make([][]byte, len(b.leaves)-pushBatch, pushBatch)
		copy(rest, b.leaves[pushBatch:])
		if err := b.pushed(b.leaves[:pushBatch]); err != nil {
			return err
		}
		b.leaves = rest
	}
	return nil
}

// flush pushes what is queued.
func (b *batcher) flush() error {
	if len(b.leaves) == 0 {
		return nil
	}
	leaves := b.leaves
	b.leaves = make([][]byte, 0, pushBatch)
	return b.pushed(leaves)
}

// pushed pushes leaves (the verifier keeps the slice) and moves first
// past them.
func (b *batcher) pushed(leaves [][]byte) error {
	if err := b.push(leaves...); err != nil {
		return err
	}
	b.first += uint64(len(leaves))
	return nil
}
