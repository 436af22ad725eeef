// Package spill is a map from string keys to values that keeps the keys
// and values in a temporary file instead of the heap: for what grows with
// the length of a log, like an auditor's package states and message ids.
//
// What it guarantees:
//
//   - Exact: Get returns the value of the last Put of that key. Keys are
//     compared in full. The in-memory index holds, per key, a 28-bit
//     fingerprint of the key and the file offset of its latest record; a
//     fingerprint that matches is confirmed by reading the key back.
//   - Memory: the index is 8 bytes a slot with 4/3 to 8/3 slots a key
//     (about 11 to 22 bytes a key), allocated outside the Go heap where
//     the system allows (so it does not raise the garbage collector's
//     heap goal), plus at most Options.Cache decoded values, a 256 KiB
//     write buffer and a read buffer the size of the largest record. Keys
//     and values are only in the file.
//   - The file is written sequentially and read with pread
//     (os.File.ReadAt), never mapped into memory: what the kernel caches
//     of it is page cache, not memory of the process.
//   - The file is created in Options.Dir (default os.TempDir()) with mode
//     0600 and unlinked at once where the system allows it, so that not
//     even a crash leaves it behind; otherwise Close removes it.
//   - Limits: 2^28 index slots (about 200 million keys) and a 512 GiB
//     file; beyond them Put returns ErrFull.
//
// A Map is not safe for concurrent use. Records are never rewritten: a
// Put appends a new record, so the file grows with the number of Puts.
package spill

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
)

// ErrFull: the map reached one of its limits.
var ErrFull = errors.New("spill: map full")

// Codec encodes and decodes values.
type Codec[V any] struct {
	// Append appends the encoding of v to b.
	Append func(b []byte, v V) []byte
	// Decode decodes what Append made. It must not keep b.
	Decode func(b []byte) (V, error)
}

// Options of a Map.
type Options struct {
	// Dir holds the file (default os.TempDir()).
	Dir string
	// Cache is how many decoded values are kept in memory (clock
	// replacement); 0 keeps none.
	Cache int
	// Keys, if known, sizes the index for that many keys up front.
	Keys int
}

// Map is a map from string keys to values of type V, kept in a file.
type Map[V any] struct {
	codec Codec[V]
	f     *os.File
	path  string // still to remove, if the early unlink failed
	seed  maphash.Seed
	fp    func(key string) uint64 // tests: a fingerprint other than the hash
	idx   index

	size    int64  // bytes of records, pending ones included
	flushed int64  // bytes written to the file
	pending []byte // records not yet written, from offset flushed on
	rbuf    []byte // for reading records
	enc     []byte // for encoding values

	cache map[string]*cached[V]
	ring  []*cached[V] // clock replacement over the cache
	hand  int
	cap   int
}

type cached[V any] struct {
	key string
	off int64 // of the key's latest record
	v   V
	ref bool
}

const (
	fpBits    = 28
	offBits   = 64 - fpBits // record offset / align + 1; 0 is an empty slot
	align     = 8
	minBits   = 10
	flushAt   = 256 << 10
	firstRead = 256
)

// New creates an empty map in a new temporary file.
func New[V any](codec Codec[V], o Options) (*Map[V], error) {
	dir := o.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "mvm-spill-*")
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	m := &Map[V]{codec: codec, f: f, seed: maphash.MakeSeed(), cap: max(0, o.Cache),
		cache: map[string]*cached[V]{}, rbuf: make([]byte, firstRead)}
	if err := os.Remove(f.Name()); err != nil {
		m.path = f.Name() // removed by Close instead
	}
	bits := minBits
	for bits < fpBits && uint64(o.Keys)*4 > uint64(3)<<bits {
		bits++
	}
	if err := m.idx.init(bits); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Len returns the number of keys.
func (m *Map[V]) Len() int { return m.idx.n }

// Close releases the index and closes and removes the file. The map is
// unusable afterwards.
func (m *Map[V]) Close() error {
	if m.idx.release != nil {
		m.idx.release()
		m.idx = index{}
	}
	m.cache, m.ring = nil, nil
	if m.f == nil {
		return nil
	}
	err := m.f.Close()
	m.f = nil
	if m.path != "" {
		if rerr := os.Remove(m.path); rerr != nil && err == nil {
			err = rerr
		}
		m.path = ""
	}
	return err
}

// Get returns the value of key.
func (m *Map[V]) Get(key string) (v V, ok bool, err error) {
	if c, hit := m.cache[key]; hit {
		c.ref = true
		return c.v, true, nil
	}
	fp := m.fingerprint(key)
	_, off, val, found, err := m.find(key, fp)
	if err != nil || !found {
		return v, false, err
	}
	if v, err = m.codec.Decode(val); err != nil {
		return v, false, fmt.Errorf("spill: record at %d: %w", off, err)
	}
	m.remember(key, off, v)
	return v, true, nil
}

// Put sets the value of key.
func (m *Map[V]) Put(key string, v V) error { return m.put(key, v, nil) }

// PutEncoded is Put for a caller that has encoded v already: enc must be
// the codec's Append(nil, v), and is written as it is (a mediator node
// stores the same encoding, and makes it once); nil: encoded here. enc is
// not kept.
func (m *Map[V]) PutEncoded(key string, v V, enc []byte) error { return m.put(key, v, enc) }

