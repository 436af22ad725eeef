package sealedfile_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/mvm-exchange/mvm/internal/evidence/sealedfile"
	"github.com/mvm-exchange/mvm/internal/seal"
)

const pkg = "pkg-1"

var key = seal.PackageKey{1, 2, 3}

func plaintext(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// sealAll seals p as an upload does: nonce from the digest, then the
// sealed view read at once.
func sealAll(t *testing.T, key seal.PackageKey, pkg string, p []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(p)
	nonce, err := sealedfile.FileNonce(key, pkg, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	c, err := sealedfile.NewCipher(key, pkg, sealedfile.Header{Nonce: nonce, Size: int64(len(p))})
	if err != nil {
		t.Fatal(err)
	}
	r := sealedfile.NewReader(c, bytes.NewReader(p))
	out, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(out)) != sealedfile.SealedSize(int64(len(p))) {
		t.Fatalf("sealed %d bytes into %d, SealedSize says %d", len(p), len(out), sealedfile.SealedSize(int64(len(p))))
	}
	return out
}

// open decrypts a whole sealed file, writing in pieces of step bytes.
func open(key seal.PackageKey, pkg string, sealed []byte, step int) ([]byte, error) {
	var out bytes.Buffer
	w := sealedfile.NewWriter(key, pkg, &out)
	for b := sealed; len(b) > 0; {
		k := min(step, len(b))
		if _, err := w.Write(b[:k]); err != nil {
			return out.Bytes(), err
		}
		b = b[k:]
	}
	return out.Bytes(), w.Close()
}

var sizes = []int{0, 1, 1000, sealedfile.ChunkSize - 1, sealedfile.ChunkSize, sealedfile.ChunkSize + 1, 3*sealedfile.ChunkSize + 5}

func TestRoundTrip(t *testing.T) {
	for _, n := range sizes {
		p := plaintext(n, byte(n))
		sealed := sealAll(t, key, pkg, p)
		if n > 16 && bytes.Contains(sealed, p[:16]) {
			t.Errorf("%d bytes: plaintext visible in the sealed file", n)
		}
		for _, step := range []int{1 << 20, 7, sealedfile.ChunkSize + sealedfile.TagSize} {
			if n > 100_000 && step == 7 {
				continue
			}
			got, err := open(key, pkg, sealed, step)
			if err != nil || !bytes.Equal(got, p) {
				t.Errorf("%d bytes, writes of %d: got %d bytes, %v", n, step, len(got), err)
			}
		}
		// Same file, same package: the same bytes (an upload resumes).
		if again := sealAll(t, key, pkg, p); !bytes.Equal(again, sealed) {
			t.Errorf("%d bytes: sealing twice gave different bytes", n)
		}
	}
}

// ReadAt at any offset and length gives the bytes of one sequential read:
// an upload resumes anywhere.
func TestReaderAt(t *testing.T) {
	p := plaintext(3*sealedfile.ChunkSize+5, 9)
	whole := sealAll(t, key, pkg, p)
	sum := sha256.Sum256(p)
	nonce, _ := sealedfile.FileNonce(key, pkg, sum[:])
	c, _ := sealedfile.NewCipher(key, pkg, sealedfile.Header{Nonce: nonce, Size: int64(len(p))})
	r := sealedfile.NewReader(c, bytes.NewReader(p))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		off := rng.Int64N(int64(len(whole)) + 1)
		buf := make([]byte, rng.IntN(200_000))
		n, err := r.ReadAt(buf, off)
		want := whole[off:]
		if len(want) > len(buf) {
			want = want[:len(buf)]
		}
		if !bytes.Equal(buf[:n], want) || (n < len(buf)) != (err == io.EOF) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want %d bytes", len(buf), off, n, err, len(want))
		}
	}
	// A plaintext shorter than the header says is an error, not zeros.
	short := sealedfile.NewReader(c, bytes.NewReader(p[:len(p)-1]))
	if _, err := io.ReadAll(io.NewSectionReader(short, 0, short.Size())); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("plaintext shorter than declared: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestRanges(t *testing.T) {
	p := plaintext(3*sealedfile.ChunkSize+5, 4)
	sealed := sealAll(t, key, pkg, p)
	h, err := sealedfile.ParseHeader(sealed)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := sealedfile.NewCipher(key, pkg, h)
	const cs = sealedfile.ChunkSize
	for _, rg := range [][2]int64{{0, -1}, {0, 1}, {5, 10}, {cs - 1, 2}, {cs, cs}, {cs + 7, 2*cs + 5 - 7}, {int64(len(p)), 0}, {int64(len(p)) - 1, -1}, {2 * cs, 0}} {
		r, err := c.Range(rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		w := c.RangeWriter(r, &out)
		if _, err := w.Write(sealed[r.Offset : r.Offset+r.Length]); err != nil {
			t.Fatalf("range %v: %v", rg, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("range %v: %v", rg, err)
		}
		want := p[rg[0]:]
		if rg[1] >= 0 {
			want = want[:rg[1]]
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("range %v: %d bytes, want %d", rg, out.Len(), len(want))
		}
		// A range is authenticated like the whole: a changed byte fails.
		bad := bytes.Clone(sealed[r.Offset : r.Offset+r.Length])
		bad[len(bad)/2] ^= 1
		w = c.RangeWriter(r, io.Discard)
		if _, err := w.Write(bad); !errors.Is(err, sealedfile.ErrOpen) {
			t.Errorf("range %v with a changed byte: %v, want ErrOpen", rg, err)
		}
	}
	if _, err := c.Range(int64(len(p)), 1); err == nil {
		t.Error("a range past the end was accepted")
	}
}

// Every change to a sealed file is refused, and nothing of a chunk that
// does not open is written.
func TestTamper(t *testing.T) {
	for _, v := range []struct {
		name string
		seal func(*testing.T, seal.PackageKey, string, []byte) []byte
		over int
	}{
		{"v1", sealAll, sealedfile.TagSize},
		{"v2", sealV2, sealedfile.IVSize + sealedfile.TagSize},
	} {
		t.Run(v.name, func(t *testing.T) { testTamper(t, v.seal, v.over) })
	}
}

func testTamper(t *testing.T, sealAll func(*testing.T, seal.PackageKey, string, []byte) []byte, over int) {
	const cs = sealedfile.ChunkSize
	p := plaintext(2*cs+100, 3)
	sealed := sealAll(t, key, pkg, p)
	chunk := func(i int) int { return sealedfile.HeaderSize + i*(cs+over) }
	swapped := bytes.Clone(sealed)
	copy(swapped[chunk(0):chunk(1)], sealed[chunk(1):chunk(2)])
	copy(swapped[chunk(1):chunk(2)], sealed[chunk(0):chunk(1)])
	other := sealAll(t, key, pkg, plaintext(2*cs+100, 8))
	spliced := append(bytes.Clone(sealed[:chunk(1)]), other[chunk(1):]...)
	// A file of exactly two chunks whose header says three: the second
	// chunk lacks the last flag.
	lastAsMiddle := bytes.Clone(sealed[:chunk(2)])
	flip := func(at int) []byte { b := bytes.Clone(sealed); b[at] ^= 0x80; return b }
	for _, c := range []struct {
		name   string
		sealed []byte
		key    seal.PackageKey
		pkg    string
		want   error
	}{
		{"header magic", flip(0), key, pkg, sealedfile.ErrMalformed},
		{"header version", flip(4), key, pkg, sealedfile.ErrMalformed},
		{"header nonce", flip(5), key, pkg, sealedfile.ErrOpen},
		{"header size", flip(sealedfile.HeaderSize - 1), key, pkg, sealedfile.ErrOpen},
		{"first chunk", flip(chunk(0) + 10), key, pkg, sealedfile.ErrOpen},
		{"second chunk's first byte (v2: its nonce)", flip(chunk(1)), key, pkg, sealedfile.ErrOpen},
		{"second chunk's 20th byte", flip(chunk(1) + 19), key, pkg, sealedfile.ErrOpen},
		{"middle chunk tag", flip(chunk(2) - 1), key, pkg, sealedfile.ErrOpen},
		{"last chunk", flip(len(sealed) - 50), key, pkg, sealedfile.ErrOpen},
		{"chunks swapped", swapped, key, pkg, sealedfile.ErrOpen},
		{"chunk of another file", spliced, key, pkg, sealedfile.ErrOpen},
		{"cut at a chunk boundary", lastAsMiddle, key, pkg, sealedfile.ErrOpen},
		{"cut inside a chunk", sealed[:len(sealed)-1], key, pkg, sealedfile.ErrOpen},
		{"cut inside the header", sealed[:10], key, pkg, sealedfile.ErrMalformed},
		{"bytes appended", append(bytes.Clone(sealed), 0), key, pkg, sealedfile.ErrOpen},
		{"another package key", sealed, seal.PackageKey{9}, pkg, sealedfile.ErrOpen},
		{"another package", sealed, key, "pkg-2", sealedfile.ErrOpen},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := open(c.key, c.pkg, c.sealed, 1<<20)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			// Only whole chunks that opened were written, and none past
			// the change.
			if (len(got)%cs != 0 && len(got) != len(p)) || !bytes.Equal(got, p[:len(got)]) {
				t.Errorf("%d bytes written before the refusal, not whole authentic chunks", len(got))
			}
		})
	}
}

