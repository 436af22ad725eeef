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
// key material of the derivation it served: every field is zero, its
// scratch too, whole (a salt longer than a block: ih held its digest).
func TestHKDFHasherWiped(t *testing.T) {
	h := new(hmacSHA256)
	var out [44]byte
	h.derive(out[:], bytes.Repeat([]byte{0x42}, 32), bytes.Repeat([]byte{0x43}, 100), []byte("context"))
	if h.prk == ([sha256.Size]byte{}) || cap(h.buf) == 0 {
		t.Fatal("the derivation left nothing to wipe: the test tests nothing")
	}
	scratch := h.buf[:cap(h.buf)]
	h.release()
	if !bytes.Equal(scratch, make([]byte, len(scratch))) {
		t.Fatalf("a released hasher's scratch still holds what it hashed: %x", scratch)
	}
	if h.ipad != ([sha256.BlockSize]byte{}) || h.opad != ([sha256.BlockSize]byte{}) || h.ih != ([sha256.Size]byte{}) ||
		h.prk != ([sha256.Size]byte{}) || h.t != ([sha256.Size]byte{}) || h.single != ([1]byte{}) {
		t.Fatal("a released hasher still holds key material")
	}
}
