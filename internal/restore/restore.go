// Package restore rebuilds a primary's database from a server that serves
// the reads, a mediator node first of all: `server --restore-from ADDR
// --db NEW.db`.
//
// # What it guarantees
//
// [Run] writes a new database file, and only a new one: it refuses a path
// that holds a non-empty file, writes beside it (NEW.db.restoring) and
// renames only once everything below has passed, so a failed or
// interrupted restore leaves no database behind. In the file:
//
//   - every entry of the source's latest checkpoint (size n), each one
//     verified by the one incremental verifier (package verify: the pinned
//     genesis, signatures, certificates under the agreement in force,
//     clock, message ids, the workflow reducer, the tree) before it is
//     stored, in log order, in batches that each wait for the verifier;
//   - the Merkle tree recomputed here from those leaves (no hash of the
//     source's is taken);
//   - every checkpoint the source stores up to size n (ListCheckpoints,
//     a page at a time) and its latest: each opened under the log key
//     before anything else is done with it, and stored only once the
//     tree's root at its size is the root it signs (a source that serves
//     other entries, or a checkpoint of another tree, fails, the
//     checkpoint named); log signature only, byte for byte as the log
//     signed them (so the restored primary serves the same checkpoints),
//     with each of their cosignature lines that verifies under a mediator
//     cosigner key or a witness key of the agreement in force at its size
//     (others are dropped and counted);
//   - the signers' certificates, and every index rebuilt from the entries
//     (ledger.RebuildIndexes: message ids, packages, agreements, the
//     package-state index).
//
// The file is then checked as `server --verify-db` checks one (package
// dbcheck); any damage fails the restore.
//
// # Why the read RPCs, not a Backup of the node's file
//
// A backup copies the node's bytes and verifies them afterwards; here
// nothing reaches the new file that the verifier has not passed, the file
// is written by this code (no bucket of the node's own, such as its
// witness state, comes along), the tree is recomputed, and any server
// that serves GetEntries, GetCertificates, GetCheckpoint and
// ListCheckpoints to a party identity can be the source: no operator
// right on the node is needed. What it costs: only the checkpoints the
// source holds are restored (a node holds one per piece it copied, not
// the primary's per-batch ones); receipts under others still verify, by
// consistency from their checkpoint to a restored one.
//
// # Evidence holds
//
// [EvidenceHolds], run by server.Restore once the evidence files are
// copied, records the parties' evidence holds (the quota of
// --evidence-max-party-bytes) from the logged submissions and the files
// stored: see holds.go.
package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/dbcheck"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/verify"
)

// Source is a server that serves the reads.
type Source interface {
	// Checkpoint returns the source's latest signed checkpoint with its
	// cosignatures.
	Checkpoint(ctx context.Context) ([]byte, error)
	// Checkpoints returns a page of the source's stored checkpoints, each
	// with its cosignatures, of a size greater than after and at most
	// atMost, by size; more says whether others follow.
	Checkpoints(ctx context.Context, after, atMost uint64) (page [][]byte, more bool, err error)
	// Entries calls fn for every leaf in [start, end), in order.
	Entries(ctx context.Context, start, end uint64, fn func(index uint64, leaf []byte) error) error
	// Certificate returns the DER certificate with the given SHA-256.
	Certificate(ctx context.Context, sha []byte) ([]byte, error)
}

// Options say what to restore from and into.
type Options struct {
	Source Source
	// DB is the new database file.
	DB string
	// Genesis is the pinned genesis agreement envelope (the primary's
	// CERTS/agreement.envelope); entry 0 must be exactly it, and the log
	// key its agreement names verifies the checkpoints.
	Genesis []byte
	// Signer, if set, must be the key the agreement names: the restored
	// primary signs with it (refused before anything is fetched).
	Signer note.Signer
	// Batch is how many entries are verified and stored together
	// (default 8192).
	Batch  int
	Logger *slog.Logger
}

// Report says what was restored.
type Report struct {
	Size uint64
	// Checkpoint is the restored latest checkpoint, log signature only.
	Checkpoint []byte
	// Checkpoints counts the checkpoints restored; Witnessed is the size
	// of the latest one whose restored cosignatures meet the witness
	// quorum, 0 if none.
	Checkpoints  int
	Witnessed    uint64
	Cosignatures int
	// Dropped counts cosignature lines that did not verify under a key of
	// the agreement.
	Dropped int
	Took    time.Duration
	// EvidenceMissing counts the evidence files the restored log names
	// that the restore could not copy (server.Restore copies them);
	// Holds are the parties' evidence holds it then recorded
	// ([EvidenceHolds]).
	EvidenceMissing int
	Holds           *Holds
}

