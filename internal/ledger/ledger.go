package ledger

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Errors a caller may branch on.
var (
	// ErrDuplicateMessageID: the author already used this message id for a
	// different envelope. Choose a new id.
	ErrDuplicateMessageID = errors.New("message id already used for a different message")
	// ErrClosed: the ledger is shutting down. Retry against a running server.
	ErrClosed = errors.New("ledger is closed")
	// ErrCommit: the batch could not be made durable; nothing was stored.
	// Retrying the same envelope is safe.
	ErrCommit = errors.New("commit failed")
	// ErrRetry: the entry could not be placed in this batch (a second
	// amendment in the same batch). Retrying is safe.
	ErrRetry = errors.New("retry the append")
	// ErrNoGenesis: the log is empty and no agreement was supplied.
	ErrNoGenesis = errors.New("empty log and no genesis agreement")
	// ErrNotReplicated: the entry IS logged (committed and durable here)
	// but [Config.Release] did not release its receipt in time (server
	// --sync-witnesses: not yet cosigned by enough nodes). Retrying the
	// same envelope is safe: it is answered with the same entry once
	// released.
	ErrNotReplicated = errors.New("logged, but not yet replicated")
	// ErrReplica: the ledger is a copy of another server's log (replica.go)
	// and takes no append. Send it to the primary.
	ErrReplica = errors.New("this log is a copy of the primary's and takes no append: send it to the primary")
)

// Config configures a Ledger.
type Config struct {
	Store *store.Store
	// Signer signs checkpoints; its name is the log origin.
	Signer note.Signer
	// Genesis is the serialized agreement envelope, signed by every party,
	// appended as entry 0 when the log is empty. Ignored otherwise.
	Genesis []byte
	// Now is the clock (receive times). Default time.Now.
	Now func() time.Time
	// MaxBatch bounds the entries committed together. Default 4096.
	MaxBatch int
	// CachePackages bounds the package states kept in memory. Default 1<<16.
	CachePackages int
	Logger        *slog.Logger
	// VerifyWorkers bounds the goroutines verifying a batch's signatures.
	// Default GOMAXPROCS.
	VerifyWorkers int
	// Linger bounds how long the writer waits, under load, for a fuller
	// batch (see Ledger.verifier). Default 600µs; negative: never.
	Linger time.Duration
	// Commit makes a batch durable, all of it or nothing: every entry the
	// ledger logs (the genesis entry, then each batch of the writer) goes
	// through it; the index builds at open do not. Default Store.Commit;
	// tests set it to inject a failed commit or to hold the writer
	// (calling Store.Commit themselves to let it go on).
	Commit func(*store.Batch) error
	// Committed, if set, is called by the writer after each batch it
	// commits, with the entries committed and the time the commit took
	// (fsync included). It runs on the writer's path, once per batch: it
	// must be cheap (package metrics: two histogram updates).
	Committed func(entries int, took time.Duration)
	// Release, if set, holds each receipt (a new entry's, and a re-sent
	// envelope's) until it returns: Append calls it on the caller's
	// goroutine, after the commit, with the size of the checkpoint the
	// receipt is under, and returns its error (wrapping
	// [ErrNotReplicated]) instead of the receipt. The writer never waits
	// for it. server --sync-witnesses waits there for cosignatures.
	Release func(ctx context.Context, index, size uint64) error
}

// Head is the committed state of the log, published after every commit.
type Head struct {
	Size       uint64
	Checkpoint []byte
	Agreement  *agreement.Agreement
	// History holds every agreement, in log order.
	History []*agreement.Agreement
	// signed is the size of Checkpoint when it is not Size (replica.go:
	// a replica's verified entries beyond the primary's latest
	// checkpoint it holds); 0: Size.
	signed uint64
	// changed is closed when a newer head is published.
	changed chan struct{}
}

// Signed is the size of Checkpoint. It is Size but on a replica holding
// entries it verified beyond the latest checkpoint of the primary it has
// (see [Ledger.Replicate] without a checkpoint).
func (h *Head) Signed() uint64 {
	if h.signed != 0 {
		return h.signed
	}
	return h.Size
}

// Changed returns a channel closed when a newer head is published.
func (h *Head) Changed() <-chan struct{} { return h.changed }

// agreementAt returns the agreement in force for the entry at index: the
// last one logged before it.
func agreementAt(history []*agreement.Agreement, index uint64) *agreement.Agreement {
	var in *agreement.Agreement
	for _, a := range history {
		if a.Index >= index {
			break
		}
		in = a
	}
	return in
}

// Result is the outcome of a successful append.
type Result struct {
	Index      uint64
	ReceivedAt time.Time
	Leaf       []byte
	// Checkpoint is the signed checkpoint of size Size covering Index.
	Checkpoint []byte
	Size       uint64
	// Duplicate is true when the envelope had already been logged.
	Duplicate bool
	// Receipts builds receipts under Checkpoint; shared by a batch so the
	// checkpoint is parsed once. Nil means build one from Checkpoint.
	Receipts *tlog.ReceiptBuilder
	// Nodes holds, in memory, every node the inclusion proof of Index at
	// Size needs (shared by a batch, read-only). Nil means read the store.
	Nodes tlog.NodeReader
}

