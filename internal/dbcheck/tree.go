package dbcheck

import (
	"bytes"
	"fmt"

	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

// oldNodes is the bucket of the tree in the layout before hashes: one
// sub-bucket per level, named by the level's byte, keyed by index.
const oldNodes = "nodes"

// compareNode is the tree's visitor: every node the leaves complete must
// be stored as it is recomputed.
func (c *checker) compareNode(id tlog.NodeID, hash []byte) {
	c.rep.Nodes++
	var got []byte
	bucket, key := store.BucketHashes, nodeName(id)
	switch {
	case c.nodes != nil:
		got = c.nodes.Get(store.HashKey(id))
	case c.oldNodes != nil:
		bucket, key = fmt.Sprintf("%s/%d", oldNodes, id.Level), fmt.Sprint(id.Index)
		if lb := c.oldNodes.Bucket([]byte{byte(id.Level)}); lb != nil {
			got = lb.Get(u64(id.Index))
		}
	}
	switch {
	case got == nil:
		c.damage(bucket, key, "missing")
	case !bytes.Equal(got, hash):
		what := "the hash of entry"
		if id.Level > 0 {
			what = "the tree recomputed from entries"
		}
		first, last := id.Index<<id.Level, (id.Index+1)<<id.Level-1
		span := fmt.Sprintf("%d", first)
		if last != first {
			span = fmt.Sprintf("%d..%d", first, last)
		}
		c.damage(bucket, key, "stored hash %x differs from %s %s (%x): the node or an entry was altered", got, what, span, hash)
	}
}

// nodeName names a tree node in a damage report: level, index, and its key.
func nodeName(id tlog.NodeID) string {
	return fmt.Sprintf("level %d index %d (key %s)", id.Level, id.Index, numKey(store.HashKey(id)))
}

// checkNodeBuckets finds what compareNode cannot: nodes stored beyond the
// tree, and stray keys.
func (c *checker) checkNodeBuckets() {
	if c.oldNodes != nil {
		c.checkOldNodeBuckets()
	}
	if c.nodes == nil {
		return
	}
	_ = c.nodes.ForEach(func(k, v []byte) error {
		id, ok := store.HashID(k)
		switch {
		case !ok:
			c.damage(store.BucketHashes, numKey(k), "key is not a stored-hash index")
		case v == nil:
			c.damage(store.BucketHashes, nodeName(id), "is a bucket, not a hash")
		case id.Index >= c.size>>id.Level:
			c.damage(store.BucketHashes, nodeName(id), "beyond the tree of %d entries", c.size)
		case len(v) != tlog.HashSize:
			// compareNode reported it differs; say why.
			c.damage(store.BucketHashes, nodeName(id), "hash is %d bytes, not %d", len(v), tlog.HashSize)
		}
		return nil
	})
}

// checkOldNodeBuckets is checkNodeBuckets for the layout before hashes.
func (c *checker) checkOldNodeBuckets() {
	_ = c.oldNodes.ForEach(func(k, v []byte) error {
		if v != nil || len(k) != 1 || k[0] > 63 {
			c.damage(oldNodes, fmt.Sprintf("%q", k), "not a level bucket")
			return nil
		}
		level := uint(k[0])
		bucket := fmt.Sprintf("%s/%d", oldNodes, level)
		complete := c.size >> level
		_ = c.oldNodes.Bucket(k).ForEach(func(nk, nv []byte) error {
			i, ok := index(nk)
			switch {
			case !ok:
				c.damage(bucket, numKey(nk), "key is not an 8-byte index")
			case nv == nil:
				c.damage(bucket, numKey(nk), "is a bucket, not a hash")
			case i >= complete:
				c.damage(bucket, numKey(nk), "beyond the tree of %d entries", c.size)
			case len(nv) != tlog.HashSize:
				c.damage(bucket, numKey(nk), "hash is %d bytes, not %d", len(nv), tlog.HashSize)
			}
			return nil
		})
		return nil
	})
}
