package dbcheck

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func index(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

func numKey(k []byte) string {
	if i, ok := index(k); ok {
		return fmt.Sprint(i)
	}
	return "0x" + hex.EncodeToString(k)
}

func msgIDKey(k []byte) string {
	author, id, ok := bytes.Cut(k, []byte{0})
	if !ok {
		return fmt.Sprintf("%q", k)
	}
	return fmt.Sprintf("%q", string(author)+" "+string(id))
}

func packageKey(k []byte) string {
	if len(k) < 9 || k[len(k)-9] != 0 {
		return fmt.Sprintf("%q", k)
	}
	return fmt.Sprintf("%q", fmt.Sprintf("%s@%d", k[:len(k)-9], binary.BigEndian.Uint64(k[len(k)-8:])))
}

// has reports whether b holds key k (with any value, empty included).
func has(b *bolt.Bucket, k []byte) ([]byte, bool) {
	if b == nil {
		return nil, false
	}
	got, v := b.Cursor().Seek(k)
	if got == nil || !bytes.Equal(got, k) {
		return nil, false
	}
	return v, true
}

// bucketCursor iterates a bucket that may be missing.
type bucketCursor struct{ c *bolt.Cursor }

func cursor(b *bolt.Bucket) bucketCursor {
	if b == nil {
		return bucketCursor{}
	}
	return bucketCursor{b.Cursor()}
}

func (b bucketCursor) first() ([]byte, []byte) {
	if b.c == nil {
		return nil, nil
	}
	return b.c.First()
}

func (b bucketCursor) next() ([]byte, []byte) {
	if b.c == nil {
		return nil, nil
	}
	return b.c.Next()
}
