package sealedfile

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// blockChunks is how many chunks SealTo reads and writes at a time: 1 MiB
// of plaintext, few enough system calls and writes for a film.
const blockChunks = 16

// SealTo writes the sealed file of the plaintext plain gives to w, header
// first, reading plain once and in order (what a one-pass upload needs:
// a version 2 cipher, whose nonces need nothing but the bytes at hand;
// a version 1 cipher seals the same way once its nonce is known), and
// returns the plaintext's SHA-256, computed on the way. plain must give
// exactly the size the header names: fewer or more bytes (the file
// changed while it was read) is an error.
func SealTo(w io.Writer, c *Cipher, plain io.Reader) ([]byte, error) {
	if _, err := w.Write(c.hdr); err != nil {
		return nil, err
	}
	ph := sha256.New()
	pt := make([]byte, blockChunks*ChunkSize)
	ct := make([]byte, 0, blockChunks*c.sealed)
	for i := int64(0); i < c.chunks; {
		// The plaintext of chunks [i, end), read at once.
		end := min(i+blockChunks, c.chunks)
		n := int((end-1-i)*ChunkSize) + c.plainLen(end-1)
		if k, err := io.ReadFull(plain, pt[:n]); k != n {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("sealedfile: reading plaintext chunk %d: %d of %d bytes (the file shrank?): %w", i, i*ChunkSize+int64(k), c.h.Size, err)
		}
		ct = ct[:0]
		for p := pt[:n]; i < end; i++ {
			k := c.plainLen(i)
			ph.Write(p[:k])
			ct = c.sealChunk(ct, p[:k], i, ph)
			p = p[k:]
		}
		if _, err := w.Write(ct); err != nil {
			return nil, err
		}
	}
	var probe [1]byte
	if k, _ := io.ReadFull(plain, probe[:]); k > 0 {
		return nil, fmt.Errorf("sealedfile: the plaintext has more than the %d bytes the header names (the file grew?)", c.h.Size)
	}
	return ph.Sum(nil), nil
}
