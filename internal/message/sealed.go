package message

import (
	"errors"
	"fmt"
	"regexp"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Sealed mode: a sealed payload is its own cleartext header (the payload
// with its [Sensitive] fields empty) plus sealed_body, the full payload
// (without sealed_body and package_keys) sealed under a key derived from
// the package key, with the header's bytes (the payload's bytes without
// the sealed_body field) as associated data. The author signs the
// envelope over the sealed bytes, so receipts and the Merkle tree cover
// the ciphertext and a bad body is provably its author's.

// Bounds of sealed payloads, checked by the server on the header.
const (
	// MaxSealedBody bounds a sealed body: far above what the limits of
	// [Validate] let a full payload reach (a target package at most about
	// 9 KiB), so a valid body always fits.
	MaxSealedBody = 32 << 10
	// MaxRecipients bounds the wrapped keys of a target package.
	MaxRecipients = 16
)

// Errors of opening a sealed payload a caller may branch on.
var (
	// ErrNotRecipient: the caller's party is not among the package's
	// recipients; it may see the header only.
	ErrNotRecipient = errors.New("not a recipient of this package")
	// ErrNoKey: the package was sealed to a key of the caller's party the
	// caller does not hold (an older or newer key after a rotation).
	ErrNoKey = errors.New("no decryption key for this package")
	// ErrFault: the author signed a sealed payload that does not open
	// with a recipient's key, opens to invalid content or contradicts its
	// header. The signature proves whose fault it is.
	ErrFault = errors.New("sealed by its author in a way its recipients cannot accept")
)

func fault(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFault, fmt.Sprintf(format, args...))
}

var keyIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// validateSeal checks what the server can see of a sealed payload.
func validateSeal(m proto.Message) error {
	typ := TypeOf(m)
	if !Sealable(typ) {
		return fieldErr("sealed_body", "%s is never sealed", typ)
	}
	r := m.ProtoReflect()
	for _, n := range Sensitive[typ] {
		if r.Has(r.Descriptor().Fields().ByName(n)) {
			return fieldErr(string(n), "must be empty in a sealed payload: it belongs in the sealed body")
		}
	}
	if err := sealedFilesClear(m); err != nil {
		return err
	}
	if n := len(SealedBody(m)); n < seal.BodyOverhead || n > MaxSealedBody {
		return fieldErr("sealed_body", "%d bytes, a sealed body has %d to %d", n, seal.BodyOverhead, MaxSealedBody)
	}
	tp, ok := m.(*mvmv1.TargetPackage)
	if !ok {
		return nil
	}
	if len(tp.PackageKeys) == 0 || len(tp.PackageKeys) > MaxRecipients {
		return fieldErr("package_keys", "%d wrapped keys, a sealed package has 1 to %d", len(tp.PackageKeys), MaxRecipients)
	}
	seen := map[string]bool{}
	for i, w := range tp.PackageKeys {
		f := "package_keys[" + itoa(i) + "]"
		if w == nil { // only a caller's own message, never decoded bytes
			return fieldErr(f, "is nil")
		}
		switch {
		case !identity.ValidName(w.GetParty()):
			return fieldErr(f+".party", "%q is not a party id", truncate(w.Party))
		case seen[w.GetParty()]:
			return fieldErr(f+".party", "party %s has two wrapped keys", w.Party)
		case !keyIDPattern.MatchString(w.GetKeyId()):
			return fieldErr(f+".key_id", "%q is not a key id (16 hex digits)", truncate(w.KeyId))
		case len(w.GetWrapped()) != seal.WrappedKeySize && len(w.GetWrapped()) != seal.WrappedKeySizeV2:
			return fieldErr(f+".wrapped", "%d bytes, a wrapped key has %d or %d", len(w.Wrapped), seal.WrappedKeySize, seal.WrappedKeySizeV2)
		case len(w.Wrapped) == seal.WrappedKeySizeV2 && w.Wrapped[0] != seal.WrapVersion2:
			return fieldErr(f+".wrapped", "version %d, a wrapped key of %d bytes is of version %d", w.Wrapped[0], seal.WrappedKeySizeV2, seal.WrapVersion2)
		}
		seen[w.Party] = true
	}
	return nil
}

// Recipient is a party a package is sealed to, with its encryption key in
// the agreement in force.
type Recipient struct {
	Party string
	Key   *seal.PublicKey
}

// channels are this process's channel keys to recipients: every package
// it seals wraps its key through them (one encapsulation per recipient key
// and renewal, not per package).
var channels = seal.NewChannels()

// SealPackage seals a valid, unsealed target package to recipients: it
// makes a package key, wraps it for each through the process's channels
// (seal.Channels), and returns the sealed payload (sign and send it as it
// is) and the key (to seal later messages on the package with
// [SealMessage]).
func SealPackage(tp *mvmv1.TargetPackage, logOrigin string, to []Recipient) (*mvmv1.TargetPackage, seal.PackageKey, error) {
	return SealPackageWith(channels, tp, logOrigin, to)
}

// SealPackageWith is [SealPackage] through the given channels; nil wraps
// in format version 1 (one encapsulation per recipient and package), as
// packages were sealed before channel keys.
func SealPackageWith(ch *seal.Channels, tp *mvmv1.TargetPackage, logOrigin string, to []Recipient) (*mvmv1.TargetPackage, seal.PackageKey, error) {
	var key seal.PackageKey
	if len(to) == 0 || len(to) > MaxRecipients {
		return nil, key, fmt.Errorf("message: a package is sealed to 1 to %d parties, not %d", MaxRecipients, len(to))
	}
	key, err := seal.NewPackageKey()
	if err != nil {
		return nil, key, err
	}
	var wrapped []*mvmv1.WrappedKey
	for _, r := range to {
		c := seal.WrapContext{LogOrigin: logOrigin, PackageID: tp.GetHeader().GetMessageId(), Party: r.Party}
		var w []byte
		if ch != nil {
			w, err = ch.Wrap(r.Key, key, c)
		} else {
			w, err = seal.Wrap(r.Key, key, c)
		}
		if err != nil {
			return nil, key, err
		}
		wrapped = append(wrapped, &mvmv1.WrappedKey{Party: r.Party, KeyId: r.Key.ID(), Wrapped: w})
	}
	sealed, payload, err := sealWith(tp, logOrigin, key, func(h proto.Message) { h.(*mvmv1.TargetPackage).PackageKeys = wrapped })
	if err == nil {
		err = reserializes(sealed, payload)
	}
	if err != nil {
		return nil, key, err
	}
	return sealed.(*mvmv1.TargetPackage), key, nil
}

// SealMessage seals a valid, unsealed message on a package whose key is
// key, and returns the sealed payload to sign and send as it is.
func SealMessage(m proto.Message, logOrigin string, key seal.PackageKey) (proto.Message, error) {
	sealed, payload, err := SealMessagePayload(m, logOrigin, key)
	if err != nil {
		return nil, err
	}
	return sealed, reserializes(sealed, payload)
}

// reserializes checks that a sealed payload serializes to the bytes that
// were checked to give its header back: what a caller that signs the
// message (not the bytes) will sign.
func reserializes(sealed proto.Message, payload []byte) error {
	again, err := proto.Marshal(sealed)
	if err != nil {
		return fmt.Errorf("message: serializing sealed %s: %w", TypeOf(sealed), err)
	}
	if string(again) != string(payload) {
		return fmt.Errorf("message: sealed %s does not serialize to the bytes it was sealed as", TypeOf(sealed))
	}
	return nil
}

// SealMessagePayload is [SealMessage] returning also the sealed payload's
// serialization: sign those exact bytes (envelope.SealPayload) instead of
// serializing the message again. The message's sealed_body shares its
// bytes.
func SealMessagePayload(m proto.Message, logOrigin string, key seal.PackageKey) (proto.Message, []byte, error) {
	if _, ok := m.(*mvmv1.TargetPackage); ok {
		return nil, nil, errors.New("message: seal a target package with SealPackage")
	}
	return sealWith(m, logOrigin, key, nil)
}

// sealWith seals m and returns the sealed payload and its bytes: the
// header serialized once, the body sealed in place after it (or before
// the fields numbered above sealed_body: a package's wrapped keys), so
// that the header's bytes, the associated data, are the payload's bytes
// without sealed_body, as every recipient computes them (splitBody).
func sealWith(m proto.Message, logOrigin string, key seal.PackageKey, setKeys func(proto.Message)) (proto.Message, []byte, error) {
	typ := TypeOf(m)
	if !Sealable(typ) {
		return nil, nil, fmt.Errorf("message: %s is never sealed", typ)
	}
	if IsSealed(m) || len(PackageKeys(m)) > 0 {
		return nil, nil, fmt.Errorf("message: %s is sealed already", typ)
	}
	// The author checks what its recipients will check: nothing invalid
	// is sealed where the server cannot see it.
	if err := Validate(m); err != nil {
		return nil, nil, err
	}
	plaintext, err := proto.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("message: serializing %s: %w", typ, err)
	}
	header := Redact(m)
	if setKeys != nil {
		setKeys(header)
	}
	bodyLen := seal.BodyOverhead + len(plaintext)
	field := protowire.SizeTag(SealedBodyNumber) + protowire.SizeBytes(bodyLen)
	hsize := proto.Size(header)
	buf := make([]byte, 0, hsize+field)
	aad, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf, header)
	if err != nil {
		return nil, nil, fmt.Errorf("message: serializing %s's header: %w", typ, err)
	}
	if len(aad) != hsize { // never: the header is this goroutine's own copy
		return nil, nil, fmt.Errorf("message: %s's header serialized to %d bytes, its size is %d", typ, len(aad), hsize)
	}
	at, err := fieldsBefore(aad, SealedBodyNumber)
	if err != nil {
		return nil, nil, fmt.Errorf("message: %s's header: %w", typ, err)
	}
	bc := bodyContext(logOrigin, typ, header)
	var sent []byte
	if at == len(aad) { // sealed_body is the last field: append in place
		sent = protowire.AppendTag(aad, SealedBodyNumber, protowire.BytesType)
		sent = protowire.AppendVarint(sent, uint64(bodyLen))
		sent, err = seal.AppendSealBody(sent, key, bc, aad, plaintext)
	} else {
		sent = make([]byte, 0, len(aad)+field)
		sent = append(sent, aad[:at]...)
		sent = protowire.AppendTag(sent, SealedBodyNumber, protowire.BytesType)
		sent = protowire.AppendVarint(sent, uint64(bodyLen))
		if sent, err = seal.AppendSealBody(sent, key, bc, aad, plaintext); err == nil {
			sent = append(sent, aad[at:]...)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	// A recipient takes as associated data the sent bytes without
	// sealed_body: check that these give it back, and the body.
	got, body, err := splitBody(nil, sent)
	if err != nil || string(got) != string(aad) || len(body) != bodyLen {
		return nil, nil, fmt.Errorf("message: sealed %s does not give its header back unchanged (%v)", typ, err)
	}
	r := header.ProtoReflect()
	r.Set(r.Descriptor().Fields().ByName(sealedBodyField), protoreflect.ValueOfBytes(body))
	return header, sent, nil
}

// fieldsBefore returns the length of the leading fields of a serialized
// message numbered below num: where a field num goes in field order.
func fieldsBefore(b []byte, num protowire.Number) (int, error) {
	n := 0
	for n < len(b) {
		f, _, l := protowire.ConsumeField(b[n:])
		if l < 0 {
			return 0, protowire.ParseError(l)
		}
		if f >= num {
			break
		}
		n += l
	}
	return n, nil
}

func bodyContext(logOrigin, typ string, header proto.Message) seal.BodyContext {
	return seal.BodyContext{LogOrigin: logOrigin, PackageID: PackageID(header), PayloadType: typ, MessageID: Header(header).GetMessageId()}
}

// splitBody splits a serialized payload into its header bytes (every field
// but sealed_body, in order) and its sealed body. The header is a
// subslice of payload when the body is its last field, else a copy, made
// in dst's array if it has room for payload (a caller's scratch buffer).
func splitBody(dst, payload []byte) (header, body []byte, err error) {
	header = payload[:0:0]
	seen := false
	for b := payload; len(b) > 0; {
		num, typ, n := protowire.ConsumeField(b)
		if n < 0 {
			return nil, nil, fmt.Errorf("payload: %w", protowire.ParseError(n))
		}
		if num == SealedBodyNumber && typ == protowire.BytesType {
			if seen {
				return nil, nil, errors.New("payload: two sealed_body fields")
			}
			_, _, tn := protowire.ConsumeTag(b)
			v, vn := protowire.ConsumeBytes(b[tn:n])
			if vn < 0 {
				return nil, nil, fmt.Errorf("payload: %w", protowire.ParseError(vn))
			}
			body, seen = v, true
		} else if !seen && len(header) == len(payload)-len(b) {
			// Every field so far, in place: a subslice of payload (the
			// body is usually the last field).
			header = payload[: len(header)+n : len(header)+n]
		} else {
			if cap(header)-len(header) < n {
				if cap(dst) < len(payload) {
					dst = make([]byte, 0, len(payload))
				}
				header = append(dst[:0], header...)
			}
			header = append(header, b[:n]...)
		}
		b = b[n:]
	}
	return header, body, nil
}
