package seal_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/seal"
)

const testOrigin = "mvm.example/exchange/dev"

func mustChannelWrap(t testing.TB, s *seal.Channels, to *seal.PublicKey, key seal.PackageKey, c seal.WrapContext) []byte {
	t.Helper()
	w, err := s.Wrap(to, key, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != seal.WrappedKeySizeV2 || w[0] != seal.WrapVersion2 {
		t.Fatalf("channel wrap has %d bytes, version %d; want %d, %d", len(w), w[0], seal.WrappedKeySizeV2, seal.WrapVersion2)
	}
	return w
}

// channelPart is what every package of one channel shares.
func channelPart(w []byte) []byte { return w[:1+16+seal.WrappedKeySize] }

func TestChannelWrapBindings(t *testing.T) {
	k, other := mustKey(t), mustKey(t)
	key := mustPackageKey(t)
	c := seal.WrapContext{LogOrigin: testOrigin, PackageID: "pkg-1", Party: "af"}
	w := mustChannelWrap(t, seal.NewChannels(), k.Public(), key, c)
	for _, cache := range []*seal.ChannelCache{nil, seal.NewChannelCache(0)} {
		if got, err := cache.Unwrap(k, w, c); err != nil || got != key {
			t.Fatalf("Unwrap = %x, %v; want the key", got, err)
		}
	}
	flip := func(i int) []byte {
		b := bytes.Clone(w)
		b[i] ^= 1
		return b
	}
	// A wrap of another channel (same recipient, package and party) with
	// this package's inner wrap: the inner wrap was made under another
	// channel key.
	w2 := mustChannelWrap(t, seal.NewChannels(), k.Public(), key, c)
	spliced := append(bytes.Clone(channelPart(w2)), w[len(channelPart(w)):]...)
	for _, test := range []struct {
		name    string
		key     *seal.PrivateKey
		wrapped []byte
		c       seal.WrapContext
		want    error
	}{
		{"other private key (and key id)", other, w, c, seal.ErrOpen},
		{"other log origin", k, w, seal.WrapContext{"mvm.example/exchange/other", c.PackageID, c.Party}, seal.ErrOpen},
		{"other package", k, w, seal.WrapContext{c.LogOrigin, "pkg-2", c.Party}, seal.ErrOpen},
		{"other party", k, w, seal.WrapContext{c.LogOrigin, c.PackageID, "tr"}, seal.ErrOpen},
		{"fields shifted", k, w, seal.WrapContext{c.LogOrigin, "pkg-1a", "f"}, seal.ErrOpen},
		{"channel id changed", k, flip(3), c, seal.ErrOpen},
		{"channel wrap byte flipped", k, flip(40), c, seal.ErrOpen},
		{"inner nonce flipped", k, flip(1 + 16 + seal.WrappedKeySize), c, seal.ErrOpen},
		{"inner wrap byte flipped", k, flip(len(w) - 1), c, seal.ErrOpen},
		{"inner wrap of another channel key", k, spliced, c, seal.ErrOpen},
		{"unknown version", k, flip(0), c, seal.ErrMalformed},
		{"truncated", k, w[:len(w)-1], c, seal.ErrMalformed},
	} {
		t.Run(test.name, func(t *testing.T) {
			for _, cache := range []*seal.ChannelCache{nil, seal.NewChannelCache(0)} {
				// A cache that opened the right wrap first must not change
				// the answer for a wrong one.
				if _, err := cache.Unwrap(k, w, c); err != nil {
					t.Fatal(err)
				}
				if _, err := cache.Unwrap(test.key, test.wrapped, test.c); !errors.Is(err, test.want) {
					t.Fatalf("got %v, want %v", err, test.want)
				}
			}
		})
	}
}

// TestVersion1StillOpens: packages wrapped before channel keys open through
// the same entry points.
func TestVersion1StillOpens(t *testing.T) {
	k := mustKey(t)
	key := mustPackageKey(t)
	c := seal.WrapContext{LogOrigin: testOrigin, PackageID: "pkg-1", Party: "af"}
	w, err := seal.Wrap(k.Public(), key, c)
	if err != nil {
		t.Fatal(err)
	}
	cache := seal.NewChannelCache(0)
	for _, unwrap := range []func() (seal.PackageKey, error){
		func() (seal.PackageKey, error) { return seal.Unwrap(k, w, c) },
		func() (seal.PackageKey, error) { return cache.Unwrap(k, w, c) },
	} {
		if got, err := unwrap(); err != nil || got != key {
			t.Fatalf("version 1 wrap: %x, %v; want the key", got, err)
		}
	}
	if _, err := cache.Unwrap(k, w, seal.WrapContext{LogOrigin: testOrigin, PackageID: "pkg-2", Party: "af"}); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("version 1 wrap for another package: %v, want ErrOpen", err)
	}
}

