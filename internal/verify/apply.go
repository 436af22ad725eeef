package verify

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// segments verifies and applies a chunk holding agreement entries, one
// segment at a time: each agreement entry changes who is trusted after it.
func (v *Verifier) segments(ds []*decoded) error {
	start := 0
	for i, d := range ds {
		if d.index == 0 || isAgreement(d.e.Envelope) {
			if err := v.verifyParallel(ds[start:i]); err != nil {
				return err
			}
			if err := v.apply(ds[start:i]); err != nil {
				return err
			}
			if err := v.agreementEntry(d); err != nil {
				return err
			}
			start = i + 1
		}
	}
	if err := v.verifyParallel(ds[start:]); err != nil {
		return err
	}
	return v.apply(ds[start:])
}

// apply runs the reducer and extends the tree, in order.
func (v *Verifier) apply(ds []*decoded) error {
	for _, d := range ds {
		if d.err != nil {
			return &EntryError{d.index, d.err}
		}
		if err := v.rev.check(d.index, d.e.ReceivedAt.AsTime(), []signerCert{{d.cert, d.adm.Author.String()}}); err != nil {
			return err
		}
		if err := v.common(d); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(d.adm.Author.URI() + "\x00" + d.adm.MessageID()))
		key := [16]byte(sum[:16])
		prev, dup, err := v.states.useMsgID(key, d.index)
		if err != nil {
			return err
		}
		if dup {
			return &EntryError{d.index, fmt.Errorf("message id %q of %s was already used at index %d", d.adm.MessageID(), d.adm.Author, prev)}
		}
		id := message.PackageID(d.adm.Payload)
		var pkg *workflow.Package
		if id != "" { // "": about no package (a report publication)
			if pkg, err = v.states.pkg(id); err != nil {
				return err
			}
		}
		next, err := workflow.Apply(v.ag, pkg, workflow.Input{Index: d.index, ReceivedAt: d.e.ReceivedAt.AsTime(),
			Author: d.adm.Author, Payload: d.adm.Payload})
		if err != nil {
			return &EntryError{d.index, fmt.Errorf("workflow refuses it: %w", err)}
		}
		if next == nil {
			continue // accepted, and no package changes
		}
		if !v.o.KeepHistory {
			next = next.Compact()
		}
		if err := v.states.setPkg(id, next); err != nil {
			return err
		}
	}
	return nil
}

// common: continuity, receive time (entry.CheckReceived, in log order: it
// needs the previous entry's; a bad signature is named before it), tree,
// and the roots expected at this size.
func (v *Verifier) common(d *decoded) error {
	if d.index != v.next {
		return &EntryError{d.index, fmt.Errorf("expected index %d", v.next)}
	}
	t := d.e.ReceivedAt.AsTime()
	if err := entry.CheckReceived(v.ag, d.adm, t, v.lastTime); err != nil {
		return &EntryError{d.index, err}
	}
	if err := v.tree.Append(tlog.LeafHash(d.leaf), nil); err != nil {
		return &EntryError{d.index, err}
	}
	v.lastTime = t
	v.next++
	if v.o.Visit != nil {
		if d.o == nil {
			// Opened as far as it opens: with AgreementsOnly, nothing
			// else required the rest of it.
			d.o, _ = entry.OpenDecoded(d.leaf, d.e)
		}
		if err := v.o.Visit(d.index, d.o); err != nil {
			return err
		}
	}
	want, expected := v.expect[v.next]
	if v.next == v.o.RootAt || expected {
		root, err := v.tree.Root()
		if err != nil {
			return &EntryError{d.index, err}
		}
		if v.next == v.o.RootAt {
			v.rootAtV = root
		}
		if expected {
			delete(v.expect, v.next)
			if !bytes.Equal(root, want) {
				return &EntryError{d.index, fmt.Errorf("%w of size %d", ErrForked, v.next)}
			}
		}
	}
	return nil
}

// agreementEntry verifies the genesis agreement or an amendment: every
// party's signature, and (for amendments) that the submitting peer signed.
func (v *Verifier) agreementEntry(d *decoded) error {
	if d.index == 0 && len(v.o.Genesis) > 0 && !bytes.Equal(d.e.Envelope, v.o.Genesis) {
		return &EntryError{0, errors.New("the genesis agreement is not the pinned one")}
	}
	o, err := entry.OpenDecoded(d.leaf, d.e)
	if err != nil {
		return &EntryError{d.index, err}
	}
	d.o = o
	ap, ok := o.Payload.(*mvmv1.Agreement)
	if !ok {
		return &EntryError{d.index, fmt.Errorf("entry 0 is a %s, not the agreement", o.Type)}
	}
	at := d.e.ReceivedAt.AsTime()
	if d.index > 0 {
		_, checks, err := entry.PrepareOpened(v.ag, o, d.cert, at)
		for _, c := range checks {
			if err == nil {
				err = c.Verify()
			}
		}
		if err != nil {
			return &EntryError{d.index, err}
		}
	}
	next, err := workflow.Amend(v.ag, o.Envelope, ap, d.index, at)
	if err != nil {
		return &EntryError{d.index, err}
	}
	v.rev.agreement(next)
	if err := v.rev.check(d.index, at, agreementSigners(d, o.Envelope)); err != nil {
		return err
	}
	if err := v.common(d); err != nil {
		return err
	}
	v.ag = next
	v.history = append(v.history, next)
	v.agreementLeaves = append(v.agreementLeaves, d.leaf)
	return nil
}

// agreementsOnlyApply checks a chunk for Options.AgreementsOnly: agreement
// entries in full, the others' place in the log and in the tree only.
func (v *Verifier) agreementsOnlyApply(ds []*decoded) error {
	for _, d := range ds {
		var err error
		switch {
		case d.index == 0 || isAgreement(d.e.Envelope):
			err = v.agreementEntry(d)
		case v.ag == nil:
			err = &EntryError{d.index, errors.New("entry before the genesis agreement")}
		default:
			err = v.common(d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
