package node

import (
	"context"
	"io"
	"sync/atomic"

	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Asking ahead. Between two pieces a node used to stand idle: the
// verifier drained its last batch and the commit was handed over, and
// only then were the primary's latest checkpoint, the next target, the
// consistency proof to it and the next stream asked for (four round trips
// to a primary that is busy itself, ~8 ms a piece on the dev machine,
// docs/PERFORMANCE.md). Once a piece's last entries have arrived, the
// node now asks for all of that for the piece after it on a goroutine of
// its own, while the verifier drains; the next round takes what came if
// it starts where that piece does and the log key is the one the
// checkpoints were opened under, and throws it away otherwise.
//
// What it changes nothing of: every check of a round is made as before,
// on the same answers (the checkpoints' signatures under the log key in
// force when they were asked for, the answers used only while that key
// is still in force; the consistency proof, by Run's goroutine, against
// the verifier's own root once it stands at the piece's start; the
// entries by the verifier). An answer asked for early is only older: a
// primary that forked meanwhile is caught by the next round, as one that
// forks a moment after a round's questions always was.

// incoming is a GetEntries stream being received, a few messages ahead,
// on a goroutine of its own.
type incoming struct {
	msgs   chan *mvmv1.GetEntriesResponse
	err    error // the receive error, set before msgs is closed (nil at the end)
	cancel context.CancelFunc
}

// openEntries opens the stream of entries [from, end) and starts receiving
// it. Its context is ctx's, until close.
func (f *Follower) openEntries(ctx context.Context, from, end uint64) (*incoming, error) {
	sctx, cancel := context.WithCancel(ctx)
	stream, err := f.client.API.GetEntries(sctx, &mvmv1.GetEntriesRequest{Start: from, End: end})
	if err != nil {
		cancel()
		return nil, err
	}
	// Messages are received (and decoded) a few ahead of the verifier:
	// the piece is held once, as the verified entries waiting for the
	// commit.
	in := &incoming{msgs: make(chan *mvmv1.GetEntriesResponse, 4), cancel: cancel}
	go func() {
		defer close(in.msgs)
		for {
			msg, err := stream.Recv()
			if err != nil {
				if err != io.EOF {
					in.err = err
				}
				return
			}
			select {
			case in.msgs <- msg:
			case <-sctx.Done():
				return
			}
		}
	}()
	return in, nil
}

// close ends the stream and waits for its goroutine; the receive error
// (nil at the stream's end) is then in err.
func (in *incoming) close() {
	in.cancel()
	for range in.msgs {
	}
}

// asked is what was asked for the piece starting at from, its
// checkpoints opened under the log key vkey. It is written by its
// goroutine until done is closed.
type asked struct {
	from   uint64
	vkey   string
	done   chan struct{}
	cancel context.CancelFunc

	latest *signed
	target *signed   // nil: latest is not beyond from (round sees why)
	proof  [][]byte  // from from to target's size; nil if from is 0
	in     *incoming // target's entries, from from on
	err    error
}

// askNext starts asking for the piece starting at from (where the piece
// being drained ends). Run's goroutine only.
func (f *Follower) askNext(ctx context.Context, from uint64) {
	f.dropNext()
	actx, cancel := context.WithCancel(ctx)
	a := &asked{from: from, vkey: f.logVKey(), done: make(chan struct{}), cancel: cancel}
	f.next = a
	go func() {
		defer close(a.done)
		a.err = a.ask(actx, f)
	}()
}

func (a *asked) ask(ctx context.Context, f *Follower) error {
	if h := beforeAsk.Load(); h != nil {
		(*h)(a.from)
	}
	key, err := verifierFor(a.vkey)
	if err != nil {
		return err
	}
	fetch := func(req *mvmv1.GetCheckpointRequest) (*signed, error) {
		raw, err := f.getCheckpoint(ctx, req)
		if err != nil {
			return nil, err
		}
		return openSigned(raw, f.l.Origin(), key)
	}
	if a.latest, err = fetch(&mvmv1.GetCheckpointRequest{}); err != nil || a.latest.cp.Size <= a.from {
		return err
	}
	a.target = a.latest
	if a.latest.cp.Size-a.from > f.cfg.Piece {
		t, err := fetch(&mvmv1.GetCheckpointRequest{AtMost: a.from + f.cfg.Piece})
		if err != nil {
			return err
		}
		if t.cp.Size > a.from {
			a.target = t
		}
	}
	end := a.target.cp.Size
	if a.from > 0 {
		pctx, cancel := context.WithTimeout(ctx, rpcTimeout)
		p, err := f.client.API.GetConsistencyProof(pctx, &mvmv1.GetConsistencyProofRequest{From: a.from, To: end})
		cancel()
		if err != nil {
			return err
		}
		a.proof = p.Hashes
	}
	a.in, err = f.openEntries(ctx, a.from, end)
	return err
}

// takeNext returns what was asked ahead for the piece starting at mine,
// under the log key in force, once it has come; or nil, dropping it.
// Run's goroutine only.
func (f *Follower) takeNext(mine uint64) *asked {
	a := f.next
	if a == nil {
		return nil
	}
	f.next = nil
	<-a.done
	if !a.usable(mine, f.logVKey()) {
		a.drop()
		return nil
	}
	return a
}

// usable says whether a, once done, answers for the piece starting at
// mine under the log key vkey: asked without error, from mine on, its
// checkpoints opened under vkey (an agreement stored meanwhile may have
// changed the log key).
func (a *asked) usable(mine uint64, vkey string) bool {
	return a.err == nil && a.from == mine && a.vkey == vkey
}

// beforeAsk, if set, is called as the questions for the piece starting at
// its argument begin (a test's hook: the primary forks then).
var beforeAsk atomic.Pointer[func(from uint64)]

// usedNext, if set, counts the pieces copied from a stream asked for
// while the piece before drained (a test's hook).
var usedNext atomic.Pointer[atomic.Int64]

// dropNext ends what is being asked ahead, if anything. Run's goroutine
// only.
func (f *Follower) dropNext() {
	if a := f.next; a != nil {
		f.next = nil
		a.drop()
	}
}

// drop ends a's questions and its stream and waits for their goroutines.
func (a *asked) drop() {
	a.cancel()
	<-a.done
	if a.in != nil {
		a.in.close()
		a.in = nil
	}
}