// TestChannelReuse: one channel per recipient key, its wrap reused in every
// package until it is renewed by count or by age; a rotated key starts its
// own channel.
func TestChannelReuse(t *testing.T) {
	k := mustKey(t)
	s := seal.NewChannels()
	now := time.Unix(1_800_000_000, 0)
	seal.SetClock(s, func() time.Time { return now })
	wrap := func(pub *seal.PublicKey, pkg string) []byte {
		return mustChannelWrap(t, s, pub, mustPackageKey(t), seal.WrapContext{LogOrigin: testOrigin, PackageID: pkg, Party: "af"})
	}
	a, b := wrap(k.Public(), "pkg-1"), wrap(k.Public(), "pkg-2")
	if !bytes.Equal(channelPart(a), channelPart(b)) {
		t.Fatal("two packages to one recipient key did not share the channel wrap")
	}
	if bytes.Equal(a[len(channelPart(a)):], b[len(channelPart(b)):]) {
		t.Fatal("two packages have the same inner wrap")
	}
	rotated := mustKey(t)
	if r := wrap(rotated.Public(), "pkg-3"); bytes.Equal(channelPart(r), channelPart(a)) {
		t.Fatal("a new key of the party reused the old key's channel")
	}
	if s.Len() != 2 {
		t.Fatalf("%d channels, want 2 (one per recipient key)", s.Len())
	}
	now = now.Add(seal.ChannelLifetime - time.Second)
	if c := wrap(k.Public(), "pkg-4"); !bytes.Equal(channelPart(c), channelPart(a)) {
		t.Fatal("the channel was renewed before its lifetime")
	}
	now = now.Add(time.Second)
	d := wrap(k.Public(), "pkg-5")
	if bytes.Equal(channelPart(d), channelPart(a)) {
		t.Fatal("the channel was not renewed after its lifetime")
	}
	if s.Len() != 1 {
		t.Fatalf("%d channels after both expired and one was renewed, want 1", s.Len())
	}
	for i := 1; i < seal.ChannelMaxPackages; i++ {
		if _, err := s.Wrap(k.Public(), seal.PackageKey{}, seal.WrapContext{LogOrigin: testOrigin, PackageID: "p", Party: "af"}); err != nil {
			t.Fatal(err)
		}
	}
	if e := wrap(k.Public(), "pkg-6"); bytes.Equal(channelPart(e), channelPart(d)) {
		t.Fatalf("the channel was not renewed after %d packages", seal.ChannelMaxPackages)
	}
}

// TestChannelCacheBound: the cache holds at most its size, dropping the
// least recently used channel; a dropped channel still opens (decapsulated
// again).
func TestChannelCacheBound(t *testing.T) {
	k := mustKey(t)
	cache := seal.NewChannelCache(2)
	c := seal.WrapContext{LogOrigin: testOrigin, PackageID: "pkg-1", Party: "af"}
	var wraps [][]byte
	keys := []seal.PackageKey{}
	for range 3 {
		key := mustPackageKey(t)
		keys = append(keys, key)
		wraps = append(wraps, mustChannelWrap(t, seal.NewChannels(), k.Public(), key, c))
	}
	for i, w := range wraps {
		if got, err := cache.Unwrap(k, w, c); err != nil || got != keys[i] {
			t.Fatalf("channel %d: %x, %v", i, got, err)
		}
		if want := min(i+1, 2); cache.Len() != want {
			t.Fatalf("after %d channels the cache holds %d, want %d", i+1, cache.Len(), want)
		}
	}
	if got, err := cache.Unwrap(k, wraps[0], c); err != nil || got != keys[0] || cache.Len() != 2 {
		t.Fatalf("an evicted channel: %x, %v, cache %d", got, err, cache.Len())
	}
}