// The nonce is keyed: another package key or package gives another one,
// and the sealed bytes of a file differ between packages.
func TestFileNonce(t *testing.T) {
	sum := sha256.Sum256([]byte("film"))
	a, _ := sealedfile.FileNonce(key, pkg, sum[:])
	for _, c := range []struct {
		key seal.PackageKey
		pkg string
		sum []byte
	}{{seal.PackageKey{9}, pkg, sum[:]}, {key, "pkg-2", sum[:]}, {key, pkg, make([]byte, 32)}} {
		if b, _ := sealedfile.FileNonce(c.key, c.pkg, c.sum); b == a {
			t.Errorf("FileNonce(%x, %s, %x) = FileNonce of the film on %s", c.key[:2], c.pkg, c.sum[:2], pkg)
		}
	}
}

// The format is fixed: this vector changes only with a new version.
func TestVector(t *testing.T) {
	sealed := sealAll(t, key, pkg, []byte("film of the raid, dawn.\n"))
	got := sha256.Sum256(sealed)
	const want = "95db045c33a4dc04ba26be2b983a70fffaba8bd6c07ae5e47df7c716a9d7ded9"
	if hex.EncodeToString(got[:]) != want {
		t.Errorf("sealed vector sha256 %x, want %s (a format change needs a new version)", got, want)
	}
	if hex.EncodeToString(sealed[:5]) != "6d76656601" {
		t.Errorf("header starts %x, want mvef version 1", sealed[:5])
	}
}

