package seal

import (
	"container/list"
	"crypto/hpke"
	"crypto/sha256"
	"fmt"
	"sync"
)

// DefaultCacheSize bounds a [ChannelCache] made with size 0: 4,096 channel
// keys (about 1 MiB with the list and map), far more than the senders ×
// recipient keys × renewals a reader meets at once.
const DefaultCacheSize = 4096

// ChannelCache remembers channel keys a reader decapsulated, so opening
// costs one decapsulation per channel, not per package. An entry is named
// by SHA-256 over the channel's whole context (log origin, party, key id,
// channel id) and its exact HPKE bytes, and only a decapsulation that
// succeeded is remembered: a hit returns what the same private key opened
// from the same bytes for the same context, so no other bytes or context
// can read a cached key. Least recently used entries go first beyond the
// bound. Safe for concurrent use.
type ChannelCache struct {
	mu  sync.Mutex
	max int
	ll  *list.List // of *cached, most recent first
	m   map[[sha256.Size]byte]*list.Element
}

type cached struct {
	name [sha256.Size]byte
	key  [keySize]byte
}

// NewChannelCache returns a cache of at most size channel keys
// ([DefaultCacheSize] if size is 0 or less).
func NewChannelCache(size int) *ChannelCache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &ChannelCache{max: size, ll: list.New(), m: map[[sha256.Size]byte]*list.Element{}}
}

// Len returns the number of channel keys held.
func (cc *ChannelCache) Len() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.ll.Len()
}

func (cc *ChannelCache) get(name [sha256.Size]byte) ([keySize]byte, bool) {
	if cc == nil {
		return [keySize]byte{}, false
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.m[name]
	if !ok {
		return [keySize]byte{}, false
	}
	cc.ll.MoveToFront(e)
	return e.Value.(*cached).key, true
}

func (cc *ChannelCache) put(name [sha256.Size]byte, key [keySize]byte) {
	if cc == nil {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e, ok := cc.m[name]; ok {
		cc.ll.MoveToFront(e)
		return
	}
	cc.m[name] = cc.ll.PushFront(&cached{name: name, key: key})
	for cc.ll.Len() > cc.max {
		old := cc.ll.Back()
		cc.ll.Remove(old)
		delete(cc.m, old.Value.(*cached).name)
	}
}

// Unwrap decrypts a package key wrapped for k's public key and context c,
// in either format: version 1 ([Wrap], one encapsulation per package) or
// version 2 (through a [Channel]), remembering channel keys in cc (nil: no
// cache). It fails with [ErrOpen] for another key, origin, package, party
// or channel, or for changed bytes, and [ErrMalformed] for bytes of
// neither format.
func (cc *ChannelCache) Unwrap(k *PrivateKey, wrapped []byte, c WrapContext) (PackageKey, error) {
	switch {
	case len(wrapped) == WrappedKeySize:
		return unwrapV1(k, wrapped, c)
	case len(wrapped) == WrappedKeySizeV2 && wrapped[0] == WrapVersion2:
		return cc.unwrapV2(k, wrapped, c)
	case len(wrapped) == WrappedKeySizeV2:
		return PackageKey{}, fmt.Errorf("%w: wrapped package key version %d, this version reads 1 and 2", ErrMalformed, wrapped[0])
	}
	return PackageKey{}, fmt.Errorf("%w: a wrapped package key has %d or %d bytes, got %d", ErrMalformed, WrappedKeySize, WrappedKeySizeV2, len(wrapped))
}

func (cc *ChannelCache) unwrapV2(k *PrivateKey, wrapped []byte, c WrapContext) (PackageKey, error) {
	var key PackageKey
	id := wrapped[1 : 1+channelIDSize]
	chWrap := wrapped[1+channelIDSize : 1+channelIDSize+WrappedKeySize]
	inner := wrapped[1+channelIDSize+WrappedKeySize:]
	info := channelInfo(c.LogOrigin, c.Party, k.pub.id, id)
	h := sha256.New()
	h.Write(info)
	h.Write(chWrap)
	var name [sha256.Size]byte
	h.Sum(name[:0])
	chKey, ok := cc.get(name)
	if !ok {
		pt, err := hpke.Open(k.sk, kdf, aead, info, chWrap)
		if err != nil {
			return key, fmt.Errorf("%w: channel key %x of package %s for party %s (key %s)", ErrOpen, id, c.PackageID, c.Party, k.pub.id)
		}
		if len(pt) != keySize {
			return key, fmt.Errorf("%w: the wrapped channel key has %d bytes, want %d", ErrMalformed, len(pt), keySize)
		}
		copy(chKey[:], pt)
		cc.put(name, chKey)
	}
	g, err := innerKey(chKey[:], c, k.pub.id, id)
	if err != nil {
		return key, fmt.Errorf("seal: deriving the package wrap key: %w", err)
	}
	pt, err := g.Open(key[:0], inner[:nonceSize], inner[nonceSize:], nil)
	if err != nil {
		return key, fmt.Errorf("%w: package key of %s for party %s (key %s) under its channel %x", ErrOpen, c.PackageID, c.Party, k.pub.id, id)
	}
	_ = pt // opened in place into key
	return key, nil
}
