package message

import (
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Keyring is what a party holds to open sealed bodies: its decryption
// keys by key id, the current one and any rotated ones still needed for
// older packages.
//
// It remembers the channel keys it opened (seal.ChannelCache, bounded), so
// a reader of many packages from one sender decapsulates once per channel.
// Safe for concurrent use.
type Keyring struct {
	Party    string
	keys     map[string]*seal.PrivateKey
	channels *seal.ChannelCache
}

// NewKeyring returns a keyring of party holding keys.
func NewKeyring(party string, keys ...*seal.PrivateKey) *Keyring {
	k := &Keyring{Party: party, keys: map[string]*seal.PrivateKey{}, channels: seal.NewChannelCache(0)}
	for _, key := range keys {
		k.keys[key.Public().ID()] = key
	}
	return k
}

// PackageKey unwraps the key of a sealed target package for the keyring's
// party. It fails with [ErrNotRecipient] if the package was not sealed to
// the party, [ErrNoKey] if to a key the keyring does not hold, and
// [ErrFault] if the wrap for a key it holds does not open.
func (k *Keyring) PackageKey(logOrigin string, tp *mvmv1.TargetPackage) (seal.PackageKey, error) {
	id := tp.GetHeader().GetMessageId()
	for _, w := range tp.GetPackageKeys() {
		if w.Party != k.Party {
			continue
		}
		priv, ok := k.keys[w.KeyId]
		if !ok {
			return seal.PackageKey{}, fmt.Errorf("%w: package %s was sealed to party %s's key %s; give the decryption key with that Key-Id", ErrNoKey, id, k.Party, w.KeyId)
		}
		key, err := k.channels.Unwrap(priv, w.Wrapped, seal.WrapContext{LogOrigin: logOrigin, PackageID: id, Party: k.Party})
		if err != nil {
			return key, fault("package %s: the package key wrapped for party %s (key %s) does not open: %v", id, k.Party, w.KeyId, err)
		}
		return key, nil
	}
	var parties []string
	for _, w := range tp.GetPackageKeys() {
		parties = append(parties, w.Party)
	}
	return seal.PackageKey{}, fmt.Errorf("%w: package %s is sealed to parties %v, not %s: only its header is readable", ErrNotRecipient, id, parties, k.Party)
}

// Open opens the sealed payload of an envelope (payload type and the exact
// signed payload bytes) with its package's key, and returns the full
// payload. It fails with [ErrFault] when the body does not open, opens to
// a payload that is invalid ([Validate]) or is not the one its header
// shows (its [Redact] differs from the header): each is the author's
// signed fault.
func Open(logOrigin string, key seal.PackageKey, payloadType string, payload []byte) (proto.Message, error) {
	header, err := Decode(payloadType, payload)
	if err != nil {
		return nil, err
	}
	return OpenDecoded(logOrigin, key, header, payload)
}

// OpenDecoded is [Open] for a payload its caller decoded already (header
// is Decode of payload, which it does not change), as an audit holds
// every entry: the payload is not decoded again.
func OpenDecoded(logOrigin string, key seal.PackageKey, header proto.Message, payload []byte) (proto.Message, error) {
	payloadType := TypeOf(header)
	if !IsSealed(header) {
		return nil, fmt.Errorf("message: %s %s is not sealed", payloadType, Header(header).GetMessageId())
	}
	scratch := aadScratch.Get().(*[]byte)
	defer aadScratch.Put(scratch)
	if cap(*scratch) < len(payload) && len(payload) <= maxScratch {
		*scratch = make([]byte, 0, len(payload))
	}
	aad, body, err := splitBody(*scratch, payload)
	if err != nil {
		return nil, fault("%v", err)
	}
	msgID := Header(header).GetMessageId()
	// The plaintext goes into a pooled buffer, wiped before it goes back:
	// Decode copies every field out of it (protobuf aliases its input
	// only when asked to).
	ptBuf := plaintextScratch.Get().(*[]byte)
	plaintext, err := seal.AppendOpenBody((*ptBuf)[:0], key, bodyContext(logOrigin, payloadType, header), aad, body)
	defer func() {
		clear(plaintext)
		if plaintext != nil && cap(plaintext) <= maxScratch {
			*ptBuf = plaintext[:0] // nil when it did not open: the buffer is kept
		}
		plaintextScratch.Put(ptBuf)
	}()
	if err != nil {
		return nil, fault("%s %s: the sealed body does not open with the package key: %v", payloadType, msgID, err)
	}
	full, err := Decode(payloadType, plaintext)
	if err != nil {
		return nil, fault("%s %s: the sealed body is not a payload: %v", payloadType, msgID, err)
	}
	if IsSealed(full) || len(PackageKeys(full)) > 0 {
		return nil, fault("%s %s: the sealed body is itself sealed", payloadType, msgID)
	}
	if err := Validate(full); err != nil {
		return nil, fault("%s %s: the sealed body is invalid: %v", payloadType, msgID, err)
	}
	if !sameHeader(full, header) {
		return nil, fault("%s %s: the sealed body contradicts its cleartext header", payloadType, msgID)
	}
	return full, nil
}

// aadScratch holds the buffers OpenDecoded copies a payload's header
// bytes into when the sealed body is not the payload's last field (a
// target package's wrapped keys, some 5 KB, follow its body): the
// associated data is used only while the body opens, and an audit opens
// every body. Payloads above maxScratch get a buffer of their own.
var aadScratch = sync.Pool{New: func() any { return new([]byte) }}

// plaintextScratch holds the buffers OpenDecoded opens bodies into, the
// same way: wiped (the plaintext is what was sealed) before they go back.
var plaintextScratch = sync.Pool{New: func() any { return new([]byte) }}

const maxScratch = 64 << 10

// IsFault reports whether err is an author's provable fault.
func IsFault(err error) bool { return errors.Is(err, ErrFault) }