// sealV2 seals p in one pass, as an upload does now.
func sealV2(t *testing.T, key seal.PackageKey, pkg string, p []byte) []byte {
	t.Helper()
	nonce, err := sealedfile.FileNonceV2(key, pkg, int64(len(p)), p[:min(len(p), sealedfile.HeadSize)])
	if err != nil {
		t.Fatal(err)
	}
	c, err := sealedfile.NewCipher(key, pkg, sealedfile.Header{Nonce: nonce, Size: int64(len(p)), Version: sealedfile.Version2})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := sealedfile.SealTo(&out, c, bytes.NewReader(p))
	if want := sha256.Sum256(p); err != nil || !bytes.Equal(sum, want[:]) {
		t.Fatalf("SealTo: %v, plaintext sha256 %x, want %x", err, sum, want)
	}
	if int64(out.Len()) != sealedfile.SealedSizeV2(int64(len(p))) || int64(out.Len()) != c.SealedSize() {
		t.Fatalf("sealed %d bytes into %d, SealedSizeV2 says %d", len(p), out.Len(), sealedfile.SealedSizeV2(int64(len(p))))
	}
	// The sealed view (read at any offset) gives the same bytes.
	r := sealedfile.NewReader(c, bytes.NewReader(p))
	if view, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size())); err != nil || !bytes.Equal(view, out.Bytes()) {
		t.Fatalf("the sealed view differs from SealTo's bytes (%v)", err)
	}
	// Back to the start, after the end: the nonces' prefix is hashed again.
	first := make([]byte, min(out.Len(), 100))
	if _, err := r.ReadAt(first, 0); err != nil || !bytes.Equal(first, out.Bytes()[:len(first)]) {
		t.Fatalf("the sealed view read again from 0 differs (%v)", err)
	}
	return out.Bytes()
}

