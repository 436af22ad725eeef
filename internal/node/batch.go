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

// add queues leaves and pushes once pushBatch are queued.
func (b *batcher) add(leaves [][]byte) error {
	b.leaves = append(b.leaves, leaves...)
	if len(b.leaves) < pushBatch {
		return nil
	}
	return b.flush()
}

// flush pushes what is queued.
func (b *batcher) flush() error {
	if len(b.leaves) == 0 {
		return nil
	}
	leaves := b.leaves
	b.leaves = make([][]byte, 0, pushBatch)
	if err := b.push(leaves...); err != nil {
		return err
	}
	b.first += uint64(len(leaves))
	return nil
}
