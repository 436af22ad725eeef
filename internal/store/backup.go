package store

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Bucket and meta key names, for tools that read a database file directly
// (the offline check in internal/dbcheck). The layout is described in the
// package documentation; BucketHashes is keyed by [HashKey].
const (
	BucketEntries      = "entries"
	BucketHashes       = "hashes"
	BucketCheckpoints  = "checkpoints"
	BucketCosignatures = "cosignatures"
	BucketCerts        = "certs"
	BucketMsgIDs       = "msgids"
	BucketPackages     = "packages"
	BucketAgreements   = "agreements"
	BucketMeta         = "meta"
	BucketPkgState     = "pkgstate" // package states up to index format 3 (now in packages)
	BucketPkgList      = "pkglist"
	BucketPkgDue       = "pkgdue"

	MetaSize      = "size"
	MetaAgreement = "agreement"
	MetaPkgIndex  = "pkgindex"
)

// BackupInfo describes a copy made by [Store.Backup].
type BackupInfo struct {
	// Size is the number of entries in the copy.
	Size uint64
	// Checkpoint is the copy's latest signed checkpoint, of size Size.
	Checkpoint []byte
	// Bytes is the length of the copy.
	Bytes int64
}

// Backup writes a consistent copy of the database file to w: a bbolt
// Tx.WriteTo inside one read transaction, so it sees exactly the batches
// committed when it began, and the writer goes on committing meanwhile.
// The copy is a complete bbolt file, ready to be opened by a server.
//
// A read transaction holds bbolt's mmap lock for reading: if a commit
// needs to grow the file while the copy is being written, that commit
// waits for the copy. So w should be fast (a local file, see
// [Store.BackupToTemp]), never a slow network peer.
func (s *Store) Backup(w io.Writer) (BackupInfo, error) {
	var info BackupInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		info.Size = getU64(tx.Bucket(bMeta).Get(kSize))
		if info.Size > 0 {
			k, v := tx.Bucket(bCheckpoints).Cursor().Last()
			if k == nil || getU64(k) != info.Size {
				return fmt.Errorf("backup: the latest checkpoint does not cover the log's %d entries", info.Size)
			}
			info.Checkpoint = bytes.Clone(v)
		}
		n, err := tx.WriteTo(w)
		info.Bytes = n
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		return nil
	})
	return info, err
}

// BackupToTemp makes a [Store.Backup] into an anonymous temporary file in
// the database's own directory (the same file system and permissions as
// the database; the file is unlinked at once, so nothing is left behind
// even by a crash) and returns it positioned at its start. The read
// transaction lasts only as long as a local copy; the caller may then
// stream the file as slowly as its reader wants. Close the file when done.
func (s *Store) BackupToTemp() (*os.File, BackupInfo, error) {
	f, err := os.CreateTemp(filepath.Dir(s.db.Path()), ".backup-*")
	if err != nil {
		return nil, BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info, err := s.Backup(f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, BackupInfo{}, err
	}
	return f, info, nil
}
