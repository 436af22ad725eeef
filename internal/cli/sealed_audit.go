package cli

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// bodyAuditor opens, during an audit, every sealed body its keyring may
// read, in log order: a package's key when its target package passes, then
// each later message with it. It keeps one key per readable package (32
// bytes and the id) and the ids of packages it cannot read.
type bodyAuditor struct {
	kr         *message.Keyring
	origin     string
	keys       map[string]seal.PackageKey
	unreadable map[string]bool
	sealed     int
	opened     int
	faults     []string
}

// maxFaultsShown bounds the faults an audit prints; it counts them all.
const maxFaultsShown = 20

// newBodyAuditor returns the auditor of sealed bodies for audit --key, or
// nil when there is no key to open them with: the key files given, else
// CERTS/seal-<party of --as>.key if it exists.
func (e *env) newBodyAuditor(files []string, origin string) (*bodyAuditor, error) {
	party := ""
	if e.as != "" {
		if b, err := os.ReadFile(e.certFile()); err == nil {
			if blk, _ := pem.Decode(b); blk != nil {
				if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
					if id, err := identity.Parse(c); err == nil {
						party = id.Party
					}
				}
			}
		}
	}
	if party == "" {
		if len(files) == 0 {
			return nil, nil
		}
		return nil, usagef("--key: the party whose key it is comes from --as NAME's certificate; give --as")
	}
	kr, err := e.loadKeyring(party, files)
	if kr == nil || err != nil {
		return nil, err
	}
	return &bodyAuditor{kr: kr, origin: origin, keys: map[string]seal.PackageKey{}, unreadable: map[string]bool{}}, nil
}

// visit is audit.Options.Visit: it opens the entry if it is sealed and
// readable. An author's fault is recorded, not returned: the log itself is
// sound, the audit goes on and reports every fault at its end.
func (b *bodyAuditor) visit(index uint64, o *entry.Opened) error {
	if o.Payload == nil || !message.IsSealed(o.Payload) {
		return nil
	}
	b.sealed++
	id := message.PackageID(o.Payload)
	if tp, ok := o.Payload.(*mvmv1.TargetPackage); ok {
		key, err := b.kr.PackageKey(b.origin, tp)
		switch {
		case message.IsFault(err):
			b.fault(index, o, err)
			b.unreadable[id] = true
			return nil
		case err != nil:
			b.unreadable[id] = true // not a recipient, or a key not held
			return nil
		}
		b.keys[id] = key
	}
	key, ok := b.keys[id]
	if !ok {
		return nil
	}
	if _, err := message.Open(b.origin, key, o.Type, o.Envelope.GetPayload()); err != nil {
		b.fault(index, o, err)
		return nil
	}
	b.opened++
	return nil
}

func (b *bodyAuditor) fault(index uint64, o *entry.Opened, err error) {
	b.faults = append(b.faults, fmt.Sprintf("entry %d (%s %s): %v", index, o.Type, o.MessageID(), err))
}

// report prints what was opened, and fails naming the faulty entries.
func (b *bodyAuditor) report(e *env) error {
	e.printf("sealed bodies: %d sealed entries, %d opened and valid with party %s's key, %d in packages it may not read\n",
		b.sealed, b.opened, b.kr.Party, b.sealed-b.opened-len(b.faults))
	if len(b.faults) == 0 {
		return nil
	}
	for i, f := range b.faults {
		if i == maxFaultsShown {
			e.printf("sealed: ... and %d more\n", len(b.faults)-i)
			break
		}
		e.printf("sealed: %s\n", f)
	}
	return fmt.Errorf("FAILED: %d sealed bodies are their signed authors' faults (first: %s)", len(b.faults), b.faults[0])
}

// pinnedOrigin is the log origin of the pinned genesis (amendments cannot
// change it), "" if it does not parse: the audit then fails on it anyway.
func pinnedOrigin(raw []byte) string {
	ag, _, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		return ""
	}
	return ag.LogOrigin
}
