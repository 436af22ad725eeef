package ledger

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// A replica is a ledger that holds a copy of another server's log (a
// mediator node's, package node): it never admits an append nor signs a
// checkpoint. Its entries arrive verified, with the checkpoint the log's
// key signed over them, through [Ledger.Replicate], which writes them as
// the writer writes its own: the same store batch (leaves, tree nodes, the
// checkpoint, certificates, message-id, package and agreement indexes, the
// package-state index from the same reducer and the same records), so every
// read the service answers works on a replica as on the primary.

// ReplicaConfig configures [OpenReplica].
type ReplicaConfig struct {
	Store *store.Store
	// Origin is the log's checkpoint origin (its agreement's log_origin).
	Origin string
	Logger *slog.Logger
	// CachePackages bounds the package states kept in memory. Default 1<<16.
	CachePackages int
}

// OpenReplica opens a replica ledger on st. A store holding a log is
// recovered as [Open] recovers it (the agreements verified again, the
// latest checkpoint under the agreement's log key, the tree's root); an
// empty one has no head until the first [Ledger.Replicate].
func OpenReplica(cfg ReplicaConfig) (*Ledger, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CachePackages <= 0 {
		cfg.CachePackages = 1 << 16
	}
	stopped := make(chan struct{})
	close(stopped)
	l := &Ledger{
		cfg:      Config{Store: cfg.Store, Logger: cfg.Logger, CachePackages: cfg.CachePackages},
		st:       cfg.Store,
		origin:   cfg.Origin,
		log:      cfg.Logger,
		done:     make(chan struct{}),
		stopped:  stopped, // no writer, no verifier: Close returns at once
		vstopped: stopped,
		cache:    map[string]*workflow.Package{},
		authors:  newAuthorCache(),
	}
	size, err := l.st.Size()
	if err != nil {
		return nil, err
	}
	if size == 0 {
		l.tree, _ = tlog.NewTree(0, l.st)
		// An empty package-state index, kept current by every batch.
		return l, buildPackageIndex(l.st, nil)
	}
	if err := l.recover(size, true); err != nil {
		return nil, err
	}
	if err := l.ensurePackageIndex(); err != nil {
		return nil, err
	}
	return l, nil
}

// Size is the number of entries the ledger holds (0 for an empty replica,
// whose Head is nil).
func (l *Ledger) Size() uint64 {
	if h := l.head.Load(); h != nil {
		return h.Size
	}
	return 0
}

// Replicate commits entries, the next ones of the log in order (opened,
// e.g. by the verifier that checked them), with checkpoint, the log's
// signed checkpoint of the tree they extend the replica's to, and the
// signer certificates they name (by SHA-256) that the replica may not
// hold yet. It checks what it needs to write them as the writer did: the
// indexes follow on, the checkpoint verifies under the log key of the
// agreement in force and its root is the tree's, every certificate is
// there, the reducer accepts every entry. The caller verifies the rest
// (signatures, chains, clock: package verify) before. Everything is
// committed in one transaction, then published as the new head. Only the
// replica's follower may call it, one call at a time.
//
// A nil checkpoint stores entries the caller verified that no checkpoint
// of the log it holds covers yet: the verified ones before an entry that
// failed verification, or before a stream cut. The head's checkpoint
// stays the latest one stored (Head.Signed is its size, below Size);
// every read works as on the primary, and the next call with a
// checkpoint covers them. A replica's first entries need one.
func (l *Ledger) Replicate(entries []*entry.Opened, checkpoint []byte, certs map[string][]byte) error {
	vs := make([]Verified, len(entries))
	for k, o := range entries {
		vs[k].Opened = o
	}
	return l.replicate(vs, checkpoint, certs, false)
}

// Verified is an entry for [Ledger.ReplicateVerified] with what the
// verifier that checked it computed and the store needs again.
type Verified struct {
	*entry.Opened
	// LeafHash is tlog.LeafHash(Leaf); nil: computed here.
	LeafHash []byte
	// Before and After are the state of the entry's package
	// (message.PackageID) before and after it, as the reducer accepted it
	// (verify.Options.Reduced): Before nil for a new package; both nil for
	// an agreement or an entry about no package.
	Before, After *workflow.Package
	// AfterCompact is After.AppendCompact(nil) (verify.Options.Reduced),
	// stored as After's record in the package-state index as it is; nil:
	// encoded here.
	AfterCompact []byte
}

// ReplicateVerified is [Ledger.Replicate] for entries whose reducer steps
// the caller's verifier has run, under the agreement in force at each
// (package verify does): the package-state index is written from their
// Before and After states instead of from a second run of the reducer
// over states read back from the store. Everything else is checked and
// written as Replicate does.
func (l *Ledger) ReplicateVerified(entries []Verified, checkpoint []byte, certs map[string][]byte) error {
	return l.replicate(entries, checkpoint, certs, true)
}