// TestChannelCachePoisoning: a hostile sender makes a channel of its own
// with the id of another sender's channel and has the reader open it
// first; the other sender's packages must still open (the cache names a
// channel by its exact bytes and context, not by its id).
func TestChannelCachePoisoning(t *testing.T) {
	k := mustKey(t)
	cache := seal.NewChannelCache(0)
	c := seal.WrapContext{LogOrigin: testOrigin, PackageID: "pkg-1", Party: "af"}
	honestKey := mustPackageKey(t)
	honest := mustChannelWrap(t, seal.NewChannels(), k.Public(), honestKey, c)
	evil, err := seal.NewChannelWithID(k.Public(), testOrigin, "af", seal.ChannelIDOf(honest))
	if err != nil {
		t.Fatal(err)
	}
	evilKey := mustPackageKey(t)
	ew, err := evil.Wrap(evilKey, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cache.Unwrap(k, ew, c); err != nil || got != evilKey {
		t.Fatalf("hostile wrap: %x, %v", got, err)
	}
	if got, err := cache.Unwrap(k, honest, c); err != nil || got != honestKey {
		t.Fatalf("after a hostile channel with the same id, the honest wrap gives %x, %v; want its key", got, err)
	}
	// The same channel bytes read for another party are not a cache hit.
	if _, err := cache.Unwrap(k, honest, seal.WrapContext{LogOrigin: testOrigin, PackageID: "pkg-1", Party: "tr"}); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("a cached channel for another party: %v, want ErrOpen", err)
	}
}

func TestChannelRefusesOtherContext(t *testing.T) {
	ch, err := seal.NewChannel(mustKey(t).Public(), testOrigin, "af")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []seal.WrapContext{{"other", "p", "af"}, {testOrigin, "p", "tr"}} {
		if _, err := ch.Wrap(seal.PackageKey{}, c); err == nil {
			t.Errorf("a channel of %s to af wrapped for %s to %s", testOrigin, c.LogOrigin, c.Party)
		}
	}
}

// TestChannelOtherContext: a sender who knows its channel key reuses the
// channel wrap it made for one log and party in another (a reader holding
// one key for both, a cache primed by the genuine use): the channel key
// must not open there, cached or not.
func TestChannelOtherContext(t *testing.T) {
	k := mustKey(t)
	for _, test := range []struct{ name, origin, party string }{
		{"other log", "mvm.example/exchange/other", "af"},
		{"other party", testOrigin, "tr"},
	} {
		t.Run(test.name, func(t *testing.T) {
			ch, err := seal.NewChannel(k.Public(), testOrigin, "af")
			if err != nil {
				t.Fatal(err)
			}
			genuine, err := ch.Wrap(mustPackageKey(t), seal.WrapContext{LogOrigin: testOrigin, PackageID: "pkg-1", Party: "af"})
			if err != nil {
				t.Fatal(err)
			}
			seal.Rebind(ch, test.origin, test.party)
			c := seal.WrapContext{LogOrigin: test.origin, PackageID: "pkg-1", Party: test.party}
			moved, err := ch.Wrap(mustPackageKey(t), c)
			if err != nil {
				t.Fatal(err)
			}
			cache := seal.NewChannelCache(0)
			if _, err := cache.Unwrap(k, genuine, seal.WrapContext{LogOrigin: testOrigin, PackageID: "pkg-1", Party: "af"}); err != nil {
				t.Fatal(err)
			}
			for _, cc := range []*seal.ChannelCache{nil, cache} {
				if _, err := cc.Unwrap(k, moved, c); !errors.Is(err, seal.ErrOpen) {
					t.Fatalf("a channel wrap made for %s/af opened for %s/%s: %v", testOrigin, test.origin, test.party, err)
				}
			}
		})
	}
}
