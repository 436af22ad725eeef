// Package sealedfile encrypts an evidence file on the client, so that the
// exchange stores ciphertext only, in authenticated chunks a reader can
// decrypt one by one (constant memory) and from any chunk (ranges).
//
// The format is the STREAM construction (Hoang, Reyhanitabar, Rogaway and
// Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
// Misuse-Resistance", CRYPTO 2015) laid out as age's payload
// (filippo.io/age, age-encryption.org/v1): 64 KiB plaintext chunks, each
// sealed with a 12-byte nonce made of an 11-byte big-endian chunk counter
// and a last-chunk flag byte, under a per-file key; with AES-256-GCM in
// place of ChaCha20-Poly1305 (hardware AES on the servers and laptops the
// parties use, and the AEAD the rest of the exchange uses).
//
//	sealed file = header | chunk 0 | chunk 1 | ... | chunk n-1
//	header      = "mvef" | version 1 | file nonce (16) | plaintext size (8, big-endian)
//	chunk i     = AES-256-GCM(file key, counter i || last flag, plaintext[i*64KiB:][:64KiB], aad = header)
//
// Every chunk authenticates the whole header, so a changed size, nonce or
// version fails every chunk. A file has ceil(size/64 KiB) chunks, at
// least one (an empty file has one empty chunk); only the last carries
// the flag, so a file cut at a chunk boundary, chunks swapped or dropped,
// or a chunk from another file is refused ([ErrOpen]).
//
// # Keys
//
// The file key is HKDF-SHA256 of the package key (package seal) with the
// file nonce as salt and the package id in the info string, so a file
// decrypts only with its package's key. The file nonce is not random:
// it is HMAC-SHA256, under a second key derived from the package key, of
// the plaintext's SHA-256, cut to 16 bytes. The same file on the same
// package therefore always seals to the same bytes, which is what lets an
// interrupted upload resume (the stored object's name, the ciphertext
// digest, must be known before the upload and be the same on the next
// run); the server, which holds no package key, cannot compute it, so it
// cannot confirm a guess of the plaintext. Two different files give
// different nonces, hence different keys: no (key, nonce) pair is used
// twice.
//
// Size: [SealedSize] is the plaintext size plus [HeaderSize] plus
// [TagSize] per chunk (about 0.02%). The plaintext size is visible to the
// server, as the ciphertext's size would show it anyway.
package sealedfile

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mvm-exchange/mvm/internal/seal"
)

// Format constants.
const (
	// ChunkSize is the plaintext size of every chunk but the last.
	ChunkSize = 64 << 10
	// TagSize is what each chunk adds: the GCM tag.
	TagSize = 16
	// NonceSize is the size of a file nonce.
	NonceSize = 16
	// HeaderSize is the size of the header that starts a sealed file.
	HeaderSize = 4 + 1 + NonceSize + 8
	// MaxSize bounds a plaintext size a header may declare (far above
	// any evidence limit; it keeps offsets within an int64).
	MaxSize = 1 << 50

	version      = 1
	sealedChunk  = ChunkSize + TagSize
	counterBytes = 11
)

var magic = [4]byte{'m', 'v', 'e', 'f'}

// Errors a caller may branch on.
var (
	// ErrOpen: a chunk does not decrypt: the file was changed, cut,
	// reordered, or sealed under another package key or package.
	ErrOpen = errors.New("sealed evidence file does not open: changed, truncated, or sealed for another package")
	// ErrMalformed: the bytes are not a sealed evidence file of this
	// format (magic, version, size).
	ErrMalformed = errors.New("not a sealed evidence file of this format")
)

// Header is what starts a sealed file.
type Header struct {
	Nonce [NonceSize]byte
	Size  int64 // of the plaintext
}

// Marshal returns the header's HeaderSize bytes.
func (h Header) Marshal() []byte {
	b := make([]byte, 0, HeaderSize)
	b = append(b, magic[:]...)
	b = append(b, version)
	b = append(b, h.Nonce[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(h.Size))
}

// ParseHeader reads the header at the start of b.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, fmt.Errorf("%w: %d bytes, a header has %d", ErrMalformed, len(b), HeaderSize)
	}
	if [4]byte(b[:4]) != magic {
		return h, fmt.Errorf("%w: no %q magic", ErrMalformed, magic[:])
	}
	if b[4] != version {
		return h, fmt.Errorf("%w: version %d, this client reads %d", ErrMalformed, b[4], version)
	}
	copy(h.Nonce[:], b[5:5+NonceSize])
	size := binary.BigEndian.Uint64(b[5+NonceSize : HeaderSize])
	if size > MaxSize {
		return h, fmt.Errorf("%w: plaintext size %d over %d", ErrMalformed, size, int64(MaxSize))
	}
	h.Size = int64(size)
	return h, nil
}