// put is Put with v's encoding, nil: made here.
func (m *Map[V]) put(key string, v V, enc []byte) error {
	fp := m.fingerprint(key)
	if c, hit := m.cache[key]; hit {
		pos := m.idx.exact(fp, c.off)
		if pos < 0 {
			return fmt.Errorf("spill: cached key lost from the index")
		}
		off, err := m.append(key, v, enc)
		if err != nil {
			return err
		}
		m.idx.slots[pos] = slot(fp, off)
		c.off, c.v, c.ref = off, v, true
		return nil
	}
	pos, _, _, found, err := m.find(key, fp)
	if err != nil {
		return err
	}
	if !found {
		return m.insert(key, fp, v, enc)
	}
	off, err := m.append(key, v, enc)
	if err != nil {
		return err
	}
	m.idx.slots[pos] = slot(fp, off)
	m.remember(key, off, v)
	return nil
}

// Add sets the value of key if key has none; if it has one, Add returns
// it and changes nothing.
func (m *Map[V]) Add(key string, v V) (old V, exists bool, err error) {
	if c, hit := m.cache[key]; hit {
		c.ref = true
		return c.v, true, nil
	}
	fp := m.fingerprint(key)
	_, off, val, found, err := m.find(key, fp)
	if err != nil {
		return old, false, err
	}
	if found {
		if old, err = m.codec.Decode(val); err != nil {
			return old, true, fmt.Errorf("spill: record at %d: %w", off, err)
		}
		return old, true, nil
	}
	return old, false, m.insert(key, fp, v, nil)
}

// insert adds key, which is not in the map.
func (m *Map[V]) insert(key string, fp uint64, v V, enc []byte) error {
	x := &m.idx
	if uint64(x.n+1)*4 > uint64(len(x.slots))*3 {
		if x.bits == fpBits {
			return fmt.Errorf("%w: %d keys", ErrFull, x.n)
		}
		if err := x.grow(); err != nil {
			return err
		}
	}
	off, err := m.append(key, v, enc)
	if err != nil {
		return err
	}
	x.slots[x.empty(fp)] = slot(fp, off)
	x.n++
	m.remember(key, off, v)
	return nil
}

// All calls fn with every key and its value, in no particular order. fn
// must not change the map.
func (m *Map[V]) All(fn func(key string, v V) error) error {
	if err := m.flush(); err != nil {
		return err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(m.f, 0, m.size), 1<<20)
	var buf []byte
	for off := int64(0); off < m.size; {
		klen, err1 := binary.ReadUvarint(r)
		vlen, err2 := binary.ReadUvarint(r)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("spill: record at %d: %w", off, err)
		}
		n := recordSize(klen, vlen)
		if uint64(cap(buf)) < klen+vlen {
			buf = make([]byte, klen+vlen)
		}
		body := buf[:klen+vlen]
		if _, err := io.ReadFull(r, body); err != nil {
			return fmt.Errorf("spill: record at %d: %w", off, err)
		}
		if _, err := r.Discard(int(n - uvarintLen(klen) - uvarintLen(vlen) - int64(klen+vlen))); err != nil {
			return fmt.Errorf("spill: record at %d: %w", off, err)
		}
		key := string(body[:klen])
		if m.idx.exact(m.fingerprint(key), off) >= 0 { // the key's latest record
			var v V
			var err error
			if c, hit := m.cache[key]; hit {
				v = c.v
			} else if v, err = m.codec.Decode(body[klen:]); err != nil {
				return fmt.Errorf("spill: record at %d: %w", off, err)
			}
			if err := fn(key, v); err != nil {
				return err
			}
		}
		off += n
	}
	return nil
}

func (m *Map[V]) fingerprint(key string) uint64 {
	if m.fp != nil {
		return m.fp(key)
	}
	return maphash.String(m.seed, key) >> (64 - fpBits)
}

// find looks key up in the index. If found, pos is its slot and off and
// val its latest record and value (val valid until the next read).
func (m *Map[V]) find(key string, fp uint64) (pos int, off int64, val []byte, found bool, err error) {
	x := &m.idx
	for i := x.home(fp); ; i = (i + 1) & x.mask() {
		s := x.slots[i]
		if s == 0 {
			return int(i), 0, nil, false, nil
		}
		if s>>offBits != fp {
			continue
		}
		off := slotOffset(s)
		k, v, err := m.read(off)
		if err != nil {
			return 0, 0, nil, false, err
		}
		if string(k) == key {
			return int(i), off, v, true, nil
		}
	}
}

// remember keeps a decoded value in the cache.
func (m *Map[V]) remember(key string, off int64, v V) {
	if m.cap == 0 {
		return
	}
	if len(m.ring) < m.cap {
		c := &cached[V]{key: key, off: off, v: v}
		m.ring = append(m.ring, c)
		m.cache[key] = c
		return
	}
	for {
		c := m.ring[m.hand]
		m.hand = (m.hand + 1) % len(m.ring)
		if c.ref {
			c.ref = false
			continue
		}
		delete(m.cache, c.key)
		*c = cached[V]{key: key, off: off, v: v}
		m.cache[key] = c
		return
	}
}