// ErrExists: the target file exists and is not empty. Restore into a new
// path, or move the file away first.
var ErrExists = errors.New("the database file exists and is not empty")

// Run restores; see the package doc.
func Run(ctx context.Context, o Options) (*Report, error) {
	t0 := time.Now()
	if o.Batch <= 0 {
		o.Batch = 8192
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if fi, err := os.Stat(o.DB); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("%w: %s (%d bytes); restore into a new path, or move it away first", ErrExists, o.DB, fi.Size())
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	genesis, err := genesisAgreement(o.Genesis)
	if err != nil {
		return nil, err
	}
	logKey, err := note.NewVerifier(genesis.LogKey)
	if err != nil {
		return nil, fmt.Errorf("the agreement's log key: %w", err)
	}
	if o.Signer != nil && (o.Signer.Name() != logKey.Name() || o.Signer.KeyHash() != logKey.KeyHash()) {
		return nil, fmt.Errorf("the log signing key %s is not the key the agreement names (%s): the restored primary could not sign", o.Signer.Name(), genesis.LogKey)
	}
	r := &run{o: o, origin: genesis.LogOrigin, logKey: logKey, certs: map[string][]byte{}}
	full, err := o.Source.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("the source's latest checkpoint: %w", err)
	}
	latest, err := r.open(full, "latest checkpoint")
	if err != nil {
		return nil, err
	}
	if latest.size == 0 {
		return nil, errors.New("the source's latest checkpoint is of an empty log")
	}

	tmp := o.DB + ".restoring"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	rep, err := r.write(ctx, tmp, latest)
	if err != nil {
		_ = os.Remove(tmp)
		return nil, err
	}
	if err := check(tmp); err != nil {
		_ = os.Remove(tmp)
		return nil, err
	}
	// The existence check again, just before the rename: the rename
	// would replace whatever appeared there meanwhile.
	if fi, err := os.Stat(o.DB); err == nil && fi.Size() > 0 {
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("%w: %s appeared while restoring", ErrExists, o.DB)
	}
	if err := os.Rename(tmp, o.DB); err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Dir(o.DB)); err != nil {
		return nil, err
	}
	rep.Took = time.Since(t0)
	o.Logger.Info("database restored", "db", o.DB, "size", rep.Size, "checkpoints", rep.Checkpoints, "witnessed", rep.Witnessed,
		"cosignatures", rep.Cosignatures, "dropped", rep.Dropped, "took", rep.Took)
	return rep, nil
}

// run is one restore under way.
type run struct {
	o      Options
	origin string
	logKey note.Verifier
	// certs fetched by the verifier since the last batch was stored.
	mu    sync.Mutex
	certs map[string][]byte
}

