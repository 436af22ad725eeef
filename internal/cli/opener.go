package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// bodyOpener opens sealed bodies for the reads that print entries or the
// server's summaries (list, watch, breaches, and the whole-log reads of
// opener_log.go; show has openSealed, audit bodyAuditor): with the
// caller's keyring, each package's key unwrapped once, its target package
// fetched when the read has not seen it. What it cannot open is shown as
// its cleartext header, and why is said in one line per kind of reason
// (not a recipient, no key for a rotated key, the author's fault, no key
// at all).
//
// A body opens only under its package's key, which only the package's
// author and recipients hold: what it shows is what one of them sealed.
// The author's signature is what show and audit verify; these reads print
// what show would, without re-deriving the package.
type bodyOpener struct {
	c      *mvmclient.Client
	kr     *message.Keyring
	noKey  error // why there is no keyring, if none
	origin string
	keys   map[string]seal.PackageKey
	failed map[string]error     // package id: why its bodies do not open (remember)
	shared map[sealedKind]error // the first error of each kind remember shares
	told   map[string]bool      // the kinds of reason said already
	notes  []string
	// keyFile is the decryption key file looked for by default.
	keyFile string
	tally   sealedTally // what a whole-log read could not open (opener_log.go)
}

func (e *env) newBodyOpener(c *mvmclient.Client) *bodyOpener {
	o := &bodyOpener{c: c, keys: map[string]seal.PackageKey{}, failed: map[string]error{}, shared: map[sealedKind]error{}, told: map[string]bool{},
		keyFile: e.defaultKeyFile(c.ID.Party)}
	o.kr, o.noKey = e.keyring(c)
	if o.kr == nil && o.noKey == nil {
		o.noKey = fmt.Errorf("%w: party %s has no decryption key here (%s; give --key FILE)", message.ErrNoKey, c.ID.Party, e.defaultKeyFile(c.ID.Party))
	}
	if _, raw, err := e.pinnedAgreement(""); err == nil {
		o.origin = pinnedOrigin(raw)
	} else if o.noKey == nil {
		o.noKey = fmt.Errorf("the log origin the bodies are bound to comes from the pinned agreement: %w", err)
	}
	return o
}

// open returns the payload of o opened if it is sealed and opens; else
// the payload as it is, and false when it is sealed.
func (b *bodyOpener) open(ctx context.Context, o *entry.Opened) (proto.Message, bool) {
	full, err := b.openBody(ctx, o)
	if err != nil {
		b.tell(message.PackageID(o.Payload), err)
		return o.Payload, false
	}
	return full, true
}

// openBody returns the payload of o opened and validated (message.Open)
// if it is sealed, the payload as it is if not; an error says why a
// sealed one does not open.
func (b *bodyOpener) openBody(ctx context.Context, o *entry.Opened) (proto.Message, error) {
	if o.Payload == nil || !message.IsSealed(o.Payload) {
		return o.Payload, nil
	}
	id := message.PackageID(o.Payload)
	var tp *mvmv1.TargetPackage
	if t, ok := o.Payload.(*mvmv1.TargetPackage); ok {
		tp = t
	}
	key, err := b.packageKey(ctx, id, tp)
	if err != nil {
		return nil, err
	}
	// o.Payload is the payload's decoding (entry.Open): not decoded again.
	return message.OpenDecoded(b.origin, key, o.Payload, o.Envelope.GetPayload())
}

// summary returns the summary of package id's target package as logged,
// opened when it is sealed: "(sealed)" when it does not open, "?" when
// the target package is not to be had (the reason is noted).
func (b *bodyOpener) summary(ctx context.Context, id string) string {
	o, err := b.fetchTarget(ctx, id)
	if err != nil {
		b.fail(id, err)
		return "?"
	}
	full, ok := b.open(ctx, o)
	if !ok {
		return "(sealed)"
	}
	return dash(full.(*mvmv1.TargetPackage).Summary)
}