// Version 2 seals in one pass to the same bytes each time, opens in
// pieces of any size, and ranges open as in version 1.
func TestVersion2RoundTrip(t *testing.T) {
	for _, n := range sizes {
		p := plaintext(n, 5)
		sealed := sealV2(t, key, pkg, p)
		if again := sealV2(t, key, pkg, p); !bytes.Equal(again, sealed) {
			t.Fatalf("%d bytes: sealed twice to different bytes: an upload could not resume", n)
		}
		if sealed[4] != sealedfile.Version2 {
			t.Fatalf("version byte %d", sealed[4])
		}
		for _, step := range []int{1 << 20, 7, sealedfile.ChunkSize + sealedfile.IVSize + sealedfile.TagSize} {
			if got, err := open(key, pkg, sealed, step); err != nil || !bytes.Equal(got, p) {
				t.Fatalf("%d bytes, step %d: %v", n, step, err)
			}
		}
		h, _ := sealedfile.ParseHeader(sealed)
		c, _ := sealedfile.NewCipher(key, pkg, h)
		off, m := int64(n/3), int64(n/2)
		rg, err := c.Range(off, m)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		w := c.RangeWriter(rg, &out)
		w.Write(sealed[rg.Offset : rg.Offset+rg.Length])
		if err := w.Close(); err != nil || !bytes.Equal(out.Bytes(), p[off:off+m]) {
			t.Fatalf("%d bytes: range %d+%d: %v", n, off, m, err)
		}
	}
	// A source shorter or longer than the header says is refused.
	p := plaintext(sealedfile.ChunkSize+10, 6)
	nonce, _ := sealedfile.FileNonceV2(key, pkg, int64(len(p)), p)
	c, _ := sealedfile.NewCipher(key, pkg, sealedfile.Header{Nonce: nonce, Size: int64(len(p)), Version: sealedfile.Version2})
	for _, src := range [][]byte{p[:len(p)-1], append(bytes.Clone(p), 1)} {
		if _, err := sealedfile.SealTo(io.Discard, c, bytes.NewReader(src)); err == nil {
			t.Errorf("a source of %d bytes sealed as %d", len(src), len(p))
		}
	}
}

