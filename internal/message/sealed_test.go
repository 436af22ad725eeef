package message_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

const origin = "mvm.example/exchange/dev"

// parties of the sealing tests, each with its decryption key.
type sealParties struct {
	keys map[string]*seal.PrivateKey
}

func newSealParties(t testing.TB, ids ...string) sealParties {
	t.Helper()
	p := sealParties{keys: map[string]*seal.PrivateKey{}}
	for _, id := range ids {
		k, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		p.keys[id] = k
	}
	return p
}

func (p sealParties) recipients(ids ...string) []message.Recipient {
	var out []message.Recipient
	for _, id := range ids {
		out = append(out, message.Recipient{Party: id, Key: p.keys[id].Public()})
	}
	return out
}

func (p sealParties) keyring(id string) *message.Keyring { return message.NewKeyring(id, p.keys[id]) }

// distinctive values a sealed payload must not show in its bytes.
const (
	secretLat     = 34.01517171
	secretSummary = "SECRET-SUMMARY-7f3a"
	secretNote    = "SECRET-NOTE-91bc"
)

func secretTarget() *mvmv1.TargetPackage {
	tp := validTarget()
	tp.Header.MessageId = "pkg-1"
	tp.Locations[0].Lat = secretLat
	tp.Locations[0].Description = "SECRET-PLACE-0d1e"
	tp.Summary = secretSummary
	tp.SuspectedGroup = "SECRET-GROUP-55aa"
	return tp
}

// secretMessages are valid messages of every sealable type on package
// pkg-1, each sensitive text set to secretNote.
func secretMessages() []proto.Message {
	var out []proto.Message
	for _, m := range []proto.Message{validAck(), validRFI(), validResponse(), validReport(), validEvidence(),
		validWithdrawal(), validFinding(), validDispute(), validRuling()} {
		r := m.ProtoReflect()
		for _, n := range message.Sensitive[message.TypeOf(m)] {
			r.Set(r.Descriptor().Fields().ByName(n), protoreflect.ValueOfString(secretNote))
		}
		out = append(out, m)
	}
	return out
}

// TestSealOpenRoundTrip: every sealable type seals to a header that the
// server's Validate accepts and whose bytes show no sensitive value, and
// each recipient opens it back to the full payload.
func TestSealOpenRoundTrip(t *testing.T) {
	ps := newSealParties(t, "pk", "af", "tr", "qa")
	tp := secretTarget()
	header, key, err := message.SealPackage(tp, origin, ps.recipients("pk", "af", "tr", "qa"))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(tp, secretTarget()) {
		t.Fatal("SealPackage changed its input")
	}
	check := func(t *testing.T, full, sealed proto.Message) {
		t.Helper()
		if err := message.Validate(sealed); err != nil {
			t.Fatalf("Validate(sealed header) = %v", err)
		}
		payload := mustMarshal(t, sealed)
		for _, secret := range []string{secretSummary, secretNote, "SECRET-PLACE", "SECRET-GROUP"} {
			if bytes.Contains(payload, []byte(secret)) {
				t.Fatalf("sealed payload shows %q", secret)
			}
		}
		for _, party := range []string{"pk", "af", "tr", "qa"} {
			k, err := ps.keyring(party).PackageKey(origin, header)
			if err != nil {
				t.Fatalf("party %s: PackageKey: %v", party, err)
			}
			got, err := message.Open(origin, k, message.TypeOf(full), payload)
			if err != nil {
				t.Fatalf("party %s: Open: %v", party, err)
			}
			if !proto.Equal(got, full) {
				t.Fatalf("party %s opened\n%v\nwant\n%v", party, got, full)
			}
		}
	}
	t.Run("TargetPackage", func(t *testing.T) { check(t, tp, header) })
	for _, m := range secretMessages() {
		t.Run(string(m.ProtoReflect().Descriptor().Name()), func(t *testing.T) {
			sealed, err := message.SealMessage(m, origin, key)
			if err != nil {
				t.Fatal(err)
			}
			check(t, m, sealed)
		})
	}
}