func (b *bodyOpener) fetchTarget(ctx context.Context, id string) (*entry.Opened, error) {
	resp, err := b.c.Package(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("package %s: its target package: %w", id, err)
	}
	if len(resp.Leaves) == 0 {
		return nil, fmt.Errorf("package %s: the server sent no entry of it", id)
	}
	o, err := entry.Open(resp.Leaves[0])
	if err != nil {
		return nil, fmt.Errorf("package %s: its first entry: %w", id, err)
	}
	if tp, ok := o.Payload.(*mvmv1.TargetPackage); !ok || tp.GetHeader().GetMessageId() != id {
		return nil, fmt.Errorf("package %s: the server's first entry of it is not its target package", id)
	}
	return o, nil
}

// packageKey returns the key of package id, unwrapping it from tp, or
// from its target package as fetched when tp is nil: once per package,
// which is then remembered, as is why it does not unwrap.
func (b *bodyOpener) packageKey(ctx context.Context, id string, tp *mvmv1.TargetPackage) (seal.PackageKey, error) {
	if k, ok := b.keys[id]; ok {
		return k, nil
	}
	if err, ok := b.failed[id]; ok {
		return seal.PackageKey{}, err
	}
	if b.noKey != nil {
		return seal.PackageKey{}, b.remember(id, b.noKey)
	}
	if tp == nil {
		o, err := b.fetchTarget(ctx, id)
		if err != nil {
			return seal.PackageKey{}, b.remember(id, err)
		}
		tp = o.Payload.(*mvmv1.TargetPackage)
	}
	k, err := b.kr.PackageKey(b.origin, tp)
	if err != nil {
		return k, b.remember(id, err)
	}
	b.keys[id] = k
	return k, nil
}

// remember records why package id does not open, and returns the error
// to say: for not being a recipient or not holding the key, the first
// error of that kind met, shared, so that a reader of 100,000s of packages
// it cannot open keeps an id for each, not a message (it says each kind
// once anyway).
func (b *bodyOpener) remember(id string, err error) error {
	if kind := sealedKindOf(err); kind == sealedNotRecipient || kind == sealedNoKey {
		if first, ok := b.shared[kind]; ok {
			err = first
		} else {
			b.shared[kind] = err
		}
	}
	b.failed[id] = err
	return err
}

func (b *bodyOpener) fail(id string, err error) {
	b.tell(id, b.remember(id, err))
}

// tell notes why a body shows its header only, once per kind of reason
// (an author's fault every time: it names its own entry).
func (b *bodyOpener) tell(id string, err error) {
	kind := sealedKindOf(err).String()
	if kind == sealedFault.String() {
		kind += " " + id + err.Error()
	}
	if b.told[kind] {
		return
	}
	b.told[kind] = true
	b.notes = append(b.notes, "sealed: headers only: "+oneLine(err))
}

// sealedKind sorts why a sealed body does not open, for the reads that
// say each kind of reason once (tell, remember, reason).
type sealedKind int

const (
	sealedOther        sealedKind = iota
	sealedNotRecipient            // the caller's party is not a recipient
	sealedNoKey                   // no key here, or none with the Key-Id sealed to
	sealedFault                   // the author's fault (message.IsFault)
)

func sealedKindOf(err error) sealedKind {
	switch {
	case errors.Is(err, message.ErrNotRecipient):
		return sealedNotRecipient
	case errors.Is(err, message.ErrNoKey):
		return sealedNoKey
	case message.IsFault(err):
		return sealedFault
	}
	return sealedOther
}

func (k sealedKind) String() string {
	return [...]string{"other", "recipient", "key", "fault"}[k]
}

// takeNotes returns the lines not yet printed.
func (b *bodyOpener) takeNotes() []string {
	n := b.notes
	b.notes = nil
	return n
}

// printBreaches prints bs with each package's summary, opened where the
// caller's keys open it, then why others show headers only.
func (e *env) printBreaches(ctx context.Context, cl *mvmclient.Client, asOf time.Time, bs []workflow.Breach) error {
	open := e.newBodyOpener(cl)
	if err := printBreaches(e.stdout, asOf, bs, func(id string) string { return open.summary(ctx, id) }); err != nil {
		return err
	}
	for _, n := range open.takeNotes() {
		e.printf("%s\n", n)
	}
	return nil
}
