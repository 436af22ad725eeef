package seal

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestHKDFMatchesStandardLibrary: hkdfSHA256 gives crypto/hkdf's bytes
// for every length of salt around the block size (none, shorter, one
// block, longer: hashed first), of secret and of info, and every output
// length up to two blocks; and the RFC 5869 test case 1.
func TestHKDFMatchesStandardLibrary(t *testing.T) {
	rfcOut := make([]byte, 42)
	hkdfSHA256(rfcOut, bytes.Repeat([]byte{0x0b}, 22), mustHex(t, "000102030405060708090a0b0c"), mustHex(t, "f0f1f2f3f4f5f6f7f8f9"))
	if want := mustHex(t, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"); !bytes.Equal(rfcOut, want) {
		t.Fatalf("RFC 5869 case 1: %x, want %x", rfcOut, want)
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, saltLen := range []int{0, 1, 16, 63, 64, 65, 200} {
		for _, secretLen := range []int{0, 32, 100} {
			for _, infoLen := range []int{0, 1, 55, 56, 64, 119, 120, 300} {
				for _, outLen := range []int{1, 31, 32, 33, 44, 64} {
					salt, secret, info := random(saltLen), random(secretLen), random(infoLen)
					want, err := hkdf.Key(sha256.New, secret, salt, string(info), outLen)
					if err != nil {
						t.Fatal(err)
					}
					got := make([]byte, outLen)
					hkdfSHA256(got, secret, salt, info)
					if !bytes.Equal(got, want) {
						t.Fatalf("salt %d, secret %d, info %d, out %d bytes: %x, want %x", saltLen, secretLen, infoLen, outLen, got, want)
					}
				}
			}
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func BenchmarkBodyKDF(b *testing.B) {
	key := make([]byte, 32)
	salt := make([]byte, 16)
	info := BodyContext{LogOrigin: "mvm.example/exchange/dev", PackageID: "pkg-0123456789abcdef0123", PayloadType: "mvm.v1.RequestForInformation", MessageID: "msg-0123456789abcdef"}.appendInfo(nil)
	b.Run("crypto/hkdf", func(b *testing.B) {
		for b.Loop() {
			if _, err := hkdf.Key(sha256.New, key, salt, string(info), 44); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hkdfSHA256", func(b *testing.B) {
		var out [44]byte
		for b.Loop() {
			hkdfSHA256(out[:], key, salt, info)
		}
	})
}

// TestHKDFHasherWiped: a hasher going back to the pool keeps none of the
// key material of the derivation it served.
func TestHKDFHasherWiped(t *testing.T) {
	h := &hmacSHA256{inner: sha256.New(), outer: sha256.New()}
	h.key(bytes.Repeat([]byte{0x42}, 100)) // longer than a block: ih holds its digest
	h.write([]byte("secret"))
	h.sum(h.prk[:0])
	h.sum(h.t[:0])
	h.release()
	if h.ipad != ([sha256.BlockSize]byte{}) || h.opad != ([sha256.BlockSize]byte{}) || h.ih != ([sha256.Size]byte{}) {
		t.Fatal("a released hasher still holds key material")
	}
	if h.prk != ([sha256.Size]byte{}) || h.t != ([sha256.Size]byte{}) {
		t.Fatal("a released hasher still holds its PRK or a T block")
	}
	if cap(h.buf) < len("secret") || !bytes.Equal(h.buf[:cap(h.buf)], make([]byte, cap(h.buf))) {
		t.Fatalf("a released hasher's scratch still holds what it hashed: %q", h.buf[:cap(h.buf)])
	}
	if got, want := h.inner.Sum(nil), sha256.Sum256(nil); !bytes.Equal(got, want[:]) {
		t.Fatal("a released hasher's inner digest holds what was written")
	}
}