// replicate is Replicate, and with reduced ReplicateVerified.
func (l *Ledger) replicate(entries []Verified, checkpoint []byte, certs map[string][]byte, reduced bool) error {
	if len(entries) == 0 {
		return errors.New("replicate: no entries")
	}
	h := l.head.Load()
	var first uint64
	var ag *agreement.Agreement
	var history []*agreement.Agreement
	if h != nil {
		first, ag, history = h.Size, h.Agreement, h.History
	}
	tree := l.tree.Clone()
	// Sized for the batch up front: a piece holds thousands of entries,
	// and grown slices were a tenth of a node's allocations.
	n := len(entries)
	sb := &store.Batch{First: first, Certs: map[string][]byte{},
		Leaves: make([][]byte, 0, n), Nodes: make([]store.Node, 0, 2*n+64),
		MsgIDs: make([]store.KV, 0, n), Packages: make([][]byte, 0, n)}
	overlay, before := make(map[string]*workflow.Package, n), make(map[string]*workflow.Package, n)
	var compact map[string][]byte // of overlay's states, given with them
	if reduced {
		compact = make(map[string][]byte, n)
	}
	var stored map[string][]byte
	var err error
	if !reduced {
		ids := make(map[string]bool, n)
		for _, o := range entries {
			if !o.IsAgreement() {
				if id := message.PackageID(o.Payload); id != "" && l.cache[id] == nil {
					ids[id] = true
				}
			}
		}
		if stored, err = l.st.PackageStates(slices.Collect(maps.Keys(ids))); err != nil {
			return fmt.Errorf("replicate: %w", err)
		}
	}
	for k, e := range entries {
		o := e.Opened
		i := first + uint64(k)
		if o.Index() != i {
			return fmt.Errorf("replicate: entry %d claims index %d", i, o.Index())
		}
		leafHash := e.LeafHash
		if leafHash == nil {
			leafHash = tlog.LeafHash(o.Leaf)
		}
		if err := tree.Append(leafHash, func(id tlog.NodeID, hash []byte) {
			sb.Nodes = append(sb.Nodes, store.Node{ID: id, Hash: hash})
		}); err != nil {
			return fmt.Errorf("replicate entry %d: %w", i, err)
		}
		sb.Leaves = append(sb.Leaves, o.Leaf)
		if o.IsAgreement() {
			ap, ok := o.Payload.(*mvmv1.Agreement)
			if !ok {
				return fmt.Errorf("replicate entry %d: an agreement entry without an agreement", i)
			}
			next, err := agreement.Parse(ap, i)
			if err != nil {
				return fmt.Errorf("replicate entry %d: %w", i, err)
			}
			if sb.Agreement != nil {
				// The store keeps one agreement pointer a batch.
				return fmt.Errorf("replicate entry %d: a second agreement in one batch (replicate up to the first)", i)
			}
			ag, history = next, append(history[:len(history):len(history)], next)
			sb.Agreement = &next.Index
			continue
		}
		if ag == nil {
			return fmt.Errorf("replicate entry %d: the log does not begin with an agreement", i)
		}
		author, err := l.replicaAuthor(o.Entry.PeerCertificateSha256, certs, sb.Certs)
		if err != nil {
			return fmt.Errorf("replicate entry %d: %w", i, err)
		}
		sb.MsgIDs = append(sb.MsgIDs, store.KV{Key: store.MsgIDKey(author.URI(), o.MessageID()), Value: binary.BigEndian.AppendUint64(nil, i)})
		id := message.PackageID(o.Payload)
		if reduced {
			if err := reducedStates(i, id, e, overlay, before); err != nil {
				return err
			}
			if id != "" {
				compact[id] = e.AfterCompact
			}
			if id != "" {
				sb.Packages = append(sb.Packages, store.PackageKey(id, i))
			}
			continue
		}
		if id == "" { // about no package (a report publication): the reducer judges it, no state changes
			if _, err := workflow.Apply(agreementAt(history, i), nil, workflow.Input{Index: i, ReceivedAt: o.ReceivedAt(), Author: author, Payload: o.Payload}); err != nil {
				return fmt.Errorf("replicate entry %d: the reducer refuses it: %w", i, err)
			}
			continue
		}
		pkg, err := l.packageState(id, overlay, stored)
		if err != nil {
			return fmt.Errorf("replicate entry %d: %w", i, err)
		}
		if _, ok := overlay[id]; !ok {
			before[id] = pkg
		}
		next, err := workflow.Apply(agreementAt(history, i), pkg, workflow.Input{Index: i, ReceivedAt: o.ReceivedAt(), Author: author, Payload: o.Payload})
		if err != nil {
			return fmt.Errorf("replicate entry %d: the reducer refuses it: %w", i, err)
		}
		overlay[id] = next
		sb.Packages = append(sb.Packages, store.PackageKey(id, i))
	}
	sb.PackageIndex = sortedIndexChanges(overlay, before, compact)
	next := &Head{Size: tree.Size(), Agreement: ag, History: history}
	if checkpoint == nil {
		if h == nil {
			return errors.New("replicate: the first entries of a replica come with the log's checkpoint")
		}
		next.Checkpoint, next.signed = h.Checkpoint, h.Signed()
	} else {
		if sb.Checkpoint, err = l.checkReplicaCheckpoint(checkpoint, ag, tree); err != nil {
			return err
		}
		next.Checkpoint = sb.Checkpoint
	}
	if err := l.st.Commit(sb); err != nil {
		return fmt.Errorf("replicate entries [%d, %d): %w", first, tree.Size(), err)
	}
	last := entries[len(entries)-1]
	l.tree, l.lastTime = tree, last.ReceivedAt()
	if reduced {
		// States went to the store, not through the cache: a later
		// Replicate must not find older ones there.
		clear(l.cache)
	} else {
		l.remember(overlay)
	}
	l.publish(next)
	return nil
}

