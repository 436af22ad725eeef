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
//
// # Version 2: sealed in one pass
//
// Version 1's file nonce needs the whole plaintext's digest before the
// first chunk is sealed: a second pass over the file. Version 2, which
// the client seals now ([SealTo]), needs none: its file nonce comes from
// the package key, the plaintext size and its first MiB ([FileNonceV2]),
// read first in the same pass, and each chunk carries its own 12-byte
// GCM nonce, synthetic (as in SIV, RFC 5297): HMAC-SHA256, under a third
// key derived from the package key and the file nonce, of the chunk's
// counter, last flag and the SHA-256 of the plaintext up to the end of
// the chunk (the running digest the sealer computes anyway for the
// submission, so it costs no pass of its own), cut to 12 bytes. The
// counter and flag move from the GCM nonce into each chunk's associated
// data (header | counter (8) | flag), so reordering, dropping and cutting
// are refused as in version 1.
//
//	chunk i (v2) = iv_i | AES-256-GCM(file key, iv_i, plaintext chunk i, aad = header | i | last flag)
//	iv_i         = HMAC-SHA256(iv key, i | last flag | SHA-256(plaintext[:end of chunk i]))[:12]
//
// A (key, GCM nonce) pair is thus used twice only for the same plaintext
// up to the end of the same chunk, which seals to the same bytes:
// whatever file a resumed upload continues, and whatever a server says
// it holds, no keystream is reused for different plaintexts. What the
// server can learn is equality: the same file on the same package seals
// to the same object (as in version 1); two files of one package with the
// same size and the same first MiB share a file key, and the server sees
// how many chunks their common start spans. A chunk of one opens in the
// other at the same place (the nonce is read, not recomputed): whole-file
// reads still refuse it, as the plaintext digest signed in the
// submission does not match; a range read cannot tell. The ciphertext is
// deterministic, so an interrupted upload resumes.
// Readers open both versions.
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
	"hash"

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
	// IVSize is what version 2 adds to each chunk before its tag: the
	// chunk's synthetic GCM nonce.
	IVSize = 12
	// HeaderSize is the size of the header that starts a sealed file.
	HeaderSize = 4 + 1 + NonceSize + 8
	// MaxSize bounds a plaintext size a header may declare (far above
	// any evidence limit; it keeps offsets within an int64).
	MaxSize = 1 << 50

	// Version1 seals with a nonce from the plaintext's digest ([FileNonce]).
	Version1 = 1
	// Version2 seals in one pass ([SealTo], [FileNonceV2]).
	Version2 = 2

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
	// Version is Version1 (also when zero) or Version2.
	Version byte
}

func (h Header) version() byte {
	if h.Version == 0 {
		return Version1
	}
	return h.Version
}

