package witness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// ErrNotCosigned is what [Replicas.Wait] wraps when too few witnesses
// cosigned in time.
var ErrNotCosigned = errors.New("not cosigned by enough witnesses")

// Replicas remembers, for each witness, the largest checkpoint size whose
// cosignature by it the log verified, and lets callers wait until enough
// of them cover a size. A cosignature on a checkpoint of size s covers
// every entry below s: the witness checked the consistency proof from the
// smaller sizes it cosigned, and a mediator node cosigns only what it has
// verified and stored entry by entry (server --sync-witnesses).
//
// Only what the log verified in this run counts: a restart begins from
// nothing and learns the witnesses' sizes again at their next push.
type Replicas struct {
	mu      sync.Mutex
	sizes   map[string]uint64
	changed chan struct{} // closed and replaced at each increase
}

// NewReplicas returns an empty Replicas.
func NewReplicas() *Replicas {
	return &Replicas{sizes: map[string]uint64{}, changed: make(chan struct{})}
}

// Cosigned records that the witness name cosigned a checkpoint of size
// size (verified by the caller). Smaller sizes than one seen change
// nothing.
func (r *Replicas) Cosigned(name string, size uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if size <= r.sizes[name] {
		return
	}
	r.sizes[name] = size
	close(r.changed)
	r.changed = make(chan struct{})
}

// count is how many witnesses cosigned size or more, and the state
// channel to wait on if that is not enough.
func (r *Replicas) count(size uint64) (int, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.sizes {
		if s >= size {
			n++
		}
	}
	return n, r.changed
}

// Wait returns once n witnesses have cosigned a checkpoint of size size
// or more, or an error wrapping [ErrNotCosigned] (and ctx's error) naming
// the witnesses that have, when ctx ends first.
func (r *Replicas) Wait(ctx context.Context, size uint64, n int) error {
	for {
		got, changed := r.count(size)
		if got >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%w: size %d cosigned by %d of the %d needed (%s): %w", ErrNotCosigned, size, got, n, r.describe(), ctx.Err())
		}
	}
}

// describe lists each witness's largest cosigned size, by name.
func (r *Replicas) describe() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sizes) == 0 {
		return "no witness has cosigned since the server started"
	}
	var parts []string
	for name, s := range r.sizes {
		parts = append(parts, fmt.Sprintf("%s at %d", name, s))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
