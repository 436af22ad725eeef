package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mvm-exchange/mvm/internal/seal"
)

func mustKey(t testing.TB) *seal.PrivateKey {
	t.Helper()
	k, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustPackageKey(t testing.TB) seal.PackageKey {
	t.Helper()
	k, err := seal.NewPackageKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeysRoundTrip(t *testing.T) {
	k := mustKey(t)
	pub := k.Public()
	if got := len(pub.Bytes()); got != seal.PublicKeySize {
		t.Fatalf("public key has %d bytes, want %d", got, seal.PublicKeySize)
	}
	p2, err := seal.ParsePublicKey(pub.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !p2.Equal(pub) || p2.ID() != pub.ID() || len(pub.ID()) != 16 {
		t.Fatalf("parsed public key %s differs from %s", p2.ID(), pub.ID())
	}
	raw, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != seal.PrivateKeySize {
		t.Fatalf("private key has %d bytes, want %d", len(raw), seal.PrivateKeySize)
	}
	k2, err := seal.ParsePrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !k2.Public().Equal(pub) {
		t.Fatal("parsed private key has another public key")
	}
	pemBytes, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(pemBytes, []byte("Key-Id: "+pub.ID())) {
		t.Errorf("PEM does not name key id %s:\n%s", pub.ID(), pemBytes)
	}
	k3, err := seal.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !k3.Public().Equal(pub) {
		t.Fatal("PEM round trip changed the key")
	}
	if other := mustKey(t).Public(); other.Equal(pub) || other.ID() == pub.ID() {
		t.Fatal("two generated keys are equal")
	}
}

func TestParseRejects(t *testing.T) {
	pub := mustKey(t).Public().Bytes()
	for _, test := range []struct {
		name string
		err  error
	}{
		{"public short", func() error { _, err := seal.ParsePublicKey(pub[:len(pub)-1]); return err }()},
		{"public long", func() error { _, err := seal.ParsePublicKey(append(bytes.Clone(pub), 0)); return err }()},
		{"public empty", func() error { _, err := seal.ParsePublicKey(nil); return err }()},
		// An ML-KEM encapsulation key whose coefficients are not reduced
		// mod q is refused (FIPS 203's modulus check).
		{"public unreduced", func() error {
			_, err := seal.ParsePublicKey(bytes.Repeat([]byte{0xff}, seal.PublicKeySize))
			return err
		}()},
		{"private short", func() error { _, err := seal.ParsePrivateKey(make([]byte, 31)); return err }()},
		{"private PEM other type", func() error {
			_, err := seal.ParsePrivateKeyPEM([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
			return err
		}()},
		{"private PEM garbage", func() error { _, err := seal.ParsePrivateKeyPEM([]byte("not pem")); return err }()},
	} {
		t.Run(test.name, func(t *testing.T) {
			if !errors.Is(test.err, seal.ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", test.err)
			}
		})
	}
}

func TestWrapBindings(t *testing.T) {
	k := mustKey(t)
	other := mustKey(t)
	key := mustPackageKey(t)
	c := seal.WrapContext{LogOrigin: "mvm.example/exchange/dev", PackageID: "pkg-1", Party: "af"}
	w, err := seal.Wrap(k.Public(), key, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != seal.WrappedKeySize {
		t.Fatalf("wrapped key has %d bytes, want %d", len(w), seal.WrappedKeySize)
	}
	got, err := seal.Unwrap(k, w, c)
	if err != nil || got != key {
		t.Fatalf("Unwrap = %x, %v; want the key", got, err)
	}
	flipped := bytes.Clone(w)
	flipped[len(flipped)-1] ^= 1
	flippedEnc := bytes.Clone(w)
	flippedEnc[5] ^= 1
	for _, test := range []struct {
		name    string
		key     *seal.PrivateKey
		wrapped []byte
		c       seal.WrapContext
		want    error
	}{
		{"other private key", other, w, c, seal.ErrOpen},
		{"other log origin", k, w, seal.WrapContext{"mvm.example/exchange/other", c.PackageID, c.Party}, seal.ErrOpen},
		{"other package", k, w, seal.WrapContext{c.LogOrigin, "pkg-2", c.Party}, seal.ErrOpen},
		{"other party", k, w, seal.WrapContext{c.LogOrigin, c.PackageID, "tr"}, seal.ErrOpen},
		// Length-prefixed context: moving a byte between fields changes it.
		{"fields shifted", k, w, seal.WrapContext{c.LogOrigin, "pkg-1a", "f"}, seal.ErrOpen},
		{"ciphertext byte flipped", k, flipped, c, seal.ErrOpen},
		{"encapsulation byte flipped", k, flippedEnc, c, seal.ErrOpen},
		{"truncated", k, w[:len(w)-1], c, seal.ErrMalformed},
		{"empty", k, nil, c, seal.ErrMalformed},
	} {
		t.Run(test.name, func(t *testing.T) {
			if _, err := seal.Unwrap(test.key, test.wrapped, test.c); !errors.Is(err, test.want) {
				t.Fatalf("got %v, want %v", err, test.want)
			}
		})
	}
}

func TestWrapIsRandomized(t *testing.T) {
	k := mustKey(t)
	key := mustPackageKey(t)
	c := seal.WrapContext{LogOrigin: "o", PackageID: "p", Party: "af"}
	a, _ := seal.Wrap(k.Public(), key, c)
	b, _ := seal.Wrap(k.Public(), key, c)
	if bytes.Equal(a, b) {
		t.Fatal("two wraps of the same key are equal: encapsulation is not fresh")
	}
}

func TestBodyBindings(t *testing.T) {
	key := mustPackageKey(t)
	c := seal.BodyContext{LogOrigin: "mvm.example/exchange/dev", PackageID: "pkg-1", PayloadType: "mvm.v1.Acknowledgement", MessageID: "ack-1"}
	aad := []byte("header bytes")
	plaintext := []byte("the acknowledgement's note")
	sealed, err := seal.SealBody(key, c, aad, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(sealed), len(plaintext)+seal.BodyOverhead; got != want {
		t.Fatalf("sealed body has %d bytes, want %d", got, want)
	}
	if bytes.Contains(sealed, plaintext[:8]) {
		t.Fatal("sealed body holds the plaintext")
	}
	got, err := seal.OpenBody(key, c, aad, sealed)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("OpenBody = %q, %v", got, err)
	}
	again, _ := seal.SealBody(key, c, aad, plaintext)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of the same body are equal: the salt is not fresh")
	}
	otherKey := mustPackageKey(t)
	mod := func(f func(*seal.BodyContext)) seal.BodyContext { x := c; f(&x); return x }
	flip := func(i int) []byte { b := bytes.Clone(sealed); b[i] ^= 1; return b }
	for _, test := range []struct {
		name   string
		key    seal.PackageKey
		c      seal.BodyContext
		aad    []byte
		sealed []byte
		want   error
	}{
		{"other package key", otherKey, c, aad, sealed, seal.ErrOpen},
		{"other log origin", key, mod(func(x *seal.BodyContext) { x.LogOrigin = "x" }), aad, sealed, seal.ErrOpen},
		{"other package", key, mod(func(x *seal.BodyContext) { x.PackageID = "pkg-2" }), aad, sealed, seal.ErrOpen},
		{"other payload type", key, mod(func(x *seal.BodyContext) { x.PayloadType = "mvm.v1.Withdrawal" }), aad, sealed, seal.ErrOpen},
		{"other message id", key, mod(func(x *seal.BodyContext) { x.MessageID = "ack-2" }), aad, sealed, seal.ErrOpen},
		{"other header bytes", key, c, []byte("header bytez"), sealed, seal.ErrOpen},
		{"no header bytes", key, c, nil, sealed, seal.ErrOpen},
		{"salt flipped", key, c, aad, flip(3), seal.ErrOpen},
		{"ciphertext flipped", key, c, aad, flip(20), seal.ErrOpen},
		{"tag flipped", key, c, aad, flip(len(sealed) - 1), seal.ErrOpen},
		{"version changed", key, c, aad, flip(0), seal.ErrMalformed},
		{"truncated below overhead", key, c, aad, sealed[:seal.BodyOverhead-1], seal.ErrMalformed},
		{"truncated", key, c, aad, sealed[:len(sealed)-1], seal.ErrOpen},
	} {
		t.Run(test.name, func(t *testing.T) {
			if _, err := seal.OpenBody(test.key, test.c, test.aad, test.sealed); !errors.Is(err, test.want) {
				t.Fatalf("got %v, want %v", err, test.want)
			}
		})
	}
}

func TestEmptyBody(t *testing.T) {
	key := mustPackageKey(t)
	c := seal.BodyContext{PackageID: "p", MessageID: "m"}
	sealed, err := seal.SealBody(key, c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := seal.OpenBody(key, c, nil, sealed)
	if err != nil || len(got) != 0 {
		t.Fatalf("OpenBody = %q, %v", got, err)
	}
}

// FuzzOpen feeds arbitrary bytes to every parser and opener: each returns
// an error, never panics, and never opens what it was not given.
func FuzzOpen(f *testing.F) {
	k := mustKey(f)
	key := mustPackageKey(f)
	wc := seal.WrapContext{LogOrigin: "o", PackageID: "p", Party: "af"}
	bc := seal.BodyContext{LogOrigin: "o", PackageID: "p", PayloadType: "t", MessageID: "m"}
	w, _ := seal.Wrap(k.Public(), key, wc)
	b, _ := seal.SealBody(key, bc, []byte("aad"), []byte("body"))
	w2, _ := seal.NewChannels().Wrap(k.Public(), key, wc)
	cache := seal.NewChannelCache(0)
	f.Add(w)
	f.Add(w2)
	f.Add(b)
	f.Add(k.Public().Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = seal.ParsePublicKey(data)
		_, _ = seal.ParsePrivateKey(data)
		_, _ = seal.ParsePrivateKeyPEM(data)
		if got, err := seal.Unwrap(k, data, wc); err == nil && !bytes.Equal(data, w) && !bytes.Equal(data, w2) {
			t.Fatalf("Unwrap opened %x to %x", data, got)
		}
		if got, err := cache.Unwrap(k, data, wc); err == nil && !bytes.Equal(data, w) && !bytes.Equal(data, w2) {
			t.Fatalf("a cached Unwrap opened %x to %x", data, got)
		}
		if got, err := seal.OpenBody(key, bc, []byte("aad"), data); err == nil && !bytes.Equal(data, b) {
			t.Fatalf("OpenBody opened %x to %q", data, got)
		}
	})
}
