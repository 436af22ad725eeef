package verify

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/mvm-exchange/mvm/internal/tlog"
)

// The encoding of a saved state: uvarints and length-prefixed blobs, every
// byte written or read also hashed, for the SHA-256 that ends the state.

// edgeReader gives NewTree the saved right edge.
type edgeReader [][]byte

func (e edgeReader) ReadNodes(ids []tlog.NodeID) ([][]byte, error) {
	if len(ids) != len(e) {
		return nil, fmt.Errorf("the tree's edge has %d hashes, a tree of its size %d", len(e), len(ids))
	}
	return e, nil
}

type stateWriter struct {
	w   io.Writer
	h   hash.Hash
	err error
	buf []byte
}

func (s *stateWriter) bytes(b []byte) {
	if s.err == nil {
		s.h.Write(b)
		_, s.err = s.w.Write(b)
	}
}

func (s *stateWriter) uvarint(x uint64) {
	s.buf = binary.AppendUvarint(s.buf[:0], x)
	s.bytes(s.buf)
}

func (s *stateWriter) blob(b []byte) {
	s.uvarint(uint64(len(b)))
	s.bytes(b)
}

type stateReader struct {
	r   *bufio.Reader
	h   hash.Hash
	err error
}

func (s *stateReader) bytes(n int) []byte {
	b := make([]byte, n)
	if s.err != nil {
		return b
	}
	if _, err := io.ReadFull(s.r, b); err != nil {
		s.err = fmt.Errorf("truncated: %w", err)
		return b
	}
	s.h.Write(b)
	return b
}

func (s *stateReader) uvarint() uint64 {
	if s.err != nil {
		return 0
	}
	var buf [binary.MaxVarintLen64]byte
	for i := range buf {
		c, err := s.r.ReadByte()
		if err != nil {
			s.err = fmt.Errorf("truncated: %w", err)
			return 0
		}
		buf[i] = c
		if c < 0x80 {
			s.h.Write(buf[:i+1])
			x, n := binary.Uvarint(buf[:i+1])
			if n <= 0 {
				s.err = errors.New("a malformed number")
			}
			return x
		}
	}
	s.err = errors.New("a malformed number")
	return 0
}

// count reads a count of at most limit (no limit if negative).
func (s *stateReader) count(limit int) uint64 {
	n := s.uvarint()
	if limit >= 0 && n > uint64(limit) && s.err == nil {
		s.err = fmt.Errorf("a count of %d, at most %d", n, limit)
	}
	return n
}

func (s *stateReader) blob() []byte {
	n := s.uvarint()
	if n > maxStateBlob && s.err == nil {
		s.err = fmt.Errorf("a record of %d bytes, at most %d", n, maxStateBlob)
	}
	if s.err != nil {
		return nil
	}
	return s.bytes(int(n))
}