// TestSealMessagePayload: the bytes SealMessagePayload gives to sign are
// the sealed message's serialization, decode to it and open to the full
// payload, for every sealable type; SealMessage's message serializes to
// the same bytes.
func TestSealMessagePayload(t *testing.T) {
	ps := newSealParties(t, "pk", "af")
	_, key, err := message.SealPackage(secretTarget(), origin, ps.recipients("pk", "af"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range secretMessages() {
		typ := message.TypeOf(m)
		sealed, payload, err := message.SealMessagePayload(m, origin, key)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if got := mustMarshal(t, sealed); !bytes.Equal(got, payload) {
			t.Errorf("%s: the payload is not the sealed message's serialization:\n%x\n%x", typ, payload, got)
		}
		decoded, err := message.Decode(typ, payload)
		if err != nil || !proto.Equal(decoded, sealed) {
			t.Errorf("%s: the payload decodes to %v, %v; want the sealed message", typ, decoded, err)
		}
		full, err := message.Open(origin, key, typ, payload)
		if err != nil || !proto.Equal(full, m) {
			t.Errorf("%s: the payload opens to %v, %v; want the message sealed", typ, full, err)
		}
		if bytes.Contains(payload, []byte(secretNote)) {
			t.Errorf("%s: the payload shows its note", typ)
		}
	}
}

// TestVersion1Package: a package wrapped as before channel keys (one
// encapsulation per recipient) still opens for each recipient.
func TestVersion1Package(t *testing.T) {
	ps := newSealParties(t, "pk", "af", "tr")
	header, key, err := message.SealPackageWith(nil, secretTarget(), origin, ps.recipients("pk", "af", "tr"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range header.PackageKeys {
		if len(w.Wrapped) != seal.WrappedKeySize {
			t.Fatalf("a version 1 wrap has %d bytes, want %d", len(w.Wrapped), seal.WrappedKeySize)
		}
	}
	for _, party := range []string{"pk", "af", "tr"} {
		k, err := ps.keyring(party).PackageKey(origin, header)
		if err != nil || k != key {
			t.Fatalf("party %s: %x, %v; want the package key", party, k, err)
		}
	}
}

// TestSealedOverhead: what sealing adds on disk, with four recipients.
func TestSealedOverhead(t *testing.T) {
	ps := newSealParties(t, "pk", "af", "tr", "qa")
	tp := secretTarget()
	header, key, err := message.SealPackage(tp, origin, ps.recipients("pk", "af", "tr", "qa"))
	if err != nil {
		t.Fatal(err)
	}
	plain, sealed := len(mustMarshal(t, tp)), len(mustMarshal(t, header))
	t.Logf("target package: %d bytes plain, %d sealed to 4 parties", plain, sealed)
	if sealed > 6<<10 {
		t.Errorf("a target package sealed to 4 parties has %d bytes, the goal is at most 6 KiB", sealed)
	}
	ack, err := message.SealMessage(validAck(), origin, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("acknowledgement: %d bytes plain, %d sealed", len(mustMarshal(t, validAck())), len(mustMarshal(t, ack)))
}

func TestSealRefuses(t *testing.T) {
	ps := newSealParties(t, "pk", "af")
	key, _ := seal.NewPackageKey()
	invalid := validAck()
	invalid.PackageId = "bad id"
	sealedAck, err := message.SealMessage(validAck(), origin, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		name string
		err  error
		say  string
	}{
		{"invalid message", func() error { _, err := message.SealMessage(invalid, origin, key); return err }(), "package_id"},
		{"sealed twice", func() error { _, err := message.SealMessage(sealedAck, origin, key); return err }(), "sealed already"},
		{"agreement", func() error { _, err := message.SealMessage(validAgreement(), origin, key); return err }(), "never sealed"},
		{"package through SealMessage", func() error { _, err := message.SealMessage(validTarget(), origin, key); return err }(), "SealPackage"},
		{"no recipients", func() error { _, _, err := message.SealPackage(validTarget(), origin, nil); return err }(), "1 to 16 parties"},
		{"invalid package", func() error {
			tp := validTarget()
			tp.Locations = nil
			_, _, err := message.SealPackage(tp, origin, ps.recipients("pk"))
			return err
		}(), "locations"},
	} {
		t.Run(test.name, func(t *testing.T) {
			if test.err == nil || !strings.Contains(test.err.Error(), test.say) {
				t.Fatalf("got %v, want an error saying %q", test.err, test.say)
			}
		})
	}
}

// TestValidateSealedHeader: what the server checks of a sealed payload.
func TestValidateSealedHeader(t *testing.T) {
	ps := newSealParties(t, "pk", "af", "tr")
	header, key, err := message.SealPackage(secretTarget(), origin, ps.recipients("pk", "af", "tr"))
	if err != nil {
		t.Fatal(err)
	}
	ack, err := message.SealMessage(validAck(), origin, key)
	if err != nil {
		t.Fatal(err)
	}
	v1, _, err := message.SealPackageWith(nil, secretTarget(), origin, ps.recipients("pk", "af", "tr"))
	if err != nil {
		t.Fatal(err)
	}
	tpCase := func(f func(*mvmv1.TargetPackage)) proto.Message {
		c := proto.Clone(header).(*mvmv1.TargetPackage)
		f(c)
		return c
	}
	ackCase := func(f func(*mvmv1.Acknowledgement)) proto.Message {
		c := proto.Clone(ack).(*mvmv1.Acknowledgement)
		f(c)
		return c
	}
	for _, test := range []struct {
		name  string
		m     proto.Message
		field string // "" = valid
	}{
		{"sealed package", header, ""},
		{"sealed acknowledgement", ack, ""},
		{"sealed package, keys of version 1", v1, ""},
		{"wrapped key of an unknown version", tpCase(func(p *mvmv1.TargetPackage) { p.PackageKeys[1].Wrapped[0] = 3 }), "package_keys[1].wrapped"},
		{"location in the clear", tpCase(func(p *mvmv1.TargetPackage) { p.Locations = []*mvmv1.Location{loc()} }), "locations"},
		{"summary in the clear", tpCase(func(p *mvmv1.TargetPackage) { p.Summary = "s" }), "summary"},
		{"group in the clear", tpCase(func(p *mvmv1.TargetPackage) { p.SuspectedGroup = "g" }), "suspected_group"},
		{"note in the clear", ackCase(func(p *mvmv1.Acknowledgement) { p.Note = "n" }), "note"},
		{"body too short", ackCase(func(p *mvmv1.Acknowledgement) { p.SealedBody = p.SealedBody[:seal.BodyOverhead-1] }), "sealed_body"},
		{"body too long", ackCase(func(p *mvmv1.Acknowledgement) { p.SealedBody = make([]byte, message.MaxSealedBody+1) }), "sealed_body"},
		{"cleartext fields still checked", ackCase(func(p *mvmv1.Acknowledgement) { p.PackageId = "bad id" }), "package_id"},
		{"keys without body", tpCase(func(p *mvmv1.TargetPackage) { p.SealedBody = nil }), "package_keys"},
		{"body without keys", tpCase(func(p *mvmv1.TargetPackage) { p.PackageKeys = nil }), "package_keys"},
		{"too many keys", tpCase(func(p *mvmv1.TargetPackage) {
			for i := range message.MaxRecipients {
				w := proto.Clone(p.PackageKeys[0]).(*mvmv1.WrappedKey)
				w.Party = "p" + string(rune('a'+i))
				p.PackageKeys = append(p.PackageKeys, w)
			}
		}), "package_keys"},
		{"two keys for a party", tpCase(func(p *mvmv1.TargetPackage) { p.PackageKeys[1].Party = p.PackageKeys[0].Party }), "package_keys[1].party"},
		{"bad party", tpCase(func(p *mvmv1.TargetPackage) { p.PackageKeys[0].Party = "PK" }), "package_keys[0].party"},
		{"bad key id", tpCase(func(p *mvmv1.TargetPackage) { p.PackageKeys[2].KeyId = "xyz" }), "package_keys[2].key_id"},
		{"wrapped key short", tpCase(func(p *mvmv1.TargetPackage) { p.PackageKeys[0].Wrapped = p.PackageKeys[0].Wrapped[:10] }), "package_keys[0].wrapped"},
	} {
		t.Run(test.name, func(t *testing.T) {
			err := message.Validate(test.m)
			if test.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var fe *message.FieldError
			if !errors.As(err, &fe) || fe.Field != test.field {
				t.Fatalf("Validate = %v, want an error on %s", err, test.field)
			}
		})
	}
}

// TestOpenFaults: each way an author can sign a body its recipients cannot
// accept is caught, as the author's fault or as not readable.
func TestOpenFaults(t *testing.T) {
	ps := newSealParties(t, "pk", "af", "tr", "qa")
	tp := secretTarget()
	header, key, err := message.SealPackage(tp, origin, ps.recipients("pk", "af", "tr"))
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := seal.NewPackageKey()
	ack, err := message.SealMessage(validAck(), origin, key)
	if err != nil {
		t.Fatal(err)
	}
	ackPayload := mustMarshal(t, ack)
	typeAck := message.TypeAcknowledgement

	// sealRaw seals plaintext as an author that skips the checks would.
	sealRaw := func(hdr proto.Message, plaintext proto.Message, k seal.PackageKey, c seal.BodyContext) []byte {
		aad := mustMarshal(t, hdr)
		body, err := seal.SealBody(k, c, aad, mustMarshal(t, plaintext))
		if err != nil {
			t.Fatal(err)
		}
		h := proto.Clone(hdr)
		h.ProtoReflect().Set(h.ProtoReflect().Descriptor().Fields().ByName("sealed_body"), protoreflect.ValueOfBytes(body))
		return mustMarshal(t, h)
	}
	ackHeader := message.Redact(validAck())
	ackCtx := seal.BodyContext{LogOrigin: origin, PackageID: "pkg-1", PayloadType: typeAck, MessageID: "msg-1"}
	invalidAck := validAck()
	invalidAck.Note = strings.Repeat("x", message.MaxText+1)
	otherAck := validAck()
	otherAck.PackageId = "pkg-2"
	movedBody := mustMarshal(t, func() proto.Message {
		other := validAck()
		other.Header.MessageId = "msg-2"
		h := message.Redact(other)
		h.(*mvmv1.Acknowledgement).SealedBody = ack.(*mvmv1.Acknowledgement).SealedBody
		return h
	}())
	changedHeader := mustMarshal(t, func() proto.Message {
		h := proto.Clone(ack).(*mvmv1.Acknowledgement)
		h.Header.AuthoredAt.Seconds++
		return h
	}())

	for _, test := range []struct {
		name    string
		key     seal.PackageKey
		payload []byte
		say     string
	}{
		{"body sealed under another package key", otherKey, ackPayload, "does not open"},
		{"body moved to another message", key, movedBody, "does not open"},
		{"header changed after sealing", key, changedHeader, "does not open"},
		{"body flipped", key, func() []byte {
			h := proto.Clone(ack).(*mvmv1.Acknowledgement)
			h.SealedBody[len(h.SealedBody)-1] ^= 1
			return mustMarshal(t, h)
		}(), "does not open"},
		{"valid signature, invalid plaintext", key, sealRaw(ackHeader, invalidAck, key, ackCtx), "is invalid"},
		{"header and body disagree", key, sealRaw(message.Redact(otherAck), validAck(), key,
			seal.BodyContext{LogOrigin: origin, PackageID: "pkg-2", PayloadType: typeAck, MessageID: "msg-1"}), "contradicts its cleartext header"},
		{"sensitive field also in the header", key, sealRaw(validAck(), validAck(), key, ackCtx), "contradicts its cleartext header"},
		{"body not a payload", key, func() []byte {
			aad := mustMarshal(t, ackHeader)
			body, _ := seal.SealBody(key, ackCtx, aad, []byte{0xff, 0xff})
			h := proto.Clone(ackHeader).(*mvmv1.Acknowledgement)
			h.SealedBody = body
			return mustMarshal(t, h)
		}(), "not a payload"},
		{"body itself sealed", key, sealRaw(ackHeader, ack, key, ackCtx), "itself sealed"},
	} {
		t.Run(test.name, func(t *testing.T) {
			_, err := message.Open(origin, test.key, typeAck, test.payload)
			if !message.IsFault(err) || !strings.Contains(err.Error(), test.say) {
				t.Fatalf("Open = %v, want the author's fault saying %q", err, test.say)
			}
		})
	}

	t.Run("not a recipient", func(t *testing.T) {
		_, err := ps.keyring("qa").PackageKey(origin, header)
		if !errors.Is(err, message.ErrNotRecipient) || !strings.Contains(err.Error(), "[pk af tr]") {
			t.Fatalf("got %v, want ErrNotRecipient naming the recipients", err)
		}
	})
	t.Run("rotated key not held", func(t *testing.T) {
		newer, _ := seal.GenerateKey()
		_, err := message.NewKeyring("af", newer).PackageKey(origin, header)
		if !errors.Is(err, message.ErrNoKey) || !strings.Contains(err.Error(), ps.keys["af"].Public().ID()) {
			t.Fatalf("got %v, want ErrNoKey naming the key id", err)
		}
		// Holding both the old and the new key opens it.
		if _, err := message.NewKeyring("af", newer, ps.keys["af"]).PackageKey(origin, header); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("key wrapped for another package", func(t *testing.T) {
		bad := proto.Clone(header).(*mvmv1.TargetPackage)
		w, err := seal.Wrap(ps.keys["af"].Public(), key, seal.WrapContext{LogOrigin: origin, PackageID: "pkg-2", Party: "af"})
		if err != nil {
			t.Fatal(err)
		}
		bad.PackageKeys[1].Wrapped = w
		if _, err := ps.keyring("af").PackageKey(origin, bad); !message.IsFault(err) {
			t.Fatalf("got %v, want the author's fault", err)
		}
	})
	t.Run("key wrapped to another party's key", func(t *testing.T) {
		bad := proto.Clone(header).(*mvmv1.TargetPackage)
		w, err := seal.Wrap(ps.keys["qa"].Public(), key, seal.WrapContext{LogOrigin: origin, PackageID: "pkg-1", Party: "af"})
		if err != nil {
			t.Fatal(err)
		}
		bad.PackageKeys[1].Wrapped = w
		if _, err := ps.keyring("af").PackageKey(origin, bad); !message.IsFault(err) {
			t.Fatalf("got %v, want the author's fault", err)
		}
	})
	t.Run("unsealed payload", func(t *testing.T) {
		if _, err := message.Open(origin, key, typeAck, mustMarshal(t, validAck())); err == nil || message.IsFault(err) {
			t.Fatalf("got %v, want a plain error", err)
		}
	})
}

// TestRedact: Redact clears the listed fields and no other.
func TestRedact(t *testing.T) {
	tp := secretTarget()
	got := message.Redact(tp).(*mvmv1.TargetPackage)
	if len(got.Locations) != 0 || got.Summary != "" || got.SuspectedGroup != "" {
		t.Fatalf("Redact left sensitive fields: %v", got)
	}
	if got.Priority != tp.Priority || got.Tlp != tp.Tlp || got.Responder != tp.Responder || len(got.EvidenceSha256) != 1 {
		t.Fatalf("Redact cleared cleartext fields: %v", got)
	}
	if len(tp.Locations) != 1 {
		t.Fatal("Redact changed its input")
	}
	for _, m := range allValid() {
		// Every package message is sealable; an agreement and a report
		// publication (a digest and a checkpoint) concern no package and
		// are not: they go in the clear under a sealing agreement.
		want := message.PackageID(m) != "" || message.TypeOf(m) == message.TypeTargetPackage
		if got := message.Sealable(message.TypeOf(m)); got != want {
			t.Errorf("Sealable(%s): got %v, want %v", message.TypeOf(m), got, want)
		}
	}
}

// A sealed evidence submission shows each file's stored digest and size
// (the server checks the stored object against them) but not its name or
// media type, which can say what a film shows.
func TestSealedEvidenceFiles(t *testing.T) {
	ps := newSealParties(t, "pk", "af", "tr")
	_, key, err := message.SealPackage(secretTarget(), origin, ps.recipients("pk", "af", "tr"))
	if err != nil {
		t.Fatal(err)
	}
	d := bytes.Repeat([]byte{7}, message.EvidenceDigestLen)
	pd := bytes.Repeat([]byte{8}, message.EvidenceDigestLen)
	ev := &mvmv1.EvidenceSubmission{Header: validAck().Header, PackageId: validAck().PackageId, EvidenceSha256: [][]byte{d},
		Files: []*mvmv1.EvidenceFile{{StoredSha256: d, StoredSize: 50, Name: "raid-at-the-farm.mp4", MediaType: "video/mp4", PlaintextSize: 3, PlaintextSha256: pd}}}
	sealed, err := message.SealMessage(ev, origin, key)
	if err != nil {
		t.Fatal(err)
	}
	h := sealed.(*mvmv1.EvidenceSubmission)
	if f := h.Files[0]; f.Name != "" || f.MediaType != "" || f.PlaintextSize != 0 || f.PlaintextSha256 != nil || !bytes.Equal(f.StoredSha256, d) || f.StoredSize != 50 {
		t.Fatalf("sealed header's file = %v, want the digest and size only", f)
	}
	if err := message.Validate(h); err != nil {
		t.Fatalf("Validate(sealed header) = %v", err)
	}
	leaky := proto.Clone(h).(*mvmv1.EvidenceSubmission)
	leaky.Files[0].Name = "raid-at-the-farm.mp4"
	var fe *message.FieldError
	if err := message.Validate(leaky); !errors.As(err, &fe) || fe.Field != "files[0].name" {
		t.Fatalf("Validate(name in the clear) = %v, want an error on files[0].name", err)
	}
	leaky = proto.Clone(h).(*mvmv1.EvidenceSubmission)
	leaky.Files[0].PlaintextSha256 = pd
	if err := message.Validate(leaky); !errors.As(err, &fe) || fe.Field != "files[0].plaintext_sha256" {
		t.Fatalf("Validate(plaintext digest in the clear) = %v, want an error on files[0].plaintext_sha256", err)
	}
	opened, err := message.Open(origin, key, message.TypeEvidenceSubmission, mustMarshal(t, h))
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if f := opened.(*mvmv1.EvidenceSubmission).Files[0]; f.Name != "raid-at-the-farm.mp4" || f.MediaType != "video/mp4" || f.PlaintextSize != 3 || !bytes.Equal(f.PlaintextSha256, pd) {
		t.Fatalf("opened file = %v, want its name and media type back", f)
	}
}

// TestOpenConcurrent: target packages (whose header bytes are copied into
// a scratch buffer reused from opening to opening: their wrapped keys
// follow the body) opened at the same time each open to their own
// payload; and each payload opened stays whole after the buffers its
// plaintext was opened into (pooled, wiped) served other bodies.
func TestOpenConcurrent(t *testing.T) {
	ps := newSealParties(t, "pk", "af", "tr")
	type sealed struct {
		full    *mvmv1.TargetPackage
		key     seal.PackageKey
		header  proto.Message
		payload []byte
	}
	var pkgs []sealed
	for i := range 6 {
		tp := secretTarget()
		tp.Header.MessageId = fmt.Sprintf("pkg-%d", i)
		tp.Summary = strings.Repeat("s", 1+i*300)
		h, key, err := message.SealPackage(tp, origin, ps.recipients("pk", "af", "tr")[:1+i%3])
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, sealed{tp, key, h, mustMarshal(t, h)})
	}
	var wg sync.WaitGroup
	kept := make([][]proto.Message, len(pkgs))
	for i, p := range pkgs {
		wg.Go(func() {
			for range 200 {
				got, err := message.OpenDecoded(origin, p.key, p.header, p.payload)
				if err != nil || !proto.Equal(got, p.full) {
					t.Errorf("package %s: %v", p.full.Header.MessageId, err)
					return
				}
				kept[i] = append(kept[i], got)
			}
		})
	}
	wg.Wait()
	for i, p := range pkgs {
		for _, got := range kept[i] {
			if !proto.Equal(got, p.full) {
				t.Fatalf("package %s opened, then changed when other bodies were opened: %v", p.full.Header.MessageId, got)
			}
		}
	}
}
