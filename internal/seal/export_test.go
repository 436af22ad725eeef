package seal

import "time"

// SetClock makes s read the time from now (renewal tests).
func SetClock(s *Channels, now func() time.Time) { s.now = now }

// NewChannelWithID makes a channel with a chosen id: what a hostile sender
// can do, to poison a reader's cache.
func NewChannelWithID(to *PublicKey, origin, party string, id [16]byte) (*Channel, error) {
	return newChannel(to, origin, party, id)
}

// ChannelIDOf returns the channel id of a version 2 wrap.
func ChannelIDOf(wrapped []byte) (id [16]byte) {
	copy(id[:], wrapped[1:17])
	return id
}

// Rebind makes ch wrap for another log origin and party than its channel
// wrap was made for: what its own sender could do, knowing the channel key.
func Rebind(ch *Channel, origin, party string) { ch.origin, ch.party = origin, party }
