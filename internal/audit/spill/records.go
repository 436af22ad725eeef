package spill

// The records of the file: appended through a buffer, read back at their
// offsets, their sizes.

import (
	"encoding/binary"
	"fmt"
)

// append adds a record for key and v at the end of the file.
func (m *Map[V]) append(key string, v V, enc []byte) (int64, error) {
	if enc == nil {
		m.enc = m.codec.Append(m.enc[:0], v)
		enc = m.enc
	}
	off := m.size
	n := recordSize(uint64(len(key)), uint64(len(enc)))
	if (off+n)/align >= 1<<offBits-1 {
		return 0, fmt.Errorf("%w: file of %d bytes", ErrFull, off)
	}
	start := len(m.pending)
	m.pending = binary.AppendUvarint(m.pending, uint64(len(key)))
	m.pending = binary.AppendUvarint(m.pending, uint64(len(enc)))
	m.pending = append(m.pending, key...)
	m.pending = append(m.pending, enc...)
	for int64(len(m.pending)-start) < n {
		m.pending = append(m.pending, 0)
	}
	m.size += n
	if len(m.pending) >= flushAt {
		if err := m.flush(); err != nil {
			return 0, err
		}
	}
	return off, nil
}

func (m *Map[V]) flush() error {
	if len(m.pending) == 0 {
		return nil
	}
	if _, err := m.f.Write(m.pending); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	m.flushed += int64(len(m.pending))
	m.pending = m.pending[:0]
	return nil
}

// read returns the key and value of the record at off, valid until the
// next read.
func (m *Map[V]) read(off int64) (key, val []byte, err error) {
	b := m.rbuf[:min(int64(len(m.rbuf)), m.size-off)]
	if err := m.readAt(b, off); err != nil {
		return nil, nil, err
	}
	klen, n1 := binary.Uvarint(b)
	vlen, n2 := uint64(0), 0
	if n1 > 0 {
		vlen, n2 = binary.Uvarint(b[n1:])
	}
	if n1 <= 0 || n2 <= 0 || klen > uint64(m.size) || vlen > uint64(m.size) || int64(n1+n2)+int64(klen+vlen) > m.size-off {
		return nil, nil, fmt.Errorf("spill: bad record at %d", off)
	}
	end := n1 + n2 + int(klen+vlen)
	if end > len(b) {
		if end > len(m.rbuf) {
			m.rbuf = make([]byte, end)
		}
		b = m.rbuf[:end]
		if err := m.readAt(b, off); err != nil {
			return nil, nil, err
		}
	}
	h := n1 + n2
	return b[h : h+int(klen)], b[h+int(klen) : end], nil
}

// readAt fills p from offset off, from the file or the pending records.
func (m *Map[V]) readAt(p []byte, off int64) error {
	if off < m.flushed {
		n := min(int64(len(p)), m.flushed-off)
		if _, err := m.f.ReadAt(p[:n], off); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		p, off = p[n:], off+n
	}
	if len(p) > 0 {
		copy(p, m.pending[off-m.flushed:])
	}
	return nil
}

// recordSize is the size of a record with the given key and value
// lengths, padding included: two uvarint lengths, key, value.
func recordSize(klen, vlen uint64) int64 {
	n := uvarintLen(klen) + uvarintLen(vlen) + int64(klen+vlen)
	return (n + align - 1) / align * align
}

func uvarintLen(v uint64) int64 {
	n := int64(1)
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
