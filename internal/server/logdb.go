package server

// The log's database: opened (or begun with the genesis), its ledger
// started on it, both closed, and its indexes rebuilt offline.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
)

// openLog opens the database and recovers its log, or begins a new log
// with the genesis agreement, but only in a file this call created: an
// existing file without a log (an empty file, or one whose genesis was
// never committed) is an error, and a new file is removed again if the
// log could not begin in it.
func openLog(cfg Config, signer note.Signer, genesis []byte, hk hooks) (*store.Store, *ledger.Ledger, error) {
	st, err := store.Open(cfg.DB, store.Options{})
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*store.Store, *ledger.Ledger, error) {
		st.Close()
		if st.Created() {
			_ = os.Remove(cfg.DB)
		}
		return nil, nil, err
	}
	if !st.Created() {
		size, err := st.Size()
		if err != nil {
			return fail(err)
		}
		if size == 0 {
			return fail(fmt.Errorf("database %s holds no log, and a new log begins only in a file the server creates: remove it to begin a new log, or give the file that holds the log (if it should hold one, check it with `server --verify-db %s`)", cfg.DB, cfg.DB))
		}
	}
	l, err := openLedger(cfg, st, signer, genesis, hk)
	if err != nil {
		if errors.Is(err, ledger.ErrNoGenesis) {
			err = fmt.Errorf("%w: %s is missing (run scripts/gen-certs.sh)", err, cfg.Agreement)
		} else if !st.Created() {
			err = fmt.Errorf("%w; check the database with `server --verify-db %s`", err, cfg.DB)
		}
		return fail(err)
	}
	return st, l, nil
}

// hooks are the server's seams in the ledger (ledger.Config).
type hooks struct {
	committed func(int, time.Duration)
	release   func(ctx context.Context, index, size uint64) error
}

// openLedger recovers the log. Recovery reads the whole right edge of the
// tree and the latest entries through bbolt, which trusts the pages it
// reads: a damaged page deeper in the file than store.Open checks can make
// it panic or fault, which becomes an error here. (The ledger is not
// running yet when it fails: nothing else holds the file.)
func openLedger(cfg Config, st *store.Store, signer note.Signer, genesis []byte, hk hooks) (l *ledger.Ledger, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			l, err = nil, fmt.Errorf("database %s %w: bbolt failed on it while the log was recovered: %v", cfg.DB, store.ErrDamaged, r)
		}
	}()
	lc := ledger.Config{Store: st, Signer: signer, Genesis: genesis, Logger: cfg.Logger,
		MaxBatch: cfg.MaxBatch, Committed: hk.committed, Release: hk.release}
	if cfg.Commit != nil {
		lc.Commit = func(b *store.Batch) error { return cfg.Commit(b, st.Commit) }
	}
	return ledger.Open(lc)
}

// closeLog stops the follower (a node), the ledger, and the store if st
// is not nil.
func (s *Server) closeLog(l *ledger.Ledger, st *store.Store) {
	if s.stopFollower != nil {
		s.stopFollower()
	}
	l.Close()
	if st != nil {
		st.Close()
	}
}

// RebuildIndexes recomputes the indexes of a database file from its
// entries. The server must not be running on it.
func RebuildIndexes(db string) error {
	st, err := store.Open(db, store.Options{})
	if err != nil {
		return err
	}
	if err := ledger.RebuildIndexes(st); err != nil {
		st.Close()
		return err
	}
	return st.Close()
}
