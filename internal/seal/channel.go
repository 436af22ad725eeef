package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// Channel keys (wrap format version 2). One hybrid-KEM encapsulation costs
// about 100 µs of client CPU, so four per package cap a 2-core submitter
// near a few thousand packages a second. A sender's [Channels] instead
// makes one random channel key per (log, recipient party, recipient key),
// wraps it once with HPKE, and reuses that wrap for every package it seals
// for [ChannelLifetime] or [ChannelMaxPackages] packages, whichever comes
// first. Each package still carries, per recipient, the whole channel wrap
// (so it opens with no state) and a small AES-256-GCM wrap of the package
// key under a key derived from the channel key over the log origin, the
// package id, the party, the key id and the channel id.
//
// Format: version 2 (1 byte) | channel id (16) | HPKE channel wrap
// (encapsulation and wrapped channel key, [WrappedKeySize] bytes) | nonce
// (12) | the package key wrapped under the derived key, and its tag (48).
const (
	// ChannelLifetime is how long a sender reuses one channel key: what a
	// copy of the client's memory exposes is at most the packages of this
	// long (or of ChannelMaxPackages) per recipient.
	ChannelLifetime = 10 * time.Minute
	// ChannelMaxPackages is how many package keys a sender wraps under one
	// channel key before it makes a new one.
	ChannelMaxPackages = 100_000
	// WrappedKeySizeV2 is the size of a package key wrapped for one
	// recipient through a channel.
	WrappedKeySizeV2 = 1 + channelIDSize + WrappedKeySize + nonceSize + PackageKeySize + tagSize

	// WrapVersion2 is the first byte of a version 2 wrap.
	WrapVersion2 = 2

	channelIDSize = 16
)

// channelInfo is the HPKE info of a channel wrap: the channel key may open
// only for this log, party, recipient key and channel.
func channelInfo(origin, party, keyID string, id []byte) []byte {
	return context("mvm-seal/v2 channel-key", origin, party, keyID, string(id))
}

// innerKey derives the key that wraps one package key under a channel key.
func innerKey(chKey []byte, c WrapContext, keyID string, id []byte) (cipher.AEAD, error) {
	k := make([]byte, keySize)
	hkdfSHA256(k, chKey, nil, context("mvm-seal/v2 package-key", c.LogOrigin, c.PackageID, c.Party, keyID, string(id)))
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Channel is one sender's channel key to one recipient key of one log.
type Channel struct {
	key     [keySize]byte
	id      [channelIDSize]byte
	wrapped []byte // HPKE encapsulation and wrapped channel key
	origin  string
	party   string
	keyID   string
	expires time.Time
	uses    int
}

// NewChannel makes a random channel key for the recipient party's public
// key to on log origin, and wraps it (one encapsulation).
func NewChannel(to *PublicKey, origin, party string) (*Channel, error) {
	var id [channelIDSize]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("seal: generating a channel id: %w", err)
	}
	return newChannel(to, origin, party, id)
}

func newChannel(to *PublicKey, origin, party string, id [channelIDSize]byte) (*Channel, error) {
	ch := &Channel{origin: origin, party: party, keyID: to.id, id: id}
	if _, err := rand.Read(ch.key[:]); err != nil {
		return nil, fmt.Errorf("seal: generating a channel key: %w", err)
	}
	w, err := hpke.Seal(to.pk, kdf, aead, channelInfo(origin, party, to.id, ch.id[:]), ch.key[:])
	if err != nil {
		return nil, fmt.Errorf("seal: wrapping a channel key for party %s: %w", party, err)
	}
	ch.wrapped = w
	return ch, nil
}

// ID returns the channel's id in hex (for logs; it is not secret).
func (ch *Channel) ID() string { return hex.EncodeToString(ch.id[:]) }

// Wrap wraps key for the channel's recipient in package c.PackageID. The
// channel must be of c's log origin and party.
func (ch *Channel) Wrap(key PackageKey, c WrapContext) ([]byte, error) {
	if c.LogOrigin != ch.origin || c.Party != ch.party {
		return nil, fmt.Errorf("seal: a channel of log %q to party %s cannot wrap for log %q, party %s", ch.origin, ch.party, c.LogOrigin, c.Party)
	}
	g, err := innerKey(ch.key[:], c, ch.keyID, ch.id[:])
	if err != nil {
		return nil, fmt.Errorf("seal: deriving the package wrap key: %w", err)
	}
	out := make([]byte, 0, WrappedKeySizeV2)
	out = append(out, WrapVersion2)
	out = append(out, ch.id[:]...)
	out = append(out, ch.wrapped...)
	nonce := out[len(out) : len(out)+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	out = out[:len(out)+nonceSize]
	return g.Seal(out, nonce, key[:], nil), nil
}

// Channels is a sender's set of channels, one current channel per (log
// origin, recipient party, recipient key id), renewed after
// [ChannelLifetime] or [ChannelMaxPackages] wraps. A rotated recipient key
// has another id, so it starts a new channel. Safe for concurrent use.
type Channels struct {
	mu       sync.Mutex
	m        map[string]*Channel
	now      func() time.Time
	lifetime time.Duration
	max      int
}

// NewChannels returns an empty set with the documented renewal bounds.
func NewChannels() *Channels {
	return &Channels{m: map[string]*Channel{}, now: time.Now, lifetime: ChannelLifetime, max: ChannelMaxPackages}
}

// Wrap wraps key for party's public key to in package c, through the
// current channel (made or renewed as needed: one encapsulation).
func (s *Channels) Wrap(to *PublicKey, key PackageKey, c WrapContext) ([]byte, error) {
	ch, err := s.channel(to, c)
	if err != nil {
		return nil, err
	}
	return ch.Wrap(key, c)
}

func (s *Channels) channel(to *PublicKey, c WrapContext) (*Channel, error) {
	name := string(context("", c.LogOrigin, c.Party, to.id))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ch := s.m[name]
	if ch == nil || !now.Before(ch.expires) || ch.uses >= s.max {
		for n, old := range s.m { // drop expired channels: the set stays as small as the keys in use
			if !now.Before(old.expires) {
				delete(s.m, n)
			}
		}
		var err error
		if ch, err = NewChannel(to, c.LogOrigin, c.Party); err != nil {
			return nil, err
		}
		ch.expires = now.Add(s.lifetime)
		s.m[name] = ch
	}
	ch.uses++
	return ch, nil
}

// Len returns the number of channels held.
func (s *Channels) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
