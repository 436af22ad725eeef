package witness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Log is what a [Pusher] needs of the log it pushes.
type Log interface {
	// Latest returns the log's latest checkpoint and what the agreement in
	// force says of the witness named name.
	Latest(name string) Head
	// ConsistencyProof proves the tree of size from is a prefix of size to.
	ConsistencyProof(from, to uint64) ([][]byte, error)
	// AddCosignature stores a verified cosignature line of the
	// checkpoint of size size by the cosigner name.
	AddCosignature(size uint64, name, line string) error
}

// Head is the log's latest checkpoint as a [Pusher] sees it.
type Head struct {
	Size       uint64
	Checkpoint []byte
	// Changed is closed when a newer checkpoint is published.
	Changed <-chan struct{}
	// Key is the witness's verifier key in the agreement in force, "" if
	// the agreement does not list it (then nothing is pushed to it).
	Key string
}

// Results a [Pusher] reports to its Observe hook.
const (
	ResultCosigned = "cosigned" // a cosignature verified and stored
	ResultConflict = "conflict" // 409: retried from the witness's size
	ResultError    = "error"    // anything else: backed off
)

// Pusher pushes the log's checkpoints to one witness; see the package doc.
type Pusher struct {
	Target Target
	Log    Log
	// HTTP is the client (nil: http.DefaultClient).
	HTTP *http.Client
	// Timeout bounds one request (default 10s): a witness that hangs
	// delays only its own next push.
	Timeout time.Duration
	// Interval is the least time between two requests that succeeded
	// (default 250ms): a busy log sends a witness at most a few
	// checkpoints a second, the latest each time.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure, doubled
	// at each failure in a row (default 1s and 1m).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	// Observe, if set, is told the result of each request and the size
	// sent (metrics).
	Observe func(witness, result string, size uint64)
}

func (p *Pusher) defaults() {
	if p.Timeout <= 0 {
		p.Timeout = 10 * time.Second
	}
	if p.Interval <= 0 {
		p.Interval = 250 * time.Millisecond
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = time.Second
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = max(time.Minute, p.MinBackoff)
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.Observe == nil {
		p.Observe = func(string, string, uint64) {}
	}
}

// maxConflicts is how many 409s in a row are retried at once: more means
// the witness's size keeps moving under us (another log instance pushing
// to it), and the pusher backs off.
const maxConflicts = 3

// Run pushes until ctx is done.
func (p *Pusher) Run(ctx context.Context) {
	p.defaults()
	log := p.Logger.With("witness", p.Target.Name, "url", p.Target.URL)
	var (
		known     uint64 // the size the witness is believed to hold; a 409 corrects it
		cosigned  uint64 // the largest size it cosigned in this run
		some      bool   // whether it cosigned anything in this run
		backoff   time.Duration
		conflicts int
		unlisted  bool // warned that the agreement does not list it
	)
	wait := func(d time.Duration, changed <-chan struct{}) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		case <-changed:
		}
		return true
	}
	fail := func(size uint64, err error) bool {
		p.Observe(p.Target.Name, ResultError, size)
		backoff = min(max(2*backoff, p.MinBackoff), p.MaxBackoff)
		lvl := slog.LevelWarn
		if errors.Is(err, ErrInconsistent) || errors.Is(err, ErrBadCosignature) || errors.Is(err, ErrFork) {
			lvl = slog.LevelError // a fork, or a witness that lies
		}
		log.Log(ctx, lvl, "witness push failed", "size", size, "old", known, "retry_in", backoff, "err", err)
		return wait(backoff, nil)
	}
	for ctx.Err() == nil {
		h := p.Log.Latest(p.Target.Name)
		if h.Key == "" {
			if !unlisted {
				log.Warn("the agreement in force does not list this witness: nothing pushed until an amendment does")
			}
			unlisted = true
			if !wait(time.Hour, h.Changed) {
				return
			}
			continue
		}
		unlisted = false
		if some && h.Size == cosigned {
			if !wait(time.Hour, h.Changed) {
				return
			}
			continue
		}
		if known > h.Size {
			// The witness cosigned a larger tree of this origin than this
			// log holds: another log under our key (a fork), or this
			// database restored from an older copy. Wait for the log to
			// reach it; the proof from there will tell.
			if !fail(h.Size, &ConflictError{Size: known}) {
				return
			}
			continue
		}
		var proof [][]byte
		if known > 0 && known < h.Size {
			var err error
			if proof, err = p.Log.ConsistencyProof(known, h.Size); err != nil {
				if !fail(h.Size, err) {
					return
				}
				continue
			}
		}
		c := &Client{Target: p.Target, Key: h.Key, HTTP: p.HTTP}
		rctx, cancel := context.WithTimeout(ctx, p.Timeout)
		lines, err := c.AddCheckpoint(rctx, known, proof, h.Checkpoint)
		cancel()
		if ctx.Err() != nil {
			return
		}
		var conflict *ConflictError
		switch {
		case err == nil:
			if err := p.Log.AddCosignature(h.Size, p.Target.Name, lines[0]); err != nil {
				if !fail(h.Size, err) {
					return
				}
				continue
			}
			p.Observe(p.Target.Name, ResultCosigned, h.Size)
			log.Debug("checkpoint cosigned by witness", "size", h.Size, "old", known)
			known, cosigned, some, backoff, conflicts = h.Size, h.Size, true, 0, 0
			if !wait(p.Interval, nil) {
				return
			}
		case errors.As(err, &conflict) && conflict.Size == known:
			// Sent from the witness's own size and told that size again:
			// its checkpoint of that size is not ours.
			conflicts = 0
			if !fail(h.Size, fmt.Errorf("%w: size %d: %w", ErrFork, known, err)) {
				return
			}
		case errors.As(err, &conflict) && conflicts < maxConflicts:
			p.Observe(p.Target.Name, ResultConflict, h.Size)
			log.Info("witness holds another size: resending from it", "sent_old", known, "witness_size", conflict.Size, "size", h.Size)
			known = conflict.Size
			conflicts++
		default:
			if errors.As(err, &conflict) {
				known = conflict.Size
			}
			conflicts = 0
			if !fail(h.Size, err) {
				return
			}
		}
	}
}
