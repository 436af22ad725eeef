package verify

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/mvm-exchange/mvm/internal/agreement"
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
		if d.agreement() {
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
		if err := v.settle(d, v.checkEntry(d)); err != nil {
			return err
		}
	}
	return nil
}

// checkEntry runs the in-order checks of an entry that is not an
// agreement, and applies it to the states if it passes: revocation,
// place and receive time, message id, reducer.
func (v *Verifier) checkEntry(d *decoded) error {
	if d.err != nil {
		return &EntryError{d.index, d.err}
	}
	if err := v.rev.check(d.index, d.e.ReceivedAt.AsTime(), []signerCert{{d.peer.Cert, d.adm.Author.String()}}); err != nil {
		return err
	}
	if err := v.checkPlace(d, d.adm); err != nil {
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
		return nil // accepted, and no package changes
	}
	var compact []byte
	if !v.o.KeepHistory {
		next = next.Compact()
		if v.o.Reduced != nil {
			// One encoding for the spill file and the caller's store
			// (a node's package-state record): ~1 µs an entry.
			compact = next.AppendCompact(nil)
		}
	}
	if err := v.states.setPkg(id, next, compact); err != nil {
		return err
	}
	if v.o.Reduced != nil {
		v.o.Reduced(d.index, pkg, next, compact)
	}
	return nil
}

// settle ends an entry's checks, whose outcome is err: a failure ends the
// run, or, with Options.OnFault, is reported and the entry not applied.
// Either way but the first, the leaf then takes its place in the log.
func (v *Verifier) settle(d *decoded, err error) error {
	if err != nil {
		var ee *EntryError
		if v.o.OnFault == nil || !errors.As(err, &ee) {
			return err // not an entry's fault (a temporary file failing, say): the run ends
		}
		v.faults++
		v.o.OnFault(ee)
	}
	return v.place(d, err != nil)
}

// checkPlace: continuity and receive time (entry.CheckReceived, in log
// order: it needs the previous entry's; a bad signature is named before
// it). adm is nil for agreements and entries not prepared.
func (v *Verifier) checkPlace(d *decoded, adm *entry.Admitted) error {
	if d.index != v.next {
		return &EntryError{d.index, fmt.Errorf("expected index %d", v.next)}
	}
	if err := entry.CheckReceived(v.ag, adm, d.e.ReceivedAt.AsTime(), v.lastTime); err != nil {
		return &EntryError{d.index, err}
	}
	return nil
}

// place puts the leaf in the tree, hands the entry to Options.Visit and
// checks the roots expected at the new size. A faulty entry (keep-going
// mode) is hashed all the same, but its receive time is not the one the
// next entry must follow.
func (v *Verifier) place(d *decoded, faulty bool) error {
	if err := v.tree.Append(tlog.LeafHash(d.leaf), v.o.Node); err != nil {
		return &EntryError{d.index, err}
	}
	if !faulty {
		v.lastTime = d.e.ReceivedAt.AsTime()
	}
	v.next++
	if (v.o.Visit != nil || v.o.Members) && d.o == nil && d.e != nil {
		// Opened as far as it opens: with AgreementsOnly, nothing else
		// required the rest of it.
		d.o, _ = d.open()
	}
	if v.o.Members && !faulty {
		v.member(d.index, d.o)
	}
	if v.o.Visit != nil {
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

// agreementEntry verifies and applies the genesis agreement or an
// amendment.
func (v *Verifier) agreementEntry(d *decoded) error {
	next, err := v.checkAgreement(d)
	if err == nil {
		err = v.checkPlace(d, nil)
	}
	if err != nil && d.index == 0 && v.o.OnFault != nil {
		// Keep-going: check what follows under the genesis as it reads,
		// so that one bad signature on it is one fault, not one per entry.
		if ap, ok := d.payload().(*mvmv1.Agreement); ok {
			if g, perr := agreement.Parse(ap, 0); perr == nil {
				v.ag, v.history = g, []*agreement.Agreement{g}
			}
		}
	}
	if serr := v.settle(d, err); serr != nil || err != nil {
		return serr
	}
	v.ag = next
	v.history = append(v.history, next)
	v.agreementLeaves = append(v.agreementLeaves, d.leaf)
	return nil
}

// checkAgreement checks an agreement entry: the pinned genesis, or every
// party's signature on an amendment and its submitting peer's
// (workflow.Amend), and revocations. It returns the agreement in force
// after it.
func (v *Verifier) checkAgreement(d *decoded) (*agreement.Agreement, error) {
	if d.err != nil {
		return nil, &EntryError{d.index, d.err}
	}
	if d.index == 0 && len(v.o.Genesis) > 0 && !bytes.Equal(d.e.Envelope, v.o.Genesis) {
		return nil, &EntryError{0, errors.New("the genesis agreement is not the pinned one")}
	}
	o, err := d.open()
	d.o = o
	if err != nil {
		return nil, &EntryError{d.index, err}
	}
	ap, ok := o.Payload.(*mvmv1.Agreement)
	if !ok {
		return nil, &EntryError{d.index, fmt.Errorf("entry 0 is a %s, not the agreement", o.Type)}
	}
	at := d.e.ReceivedAt.AsTime()
	if d.index > 0 {
		_, checks, err := entry.PrepareOpened(v.ag, o, d.peer, at)
		for _, c := range checks {
			if err == nil {
				err = c.Verify()
			}
		}
		if err != nil {
			return nil, &EntryError{d.index, err}
		}
	}
	next, err := workflow.Amend(v.ag, o.Envelope, ap, d.index, at)
	if err != nil {
		return nil, &EntryError{d.index, err}
	}
	v.rev.agreement(next)
	if err := v.rev.check(d.index, at, agreementSigners(d, o.Envelope)); err != nil {
		return nil, err
	}
	return next, nil
}

// agreementsOnlyApply checks a chunk for Options.AgreementsOnly: agreement
// entries in full, the others' place in the log and in the tree only.
func (v *Verifier) agreementsOnlyApply(ds []*decoded) error {
	for _, d := range ds {
		var err error
		switch {
		case d.agreement():
			err = v.agreementEntry(d)
		case d.err != nil:
			err = v.settle(d, &EntryError{d.index, d.err})
		case v.ag == nil:
			err = v.settle(d, &EntryError{d.index, errors.New("entry before the genesis agreement")})
		default:
			err = v.settle(d, v.checkPlace(d, nil))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
