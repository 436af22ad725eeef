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

// readAhead is how many plaintext blocks SealTo's reader may hold ahead
// of the sealing.
const readAhead = 2

// plainBlock is plaintext chunks [first, end), read and hashed: sums[j]
// is the SHA-256 of the plaintext up to the end of chunk first+j, which
// that chunk's version 2 nonce needs.
type plainBlock struct {
	data       []byte
	n          int
	first, end int64
	sums       [blockChunks][sha256.Size]byte
}

// SealTo writes the sealed file of the plaintext plain gives to w, header
// first, reading plain once and in order (what a one-pass upload needs:
// a version 2 cipher, whose nonces need nothing but the bytes at hand;
// a version 1 cipher seals the same way once its nonce is known), and
// returns the plaintext's SHA-256, computed on the way. plain must give
// exactly the size the header names: fewer or more bytes (the file
// changed while it was read) is an error.
//
// The plaintext is read and hashed on a goroutine of its own, up to
// readAhead blocks of 1 MiB ahead of the sealing (a chunk's nonce needs
// the running digest up to its end, which the reader records per chunk,
// not the sealing of the chunks before): the two passes run side by side
// on two cores, and w is called from the caller's goroutine only.
func SealTo(w io.Writer, c *Cipher, plain io.Reader) ([]byte, error) {
	if _, err := w.Write(c.hdr); err != nil {
		return nil, err
	}
	free, full, done := make(chan *plainBlock, readAhead), make(chan *plainBlock, readAhead), make(chan struct{})
	for range readAhead {
		free <- &plainBlock{data: make([]byte, blockChunks*ChunkSize)}
	}
	var sum []byte // the reader's result, once full is closed
	var rerr error // or its error
	go func() {
		defer close(full)
		sum, rerr = c.readPlain(plain, free, full, done)
	}()
	defer func() {
		close(done)
		for range full { // the reader has ended before SealTo returns
		}
	}()
	ct := make([]byte, 0, blockChunks*c.sealed)
	for b := range full {
		ct = ct[:0]
		p := b.data[:b.n]
		for i := b.first; i < b.end; i++ {
			k := c.plainLen(i)
			ct = c.sealChunk(ct, p[:k], i, &b.sums[i-b.first])
			p = p[k:]
		}
		free <- b // never waits: there are readAhead blocks
		if _, err := w.Write(ct); err != nil {
			return nil, err
		}
	}
	if rerr != nil {
		return nil, rerr
	}
	return sum, nil
}

// readPlain reads and hashes plain into the blocks free gives and hands
// each to full, until the end of the plaintext or done is closed, and
// returns the plaintext's SHA-256.
func (c *Cipher) readPlain(plain io.Reader, free <-chan *plainBlock, full chan<- *plainBlock, done <-chan struct{}) ([]byte, error) {
	ph := sha256.New()
	for i := int64(0); i < c.chunks; {
		var b *plainBlock
		select {
		case b = <-free:
		case <-done:
			return nil, nil
		}
		// The plaintext of chunks [i, end), read at once.
		end := min(i+blockChunks, c.chunks)
		n := int((end-1-i)*ChunkSize) + c.plainLen(end-1)
		if k, err := io.ReadFull(plain, b.data[:n]); k != n {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("sealedfile: reading plaintext chunk %d: %d of %d bytes (the file shrank?): %w", i, i*ChunkSize+int64(k), c.h.Size, err)
		}
		b.n, b.first, b.end = n, i, end
		for p := b.data[:n]; i < end; i++ {
			k := c.plainLen(i)
			ph.Write(p[:k])
			ph.Sum(b.sums[i-b.first][:0])
			p = p[k:]
		}
		select {
		case full <- b:
		case <-done:
			return nil, nil
		}
	}
	var probe [1]byte
	if k, _ := io.ReadFull(plain, probe[:]); k > 0 {
		return nil, fmt.Errorf("sealedfile: the plaintext has more than the %d bytes the header names (the file grew?)", c.h.Size)
	}
	return ph.Sum(nil), nil
}
