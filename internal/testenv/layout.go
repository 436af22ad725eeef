package testenv

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mvm-exchange/mvm/internal/store"
)

// OldNodesLayout rewrites the tree of a store file as files before the
// hashes bucket kept it, nodes/<level> → 8-byte index → hash, for tests of
// the migration and of checks on old files (backups, say).
func OldNodesLayout(tx *bolt.Tx) error {
	old, err := tx.CreateBucket([]byte("nodes"))
	if err != nil {
		return err
	}
	err = tx.Bucket([]byte(store.BucketHashes)).ForEach(func(k, v []byte) error {
		id, ok := store.HashID(k)
		if !ok {
			return fmt.Errorf("hashes key %x is not a stored-hash index", k)
		}
		lb, err := old.CreateBucketIfNotExists([]byte{byte(id.Level)})
		if err != nil {
			return err
		}
		return lb.Put(binary.BigEndian.AppendUint64(nil, id.Index), bytes.Clone(v))
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket([]byte(store.BucketHashes))
}