// reducedStates takes the verifier's states of entry i (of package id,
// "" for none) into the batch's: overlay holds each package's latest,
// before its state before the batch.
func reducedStates(i uint64, id string, e Verified, overlay, before map[string]*workflow.Package) error {
	switch {
	case id == "":
		if e.After != nil {
			return fmt.Errorf("replicate entry %d: a package state for an entry about no package", i)
		}
		return nil
	case e.After == nil || e.After.ID != id:
		return fmt.Errorf("replicate entry %d: no state of package %q from the verifier", i, id)
	}
	if _, ok := overlay[id]; !ok {
		before[id] = e.Before
	}
	overlay[id] = e.After
	return nil
}

// checkReplicaCheckpoint checks that cp is signed by the log key of ag
// and commits to tree, and returns it with the log's signature only (what
// the store's checkpoints bucket holds; cosignatures are kept apart,
// Store.AddCosignature): the signature is verified once.
func (l *Ledger) checkReplicaCheckpoint(cp []byte, ag *agreement.Agreement, tree *tlog.Tree) ([]byte, error) {
	v, err := note.NewVerifier(ag.LogKey)
	if err != nil {
		return nil, fmt.Errorf("replicate: the agreement's log key: %w", err)
	}
	c, n, err := tlog.OpenCheckpoint(cp, l.origin, v)
	if err != nil {
		return nil, fmt.Errorf("replicate: checkpoint: %w", err)
	}
	root, err := tree.Root()
	if err != nil {
		return nil, err
	}
	if c.Size != tree.Size() || !bytes.Equal(c.Hash, root) {
		return nil, fmt.Errorf("replicate: the checkpoint of size %d does not commit to the entries (tree of size %d)", c.Size, tree.Size())
	}
	return tlog.Verified(n)
}

// replicaAuthor names the signer of certificate sha: from the store, or
// from certs (then staged with the batch, so the replica serves it).
func (l *Ledger) replicaAuthor(sha []byte, certs, staged map[string][]byte) (identity.Identity, error) {
	if id, ok := l.authors.Get(string(sha)); ok {
		return id, nil
	}
	der, ok := certs[string(sha)]
	if !ok {
		return l.author(sha)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("signer certificate %x: %w", sha, err)
	}
	id, err := identity.Parse(c)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("signer certificate %x: %w", sha, err)
	}
	staged[string(sha)] = der
	l.authors.Add(string(sha), id)
	return id, nil
}

// sortedIndexChanges are the package-state index records of the batch,
// by bucket and key: bbolt moves a node's keys after each insertion point,
// so keys put out of order into the large nodes of a replica's commit
// cost far more than sorting them. The state records come in key order
// (one a package, by id); the others are sorted bucket by bucket. compact
// holds the encodings of overlay's states that came with them.
func sortedIndexChanges(overlay, before map[string]*workflow.Package, compact map[string][]byte) []store.IndexOp {
	ids := slices.Sorted(maps.Keys(overlay))
	buf := make([]byte, 0, 384*len(ids)) // a new package's records take ~300 bytes
	var byBucket [store.PkgDue + 1][]store.IndexOp
	for _, id := range ids {
		for _, op := range appendChanges(nil, &buf, before[id], overlay[id], compact[id]) {
			byBucket[op.Bucket] = append(byBucket[op.Bucket], op)
		}
	}
	ops := make([]store.IndexOp, 0, len(byBucket[0])+len(byBucket[1])+len(byBucket[2]))
	for _, recs := range byBucket {
		if !slices.IsSortedFunc(recs, compareOps) {
			slices.SortFunc(recs, compareOps)
		}
		ops = append(ops, recs...)
	}
	return ops
}

func compareOps(a, b store.IndexOp) int { return bytes.Compare(a.Key, b.Key) }