// Marshal returns the header's HeaderSize bytes.
func (h Header) Marshal() []byte {
	b := make([]byte, 0, HeaderSize)
	b = append(b, magic[:]...)
	b = append(b, h.version())
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
	if b[4] != Version1 && b[4] != Version2 {
		return h, fmt.Errorf("%w: version %d, this client reads %d and %d", ErrMalformed, b[4], Version1, Version2)
	}
	h.Version = b[4]
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

// SealedSize is the size of the version 1 sealed file of a plaintext of
// size bytes.
func SealedSize(size int64) int64 { return HeaderSize + size + Chunks(size)*TagSize }

// SealedSizeV2 is the size of the version 2 sealed file of a plaintext of
// size bytes.
func SealedSizeV2(size int64) int64 { return HeaderSize + size + Chunks(size)*(IVSize+TagSize) }

// overhead is what each chunk adds in version v.
func overhead(v byte) int {
	if v == Version2 {
		return IVSize + TagSize
	}
	return TagSize
}

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

// HeadSize is how much of the plaintext's start a version 2 file nonce
// depends on (or all of it, if shorter).
const HeadSize = 1 << 20

// FileNonceV2 returns the nonce of a version 2 file on package pkg whose
// plaintext has size bytes and starts with head, its first HeadSize bytes
// (all of them if fewer): known once the first block is read, so the
// file is sealed in one pass, and the same on every run, so an upload
// resumes. Files that differ in size or start get different file keys,
// so a chunk of one does not open in the other; version 2's GCM nonces
// come from each chunk's plaintext anyway (see the package doc).
func FileNonceV2(key seal.PackageKey, pkg string, size int64, head []byte) ([NonceSize]byte, error) {
	if int64(len(head)) != min(size, HeadSize) {
		return [NonceSize]byte{}, fmt.Errorf("sealedfile: %d bytes of head for a file of %d, want %d", len(head), size, min(size, HeadSize))
	}
	h := sha256.Sum256(head)
	// A v1 input is a 32-byte digest; this one is longer, so the two
	// never meet.
	return FileNonce(key, pkg, append(binary.BigEndian.AppendUint64([]byte("v2 size"), uint64(size)), h[:]...))
}

// Cipher seals and opens the chunks of one file.
type Cipher struct {
	h      Header
	hdr    []byte // h.Marshal(), every chunk's associated data
	aead   cipher.AEAD
	chunks int64
	sealed int64     // a full chunk, sealed
	ivKey  hash.Hash // version 2: HMAC of a chunk's synthetic nonce
}

// NewCipher returns the cipher of the file h describes, on package pkg.
func NewCipher(key seal.PackageKey, pkg string, h Header) (*Cipher, error) {
	if h.Size < 0 || h.Size > MaxSize {
		return nil, fmt.Errorf("%w: plaintext size %d", ErrMalformed, h.Size)
	}
	label := "mvm-evidence/v1 file"
	if h.version() == Version2 {
		label = "mvm-evidence/v2 file"
	}
	k, err := hkdf.Key(sha256.New, key[:], h.Nonce[:], contextInfo(label, pkg), 32)
	if err != nil {
		return nil, fmt.Errorf("sealedfile: deriving the file key: %w", err)
	}
	var ivKey hash.Hash
	if h.version() == Version2 {
		ik, err := hkdf.Key(sha256.New, key[:], h.Nonce[:], contextInfo("mvm-evidence/v2 chunk-iv", pkg), 32)
		if err != nil {
			return nil, fmt.Errorf("sealedfile: deriving the chunk nonce key: %w", err)
		}
		ivKey = hmac.New(sha256.New, ik)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Cipher{h: h, hdr: h.Marshal(), aead: g, chunks: Chunks(h.Size), sealed: int64(ChunkSize + overhead(h.version())), ivKey: ivKey}, nil
}

// Header returns the file's header.
func (c *Cipher) Header() Header { return c.h }

// SealedSize is the size of the sealed file.
func (c *Cipher) SealedSize() int64 {
	return HeaderSize + c.h.Size + c.chunks*int64(overhead(c.h.version()))
}

// plainLen is the plaintext length of chunk i.
func (c *Cipher) plainLen(i int64) int {
	if i < c.chunks-1 {
		return ChunkSize
	}
	return int(c.h.Size - (c.chunks-1)*ChunkSize)
}

// sealedOffset is where chunk i starts in the sealed file.
func (c *Cipher) sealedOffset(i int64) int64 { return HeaderSize + i*c.sealed }

// sealedLen is the sealed length of chunk i.
func (c *Cipher) sealedLen(i int64) int { return c.plainLen(i) + overhead(c.h.version()) }

// aad is version 2's associated data of chunk i: the header, the
// counter and the last flag (version 1 has them in the GCM nonce).
func (c *Cipher) aad(dst []byte, i int64) []byte {
	dst = append(dst, c.hdr...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(i))
	if i == c.chunks-1 {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func (c *Cipher) nonce(i int64) []byte {
	var n [12]byte
	// The counter is 11 bytes; a chunk index fits in the last 8.
	binary.BigEndian.PutUint64(n[counterBytes-8:counterBytes], uint64(i))
	if i == c.chunks-1 {
		n[counterBytes] = 1
	}
	return n[:]
}

// sealChunk appends the sealed chunk i of plaintext p to dst. For
// version 2, prefix is the SHA-256 of the plaintext so far, chunk i
// included (the running digest the sealer keeps anyway): the chunk's
// nonce commits to all of it at the cost of one HMAC of 41 bytes, not a
// pass over the chunk. Version 1 does not read it.
func (c *Cipher) sealChunk(dst, p []byte, i int64, prefix *[sha256.Size]byte) []byte {
	if c.ivKey == nil {
		return c.aead.Seal(dst, c.nonce(i), p, c.hdr)
	}
	var ab [HeaderSize + 9]byte
	aad := c.aad(ab[:0], i)
	var sum [sha256.Size]byte
	c.ivKey.Reset()
	c.ivKey.Write(aad[HeaderSize:])
	c.ivKey.Write(prefix[:])
	iv := c.ivKey.Sum(sum[:0])[:IVSize]
	dst = append(dst, iv...)
	return c.aead.Seal(dst, iv, p, aad)
}

// openChunk appends the plaintext of sealed chunk i to dst.
func (c *Cipher) openChunk(dst, ct []byte, i int64) ([]byte, error) {
	if i >= c.chunks || len(ct) != c.sealedLen(i) {
		return nil, fmt.Errorf("%w: chunk %d of %d has %d bytes", ErrOpen, i, c.chunks, len(ct))
	}
	nonce, ad := c.nonce(i), c.hdr
	if c.ivKey != nil {
		// The synthetic nonce is not recomputed: the tag authenticates
		// the chunk under the file key, which only the package key gives.
		var ab [HeaderSize + 9]byte
		nonce, ct, ad = ct[:IVSize], ct[IVSize:], c.aad(ab[:0], i)
	}
	out, err := c.aead.Open(dst, nonce, ct, ad)
	if err != nil {
		return nil, fmt.Errorf("%w (chunk %d of %d)", ErrOpen, i, c.chunks)
	}
	return out, nil
}