// Version 2's GCM nonce of a chunk comes from the plaintext up to its
// end: two files of the same size and start on the same package (one
// file key; here the file nonce is forced to be equal) share a nonce
// only
// where the same plaintext sits at the same place, which seals to the
// same bytes; a changed chunk gets another nonce, so no keystream is
// reused, whatever a resumed upload continues.
func TestVersion2Nonces(t *testing.T) {
	const cs = sealedfile.ChunkSize
	const sc = cs + sealedfile.IVSize + sealedfile.TagSize
	a := plaintext(3*cs, 11)
	b := bytes.Clone(a)
	b[cs+5] ^= 1 // chunk 1 differs
	seal := func(p []byte) []byte {
		// One file nonce for both, as for two files of one size and start.
		nonce, _ := sealedfile.FileNonceV2(key, pkg, int64(len(a)), a)
		c, _ := sealedfile.NewCipher(key, pkg, sealedfile.Header{Nonce: nonce, Size: int64(len(p)), Version: sealedfile.Version2})
		var out bytes.Buffer
		if _, err := sealedfile.SealTo(&out, c, bytes.NewReader(p)); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	sa, sb := seal(a), seal(b)
	at := func(s []byte, i int) []byte { return s[sealedfile.HeaderSize+i*sc:][:sc] }
	if !bytes.Equal(at(sa, 0), at(sb, 0)) {
		t.Error("equal starts sealed differently")
	}
	for i := 1; i < 3; i++ { // chunk 2 is equal, what precedes it is not
		if bytes.Equal(at(sa, i)[:sealedfile.IVSize], at(sb, i)[:sealedfile.IVSize]) {
			t.Fatalf("chunk %d: two different plaintexts up to its end share a GCM nonce under one key", i)
		}
	}
	// The same chunk plaintext at another place has another nonce too.
	c := append(bytes.Clone(a[cs:2*cs]), a[:cs]...)
	c = append(c, a[2*cs:]...)
	if sc2 := seal(c); bytes.Equal(at(sc2, 0)[:sealedfile.IVSize], at(sa, 1)[:sealedfile.IVSize]) {
		t.Error("the same chunk at another place reuses a nonce")
	}
}

// SealTo reads and hashes ahead of the sealing, one goroutine each:
// files of several 1 MiB blocks, ending on a block's edge or not, seal
// to the bytes of the sealed view (which hashes and seals chunk by chunk
// on one goroutine), and a failing destination or source ends it with
// that error.
func TestSealToBlocks(t *testing.T) {
	const block = 16 * sealedfile.ChunkSize
	for _, n := range []int{block, 2*block - 1, 3 * block, 5*block + 3} {
		sealV2(t, key, pkg, plaintext(n, 7))
	}
	p := plaintext(5*block+3, 8)
	nonce, _ := sealedfile.FileNonceV2(key, pkg, int64(len(p)), p[:sealedfile.HeadSize])
	c, _ := sealedfile.NewCipher(key, pkg, sealedfile.Header{Nonce: nonce, Size: int64(len(p)), Version: sealedfile.Version2})
	full := errors.New("disk full")
	for _, test := range []struct {
		name string
		w    io.Writer
		r    io.Reader
		want error
	}{
		{"destination fails", &limitedWriter{n: 2 * block, err: full}, bytes.NewReader(p), full},
		{"source fails", io.Discard, io.MultiReader(bytes.NewReader(p[:3*block+5]), errReader{full}), full},
		{"source shrank", io.Discard, bytes.NewReader(p[:2*block]), io.ErrUnexpectedEOF},
	} {
		t.Run(test.name, func(t *testing.T) {
			if _, err := sealedfile.SealTo(test.w, c, test.r); !errors.Is(err, test.want) {
				t.Fatalf("SealTo: %v, want %v", err, test.want)
			}
		})
	}
}

type limitedWriter struct {
	n   int
	err error
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, w.err
	}
	return len(p), nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// BenchmarkSealTo: a one-pass seal of 64 MiB, with its plaintext digest.
func BenchmarkSealTo(b *testing.B) {
	p := plaintext(64<<20, 9)
	nonce, _ := sealedfile.FileNonceV2(key, pkg, int64(len(p)), p[:sealedfile.HeadSize])
	c, _ := sealedfile.NewCipher(key, pkg, sealedfile.Header{Nonce: nonce, Size: int64(len(p)), Version: sealedfile.Version2})
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := sealedfile.SealTo(io.Discard, c, bytes.NewReader(p)); err != nil {
			b.Fatal(err)
		}
	}
}
