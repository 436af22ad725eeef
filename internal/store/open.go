package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mvm-exchange/mvm/internal/boltpage"
)

// Errors of Open a caller may branch on.
var (
	// ErrInUse means another process holds the database file's lock: a
	// server is most likely running on it.
	ErrInUse = errors.New("is in use (is a server running on it?)")
	// ErrDamaged means the file is not a sound bbolt database: Open
	// refused it before bbolt could fault, panic or start over in it.
	ErrDamaged = errors.New("is damaged")
)

// lockWait is how long Open waits for another process's lock on the file:
// long enough for a server that is stopping to let go, short enough that a
// second server on the same file fails at once.
const lockWait = 500 * time.Millisecond

// Open opens or creates the database at path.
//
// An existing file is checked before bbolt opens it (boltpage.Check: its
// meta pages, its size against their high-water mark, its root and free
// list pages), and bbolt's own open and first transaction run with panics
// and memory faults turned into errors: a damaged file is an error wrapping
// [ErrDamaged] that names `server --verify-db`, never a crash, and an
// existing empty file is never made into a new database. A file locked by
// another process is [ErrInUse].
func Open(path string, o Options) (*Store, error) {
	created := false
	if !o.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	switch _, err := os.Stat(path); {
	case errors.Is(err, os.ErrNotExist) && !o.ReadOnly:
		created = true
	case err != nil:
		return nil, fmt.Errorf("open store: %w", err)
	default:
		if err := boltpage.Check(path); err != nil {
			return nil, damaged(path, err)
		}
	}
	s, err := open(path, o, created)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("database %s %w", path, ErrInUse)
	}
	if err != nil {
		return nil, err
	}
	s.created = created
	return s, nil
}

// damaged is the error for a file Open refuses or bbolt fails on.
func damaged(path string, cause error) error {
	return fmt.Errorf("database %s %w: %w; check it with `server --verify-db %s`, then restore it from a backup or a mediator node", path, ErrDamaged, cause, path)
}

// open is Open once the file passed its check. bbolt trusts the rest of
// the file, which can still make it panic ("invalid page type") or fault
// on a page it maps: both become errors here.
func open(path string, o Options, created bool) (s *Store, err error) {
	var db *bolt.DB
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				closeAfterPanic(db)
			}
			s, err = nil, damaged(path, fmt.Errorf("bbolt failed on it: %v", r))
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait, NoSync: o.NoSync, ReadOnly: o.ReadOnly, InitialMmapSize: o.InitialMmapSize,
		// The freelist is persisted (NoFreelistSync is off): without it
		// bbolt rebuilds it at every open by reading every page, so
		// start-up grows with the log and any damaged page anywhere
		// faults at open. The persisted page is checked by boltpage.Check.
		FreelistType: bolt.FreelistMapType, PageSize: o.PageSize})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, err
		}
		if isDamage(err) {
			return nil, damaged(path, err)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s = &Store{db: db}
	if created && !o.NoSync {
		// A new file survives a power cut only once its directory entry is
		// on disk too.
		if err := syncDir(filepath.Dir(path)); err != nil {
			db.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	if !o.ReadOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bEntries, bHashes, bCheckpoints, bCosignatures, bCerts, bMsgIDs, bPackages, bMeta, bAgreements, bPkgList, bPkgDue} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return migrateNodes(tx)
		})
		if err != nil {
			db.Close()
			if isDamage(err) {
				return nil, damaged(path, fmt.Errorf("create buckets: %w", err))
			}
			return nil, fmt.Errorf("open store %s: create buckets: %w", path, err)
		}
	}
	if !o.ReadOnly && !o.NoSync {
		s.zero = newZeroer(path)
	}
	return s, nil
}

// isDamage says whether a bbolt error is about the file's contents (as
// opposed to, say, its permissions or the disk).
func isDamage(err error) bool {
	for _, e := range []error{berrors.ErrInvalid, berrors.ErrVersionMismatch, berrors.ErrChecksum,
		berrors.ErrIncompatibleValue, berrors.ErrInvalidMapping} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// closeAfterPanic closes a database whose open or first transaction
// panicked (the transaction rolled back as the panic unwound), ignoring
// what a damaged file makes Close do.
func closeAfterPanic(db *bolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}

// Created says whether Open made a new file (rather than opening one that
// existed): only in a file it created may a new log begin.
func (s *Store) Created() bool { return s.created }

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	s.zero.close()
	return err
}
