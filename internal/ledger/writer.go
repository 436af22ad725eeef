package ledger

import (
	"errors"
	"time"

	"github.com/mvm-exchange/mvm/internal/envelope"
)

// minVerifyBatch is the batch size from which Ed25519 batch verification
// costs about half of verifying one by one (envelope.BenchmarkVerifyBatch).
const minVerifyBatch = 32

// Lingering: a commit costs about 300 µs of CPU whatever its size (two
// fdatasyncs, some twenty pages, a checkpoint signature), so under load
// the writer waits a little for a fuller batch. It waits only when its
// last batch had at least lingerFrom appends (many callers: a lone caller
// waits only right after a burst, one arrival gap), only while fewer than
// lingerBatch (or MaxBatch) are ready, only as long as appends keep
// arriving (none for lingerGap ends the wait: the callers may all be
// waiting already), and at most Config.Linger. With 64 callers batches
// grow from ~23 to ~32 and the CPU per append falls by ~8 %
// (docs/PERFORMANCE.md).
const (
	DefaultLinger = 600 * time.Microsecond
	lingerFrom    = 16
	lingerBatch   = 40
	lingerGap     = 150 * time.Microsecond
)

// verifier verifies the signatures of prepared appends and hands the
// writer, whenever it asks, everything verified since its last batch.
//
// While the writer commits, arrivals are held until minVerifyBatch of them
// can be verified as one batch (envelope.VerifyAll: one multi-scalar
// multiplication, over VerifyWorkers goroutines); when the writer asks,
// what is held is verified and handed over with the rest, at once, or
// after lingering (above) under load. While the writer waits on an idle
// log, every arrival is verified and handed over at once, so an idle log
// adds no delay. Forged signatures are refused here.
func (l *Ledger) verifier() {
	defer close(l.vstopped)
	var (
		ready   []*request      // verified, for the writer's next batch
		held    []*request      // arrived, not yet verified
		waiting chan []*request // the writer, asking for a batch
		last    int             // the size of the last batch handed over

		// Lingering: the timer ticks every lingerGap until the wait ends.
		tick     = time.NewTimer(time.Hour)
		ticking  <-chan time.Time // tick.C while lingering
		until    time.Time        // the wait ends at the latest
		arrivals int              // since the last tick
	)
	tick.Stop()
	defer tick.Stop()
	enough := min(lingerBatch, l.cfg.MaxBatch) // ready appends that end a linger
	for {
		var reqs chan *request // nil (no receive) once a batch is full
		if len(ready)+len(held) < l.cfg.MaxBatch {
			reqs = l.reqs
		}
		select {
		case w := <-l.asks:
			waiting = w
			if l.cfg.Linger > 0 && last >= lingerFrom && len(ready)+len(held) < enough {
				until, arrivals = time.Now().Add(l.cfg.Linger), 0
				tick.Reset(min(lingerGap, l.cfg.Linger))
				ticking = tick.C
			}
		case <-ticking:
			if arrivals == 0 || !time.Now().Before(until) {
				ticking = nil // hand over now
			} else {
				arrivals = 0
				tick.Reset(min(lingerGap, time.Until(until)))
			}
		case r := <-reqs:
			held = append(held, r)
			arrivals++
		fill:
			for len(ready)+len(held) < l.cfg.MaxBatch {
				select {
				case r := <-l.reqs:
					held = append(held, r)
					arrivals++
				default:
					break fill
				}
			}
		case <-l.done:
			l.fail(ready, ErrClosed)
			l.fail(held, ErrClosed)
			l.drain()
			return
		}
		if ticking != nil && len(ready)+len(held) >= enough {
			tick.Stop()
			ticking = nil
		}
		if (waiting != nil && ticking == nil) || len(held) >= minVerifyBatch {
			ready = append(ready, l.verify(held)...)
			held = nil
		}
		if waiting != nil && ticking == nil && len(ready) > 0 {
			last = len(ready)
			waiting <- ready
			ready, waiting = nil, nil
		}
	}
}

// run is the single writer: it asks the verifier for a batch and commits
// it, again and again.
func (l *Ledger) run() {
	defer close(l.stopped)
	batches := make(chan []*request, 1)
	defer func() {
		// Closing: a batch handed over but not taken is refused, not
		// left without an answer.
		select {
		case batch := <-batches:
			l.fail(batch, ErrClosed)
		default:
		}
	}()
	for {
		select {
		case <-l.done:
			return
		case l.asks <- batches:
		}
		select {
		case <-l.done:
			return
		case batch := <-batches:
			select {
			case <-l.done: // closed while waiting: commit nothing more
				l.fail(batch, ErrClosed)
				return
			default:
			}
			l.commit(batch)
		}
	}
}

// verify checks the signatures of a batch, refuses the appends with a bad
// one and returns the others.
func (l *Ledger) verify(batch []*request) []*request {
	var checks []envelope.Check
	var owner []int
	for i, r := range batch {
		for _, c := range r.checks {
			checks = append(checks, c)
			owner = append(owner, i)
		}
	}
	bad := map[int]error{}
	for j, err := range envelope.VerifyAll(checks, l.cfg.VerifyWorkers) {
		if err != nil && bad[owner[j]] == nil {
			bad[owner[j]] = err
		}
	}
	good := batch[:0]
	for i, r := range batch {
		if err := bad[i]; err != nil {
			r.reply <- reply{err: err}
			continue
		}
		r.checks = nil
		good = append(good, r)
	}
	return good
}

// drain refuses the appends still queued at Close.
func (l *Ledger) drain() {
	for {
		select {
		case r := <-l.reqs:
			r.reply <- reply{err: ErrClosed}
		default:
			return
		}
	}
}

// fail answers every request of a batch that could not be committed.
func (l *Ledger) fail(batch []*request, err error) {
	for _, r := range batch {
		r.reply <- reply{err: err}
	}
}

var errCorrupt = errors.New("stored entry cannot be replayed")