// write verifies and stores every entry into a new file at path, with
// every checkpoint and its cosignatures as the entries reach it, then the
// indexes.
func (r *run) write(ctx context.Context, path string, latest *signed) (*Report, error) {
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	v, err := verify.New(verify.Options{Genesis: r.o.Genesis, Bounded: true, SizeHint: latest.size,
		TempDir: filepath.Dir(path), Certificate: func(sha []byte) ([]byte, error) { return r.certificate(ctx, sha) }})
	if err != nil {
		return nil, err
	}
	defer v.Close()
	rep := &Report{Size: latest.size, Checkpoint: latest.note}
	cps := &cursor{r: r, ctx: ctx, latest: latest}
	// The agreement in force at a size the verifier has passed.
	inForce := func(size uint64) *agreement.Agreement { return agreement.InForceAt(v.Agreements(), size) }
	tree, _ := tlog.NewTree(0, nil)
	var leaves [][]byte
	flush := func() error {
		if len(leaves) == 0 {
			return nil
		}
		// Nothing is stored before the verifier has passed it all.
		if err := v.Push(leaves...); err != nil {
			return fmt.Errorf("the source's log does not verify: %w", err)
		}
		if err := v.Flush(); err != nil {
			return fmt.Errorf("the source's log does not verify: %w", err)
		}
		b := &store.Batch{First: tree.Size(), Leaves: leaves, Certs: r.takeCerts()}
		var checked []store.StoredCheckpoint
		for _, leaf := range leaves {
			if err := tree.Append(tlog.LeafHash(leaf), func(id tlog.NodeID, h []byte) {
				b.Nodes = append(b.Nodes, store.Node{ID: id, Hash: h})
			}); err != nil {
				return err
			}
			at, err := r.checkpointsAt(cps, tree, inForce, rep)
			if err != nil {
				return err
			}
			checked = append(checked, at...)
		}
		if err := st.Commit(b); err != nil {
			return fmt.Errorf("store entries from %d: %w", b.First, err)
		}
		if err := st.AddCheckpoints(checked); err != nil {
			return fmt.Errorf("store the checkpoints up to size %d: %w", tree.Size(), err)
		}
		leaves = nil
		return nil
	}
	received := func() uint64 { return tree.Size() + uint64(len(leaves)) }
	for {
		from := received()
		err = r.o.Source.Entries(ctx, from, latest.size, func(index uint64, leaf []byte) error {
			leaves = append(leaves, leaf)
			if len(leaves) >= r.o.Batch {
				return flush()
			}
			return nil
		})
		// A server ends a stream whose reader fell behind (it was
		// verifying): resume from there, as long as each stream brings
		// entries.
		if err != nil && status.Code(err) == codes.Unavailable && received() > from && ctx.Err() == nil {
			r.o.Logger.Info("entries stream ended, resuming", "from", received(), "err", err)
			continue
		}
		break
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, fmt.Errorf("restore entries: %w", err)
	}
	if tree.Size() != latest.size {
		return nil, fmt.Errorf("the source sent %d entries, its checkpoint covers %d", tree.Size(), latest.size)
	}
	if next, err := cps.peek(); err != nil || next != nil {
		// Every checkpoint is of a size within the latest's: this does
		// not happen.
		return nil, fmt.Errorf("checkpoints left past the entries: %v, %w", next != nil, err)
	}
	vr, err := v.Finish(time.Time{})
	if err != nil {
		return nil, fmt.Errorf("the source's log does not verify: %w", err)
	}
	if !bytes.Equal(vr.Root, latest.root) {
		// The verifier's tree, of the same leaves: this does not happen.
		return nil, fmt.Errorf("the verifier's root %x is not the latest checkpoint's %x", vr.Root, latest.root)
	}
	if err := ledger.RebuildIndexes(st); err != nil {
		return nil, fmt.Errorf("rebuild the indexes: %w", err)
	}
	if err := st.DB().Sync(); err != nil {
		return nil, err
	}
	return rep, st.Close()
}

// certificate fetches a signer's certificate for the verifier (which
// checks its digest) and keeps it for the next batch stored.
func (r *run) certificate(ctx context.Context, sha []byte) ([]byte, error) {
	der, err := r.o.Source.Certificate(ctx, sha)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.certs[string(sha)] = der
	r.mu.Unlock()
	return der, nil
}

func (r *run) takeCerts() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.certs
	r.certs = map[string][]byte{}
	return out
}

// genesisAgreement parses the pinned genesis envelope as entry 0.
func genesisAgreement(genesis []byte) (*agreement.Agreement, error) {
	if len(genesis) == 0 {
		return nil, errors.New("no genesis agreement: the restore checks entry 0 against the primary's agreement.envelope")
	}
	leaf, err := entry.NewLeaf(0, time.Now().UTC(), genesis, nil)
	if err != nil {
		return nil, fmt.Errorf("the genesis agreement: %w", err)
	}
	history, err := verify.Agreements([]uint64{0}, [][]byte{leaf}, genesis)
	if err != nil {
		return nil, fmt.Errorf("the genesis agreement: %w", err)
	}
	return history[0], nil
}

// check runs the checks of server --verify-db on the restored file.
func check(path string) error {
	rep, err := dbcheck.File(path)
	if err != nil {
		return fmt.Errorf("check the restored file: %w", err)
	}
	if !rep.OK() {
		var b bytes.Buffer
		for _, d := range rep.Damage {
			fmt.Fprintf(&b, "\n  %s", d)
		}
		return fmt.Errorf("the restored file fails the checks of --verify-db (%s):%s", rep.Summary(), b.String())
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