// Chunks is the number of chunks of a plaintext of size bytes.
func Chunks(size int64) int64 {
	if size <= 0 {
		return 1
	}
	return (size + ChunkSize - 1) / ChunkSize
}

// SealedSize is the size of the sealed file of a plaintext of size bytes.
func SealedSize(size int64) int64 { return HeaderSize + size + Chunks(size)*TagSize }

// contextInfo encodes a label and length-prefixed fields, so that no two
// different contexts share an encoding.
func contextInfo(label string, fields ...string) string {
	b := append([]byte(label), 0)
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return string(b)
}

// FileNonce returns the nonce of the file whose plaintext SHA-256 is
// plainSum on package pkg (see the package doc: deterministic, so an
// upload resumes; keyed, so the server cannot compute it).
func FileNonce(key seal.PackageKey, pkg string, plainSum []byte) ([NonceSize]byte, error) {
	var n [NonceSize]byte
	k, err := hkdf.Key(sha256.New, key[:], nil, contextInfo("mvm-evidence/v1 file-nonce", pkg), 32)
	if err != nil {
		return n, fmt.Errorf("sealedfile: deriving the nonce key: %w", err)
	}
	m := hmac.New(sha256.New, k)
	m.Write(plainSum)
	copy(n[:], m.Sum(nil))
	return n, nil
}

// Cipher seals and opens the chunks of one file.
type Cipher struct {
	h      Header
	hdr    []byte // h.Marshal(), every chunk's associated data
	aead   cipher.AEAD
	chunks int64
}

// NewCipher returns the cipher of the file h describes, on package pkg.
func NewCipher(key seal.PackageKey, pkg string, h Header) (*Cipher, error) {
	if h.Size < 0 || h.Size > MaxSize {
		return nil, fmt.Errorf("%w: plaintext size %d", ErrMalformed, h.Size)
	}
	k, err := hkdf.Key(sha256.New, key[:], h.Nonce[:], contextInfo("mvm-evidence/v1 file", pkg), 32)
	if err != nil {
		return nil, fmt.Errorf("sealedfile: deriving the file key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Cipher{h: h, hdr: h.Marshal(), aead: g, chunks: Chunks(h.Size)}, nil
}

// Header returns the file's header.
func (c *Cipher) Header() Header { return c.h }

// SealedSize is the size of the sealed file.
func (c *Cipher) SealedSize() int64 { return SealedSize(c.h.Size) }

// plainLen is the plaintext length of chunk i.
func (c *Cipher) plainLen(i int64) int {
	if i < c.chunks-1 {
		return ChunkSize
	}
	return int(c.h.Size - (c.chunks-1)*ChunkSize)
}

// sealedOffset is where chunk i starts in the sealed file.
func sealedOffset(i int64) int64 { return HeaderSize + i*sealedChunk }

func (c *Cipher) nonce(i int64) []byte {
	var n [12]byte
	// The counter is 11 bytes; a chunk index fits in the last 8.
	binary.BigEndian.PutUint64(n[counterBytes-8:counterBytes], uint64(i))
	if i == c.chunks-1 {
		n[counterBytes] = 1
	}
	return n[:]
}

// sealChunk appends the sealed chunk i of plaintext p to dst.
func (c *Cipher) sealChunk(dst, p []byte, i int64) []byte {
	return c.aead.Seal(dst, c.nonce(i), p, c.hdr)
}

// openChunk appends the plaintext of sealed chunk i to dst.
func (c *Cipher) openChunk(dst, ct []byte, i int64) ([]byte, error) {
	if i >= c.chunks || len(ct) != c.plainLen(i)+TagSize {
		return nil, fmt.Errorf("%w: chunk %d of %d has %d bytes", ErrOpen, i, c.chunks, len(ct))
	}
	out, err := c.aead.Open(dst, c.nonce(i), ct, c.hdr)
	if err != nil {
		return nil, fmt.Errorf("%w (chunk %d of %d)", ErrOpen, i, c.chunks)
	}
	return out, nil
}