// Ledger is the server's log. It is safe for concurrent use.
type Ledger struct {
	cfg    Config
	st     *store.Store
	origin string
	log    *slog.Logger

	// reqs holds prepared appends, their signatures not yet verified;
	// the writer asks the verifier for its next batch on asks.
	reqs     chan *request
	asks     chan chan []*request
	done     chan struct{}
	stopped  chan struct{} // the writer has returned
	vstopped chan struct{} // the verifier has returned
	once     sync.Once

	head atomic.Pointer[Head]

	// Owned by the writer goroutine.
	tree     *tlog.Tree
	cache    map[string]*workflow.Package
	lastTime time.Time
	// clockBehind: how far the clock read behind lastTime at the last
	// batch, in nanoseconds (0: not behind). Read by metrics.
	clockBehind atomic.Int64

	// authors caches the identities of stored peer certificates by
	// SHA-256 (string). Bounded: a party can mint a certificate per entry.
	authors *lru.Cache[string, identity.Identity]
}

type request struct {
	adm    *entry.Admitted
	checks []envelope.Check     // the signatures to verify before admission
	ag     *agreement.Agreement // agreement the envelope was admitted under
	peer   *x509.Certificate
	reply  chan reply
}

type reply struct {
	res *Result
	err error
}

// Open starts the ledger on an open store, appending the genesis agreement
// if the log is empty.
func Open(cfg Config) (*Ledger, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 4096
	}
	if cfg.CachePackages <= 0 {
		cfg.CachePackages = 1 << 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.VerifyWorkers <= 0 {
		cfg.VerifyWorkers = runtime.GOMAXPROCS(0)
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.Commit == nil {
		cfg.Commit = cfg.Store.Commit
	}
	l := &Ledger{
		cfg:      cfg,
		st:       cfg.Store,
		origin:   cfg.Signer.Name(),
		log:      cfg.Logger,
		reqs:     make(chan *request, cfg.MaxBatch),
		asks:     make(chan chan []*request),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
		vstopped: make(chan struct{}),
		cache:    map[string]*workflow.Package{},
		authors:  newAuthorCache(),
	}
	size, err := l.st.Size()
	if err != nil {
		return nil, err
	}
	if size == 0 {
		err = l.genesis()
	} else {
		err = l.recover(size, false)
	}
	if err != nil {
		return nil, err
	}
	if err := l.ensurePackageIndex(); err != nil {
		return nil, err
	}
	go l.verifier()
	go l.run()
	return l, nil
}

func (l *Ledger) publish(h *Head) {
	h.changed = make(chan struct{})
	old := l.head.Swap(h)
	if old != nil {
		close(old.changed)
	}
}

// Head returns the latest committed head.
func (l *Ledger) Head() *Head { return l.head.Load() }

// Store returns the underlying store for reads.
func (l *Ledger) Store() *store.Store { return l.st }

// Origin is the log's checkpoint origin.
func (l *Ledger) Origin() string { return l.origin }

// Close stops the writer after the batch in progress; queued appends fail
// with ErrClosed. It does not close the store.
func (l *Ledger) Close() {
	l.once.Do(func() { close(l.done) })
	<-l.stopped
	<-l.vstopped
}

// Append admits raw, sent by the client authenticated with peer, and
// returns once it is durably logged or refused.
//
// Parsing, validation and authentication run on the caller's goroutine.
// The verifier then checks the signature, in one batch with the appends
// that queued while the writer committed the previous batch; the writer
// answers re-sent envelopes from the log, checks the clock, applies the
// workflow and commits.
func (l *Ledger) Append(ctx context.Context, raw []byte, peer *x509.Certificate) (*Result, error) {
	if l.reqs == nil {
		return nil, ErrReplica
	}
	h := l.head.Load()
	adm, checks, err := entry.Prepare(h.Agreement, raw, peer, l.cfg.Now())
	if err != nil {
		return nil, err
	}
	if rp, ok := adm.Payload.(*mvmv1.ReportPublication); ok {
		if err := l.checkPublication(h, rp); err != nil {
			return nil, err
		}
	}
	req := &request{adm: adm, checks: checks, ag: h.Agreement, peer: peer, reply: make(chan reply, 1)}
	select {
	case l.reqs <- req:
	case <-l.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return l.release(ctx, r)
	case <-l.stopped:
		// The writer stopped; it may have answered just before.
		select {
		case r := <-req.reply:
			return l.release(ctx, r)
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		// The entry may still commit; a retry with the same envelope is
		// answered with its receipt.
		return nil, ctx.Err()
	}
}

// release returns the writer's answer once Config.Release lets a receipt
// go: the entry is logged whatever Release says.
func (l *Ledger) release(ctx context.Context, r reply) (*Result, error) {
	if r.err != nil || l.cfg.Release == nil {
		return r.res, r.err
	}
	if err := l.cfg.Release(ctx, r.res.Index, r.res.Size); err != nil {
		return nil, fmt.Errorf("%w: entry %d is logged here, its receipt is held: %w", ErrNotReplicated, r.res.Index, err)
	}
	return r.res, nil
}

// duplicate answers a re-sent envelope whose message id is committed at
// idx, below the published head h, with h's checkpoint.
func (l *Ledger) duplicate(idx uint64, adm *entry.Admitted, h *Head) (*Result, error) {
	leaf, err := l.st.Leaf(idx)
	if err != nil {
		return nil, err
	}
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		return nil, err
	}
	if string(e.Envelope) != string(adm.Raw) {
		return nil, fmt.Errorf("%w: %s already used message id %q at index %d", ErrDuplicateMessageID, adm.Author, adm.MessageID(), idx)
	}
	return &Result{Index: idx, ReceivedAt: e.ReceivedAt.AsTime(), Leaf: leaf, Checkpoint: h.Checkpoint, Size: h.Size, Duplicate: true}, nil
}
