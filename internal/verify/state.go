package verify

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// stateMagic opens a saved state; the number after it is the format's
// version, refused by a Resume that does not know it.
const (
	stateMagic   = "mvm-verifier-state\n"
	stateVersion = 2
)

// The kind of verifier a state was saved by (a uvarint of these bits, in
// version 2): a state resumes only a verifier of the same kind, so an
// agreements-only state never passes for a full one.
const (
	kindAgreementsOnly = 1 << iota
	kindMembers
)

// ErrState means a saved state cannot be resumed: not one, another
// version, damaged or edited (its SHA-256 does not match), or saved under
// other pinned trust (genesis, CRLs). Verify the log from its start.
var ErrState = errors.New("saved verifier state refused (verify the log from its start)")

// Limits on what a saved state may announce, so that a damaged one fails
// on its checksum, not on an allocation.
const (
	maxStateBlob       = 1 << 22 // a leaf or a package state
	maxStateAgreements = 1 << 16
)

// Save writes everything the verifier remembers: the entries' count and
// last receive time, the tree's right edge, the agreement entries, the
// roots still expected, the revocation notes, every message-id digest
// and every package state, its kind (agreements only, members) and the
// package members, then a SHA-256 of all of it. It flushes first. A
// verifier that keeps history or keeps going past faults cannot be saved.
func (v *Verifier) Save(w io.Writer) error {
	switch {
	case v.o.KeepHistory:
		return errors.New("save: a verifier that keeps package history cannot be saved")
	case v.o.OnFault != nil:
		return errors.New("save: a verifier that keeps going past faults cannot be saved")
	}
	if err := v.Flush(); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	s := &stateWriter{w: bw, h: sha256.New()}
	s.bytes([]byte(stateMagic))
	s.uvarint(stateVersion)
	s.blob(crlDigest(v.o.CRLs))
	s.uvarint(v.next)
	if v.lastTime.IsZero() {
		s.uvarint(0)
	} else {
		s.uvarint(1)
		s.uvarint(uint64(v.lastTime.UnixNano()))
	}
	var edge [][]byte
	v.tree.Edge(func(_ tlog.NodeID, h []byte) { edge = append(edge, h) })
	s.uvarint(uint64(len(edge)))
	for _, h := range edge {
		s.blob(h)
	}
	s.uvarint(uint64(len(v.agreementLeaves)))
	for _, l := range v.agreementLeaves {
		s.blob(l)
	}
	sizes := slices.Sorted(func(yield func(uint64) bool) {
		for k := range v.expect {
			if !yield(k) {
				return
			}
		}
	})
	s.uvarint(uint64(len(sizes)))
	for _, n := range sizes {
		s.uvarint(n)
		s.blob(v.expect[n])
	}
	s.uvarint(uint64(len(v.rev.before)))
	for _, i := range v.rev.before {
		s.uvarint(i)
	}
	pkgs, ids := v.states.counts()
	s.uvarint(uint64(ids))
	err := v.states.eachMsgID(func(key [16]byte, index uint64) error {
		s.bytes(key[:])
		s.uvarint(index)
		return s.err
	})
	s.uvarint(uint64(pkgs))
	if err == nil {
		err = v.states.eachPkg(func(id string, p *workflow.Package) error {
			s.blob([]byte(id))
			s.blob(p.AppendCompact(nil))
			return s.err
		})
	}
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	s.uvarint(v.kind())
	v.saveMembers(s)
	if s.err != nil {
		return fmt.Errorf("save: %w", s.err)
	}
	if _, err := bw.Write(s.h.Sum(nil)); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// Resume reads a state Save wrote and returns a verifier that goes on
// from there, with o (the genesis and CRLs must be those it was saved
// under, AgreementsOnly and Members as they were). It checks the state's version and checksum, and verifies its
// agreement entries again (every party's signature, from the pinned
// genesis): a state refused is an error wrapping [ErrState]. The message
// ids and package states stream into the verifier's structures (with
// Options.Bounded, into its files), so resuming takes no more memory than
// verifying.
func Resume(r io.Reader, o Options) (*Verifier, error) {
	if o.KeepHistory {
		return nil, errors.New("resume: a verifier that keeps history cannot resume")
	}
	v := newVerifier(o)
	if err := v.openStates(); err != nil {
		return nil, err
	}
	if err := v.resume(r); err != nil {
		v.Close()
		if !errors.Is(err, ErrState) {
			err = fmt.Errorf("%w: %w", ErrState, err)
		}
		return nil, err
	}
	return v, nil
}

func (v *Verifier) resume(r io.Reader) error {
	s := &stateReader{r: bufio.NewReaderSize(r, 1<<16), h: sha256.New()}
	if magic := s.bytes(len(stateMagic)); string(magic) != stateMagic {
		return errors.New("not a saved verifier state")
	}
	// Version 1 (before the kind) is read as a full verifier's without
	// members: the states a node saved before stay good.
	ver := s.uvarint()
	if s.err == nil && ver != stateVersion && ver != 1 {
		return fmt.Errorf("state format version %d, this verifier reads 1 and %d", ver, stateVersion)
	}
	if crls := s.blob(); s.err == nil && !bytes.Equal(crls, crlDigest(v.o.CRLs)) {
		return errors.New("saved under other certificate revocation lists")
	}
	v.next = s.uvarint()
	if s.uvarint() == 1 {
		v.lastTime = time.Unix(0, int64(s.uvarint())).UTC()
	}
	edge := make(edgeReader, 0, 64)
	for n := s.count(64); n > 0 && s.err == nil; n-- {
		edge = append(edge, s.blob())
	}
	var leaves [][]byte
	for n := s.count(maxStateAgreements); n > 0 && s.err == nil; n-- {
		leaves = append(leaves, s.blob())
	}
	for n := s.count(1 << 16); n > 0 && s.err == nil; n-- {
		size := s.uvarint()
		v.expect[size] = s.blob()
	}
	for n := s.count(-1); n > 0 && s.err == nil; n-- {
		v.rev.before = append(v.rev.before, s.uvarint())
	}
	for n := s.count(-1); n > 0 && s.err == nil; n-- {
		key := [16]byte(s.bytes(16))
		index := s.uvarint()
		if s.err == nil {
			if _, dup, err := v.states.useMsgID(key, index); err != nil || dup {
				return errors.Join(err, errors.New("a message id twice"))
			}
		}
	}
	for n := s.count(-1); n > 0 && s.err == nil; n-- {
		id, raw := s.blob(), s.blob()
		if s.err != nil {
			break
		}
		p, err := workflow.DecodeCompact(raw)
		if err != nil {
			return fmt.Errorf("package %q: %w", id, err)
		}
		if err := v.states.setPkg(string(id), p, nil); err != nil {
			return err
		}
	}
	kind := uint64(0)
	if ver >= 2 {
		kind = s.uvarint()
	}
	if s.err == nil && kind != v.kind() {
		return fmt.Errorf("saved by a verifier of another kind (%s), this one is %s", kindName(kind), kindName(v.kind()))
	}
	v.resumeMembers(s)
	if s.err != nil {
		return s.err
	}
	sum := s.h.Sum(nil)
	got := make([]byte, len(sum))
	if _, err := io.ReadFull(s.r, got); err != nil || !bytes.Equal(got, sum) {
		return errors.New("its SHA-256 does not match: damaged or edited")
	}
	if _, err := s.r.ReadByte(); err != io.EOF {
		return errors.New("bytes after its end")
	}
	tree, err := tlog.NewTree(v.next, edge)
	if err != nil {
		return err
	}
	v.tree = tree
	return v.resumeAgreements(leaves)
}

// resumeAgreements verifies the saved agreement entries again, in order,
// from the pinned genesis, and registers each for the CRLs.
func (v *Verifier) resumeAgreements(leaves [][]byte) error {
	if len(leaves) == 0 {
		if v.next > 0 {
			return errors.New("no agreement")
		}
		return nil
	}
	indexes := make([]uint64, len(leaves))
	for i, leaf := range leaves {
		e, err := entry.DecodeLeaf(leaf)
		if err != nil {
			return fmt.Errorf("agreement %d: %w", i, err)
		}
		indexes[i] = e.Index
	}
	history, err := Agreements(indexes, leaves, v.o.Genesis)
	if err != nil {
		return err
	}
	for i, ag := range history {
		if ag.Index >= v.next {
			return fmt.Errorf("agreement %d claims index %d", i, ag.Index)
		}
		v.rev.agreement(ag)
	}
	v.ag, v.history, v.agreementLeaves = history[len(history)-1], history, leaves
	return nil
}

// Agreements verifies the agreement entries of a log, the leaves stored
// at indexes, in log order from entry 0, as the verifier does when it
// meets them: each opens (entry.Open), claims its index, holds an
// agreement, and is signed by every party under the agreement before it
// (workflow.Amend); genesis, if not empty, must be entry 0's envelope. It
// does not check who submitted an amendment, or revocations (that takes
// the signer certificates and the log around them). It returns the
// agreements in force from each; a failure is an [*EntryError].
func Agreements(indexes []uint64, leaves [][]byte, genesis []byte) ([]*agreement.Agreement, error) {
	var history []*agreement.Agreement
	var current *agreement.Agreement
	for i, leaf := range leaves {
		at := indexes[i]
		o, err := entry.Open(leaf)
		if err != nil {
			return nil, &EntryError{at, err}
		}
		switch {
		case o.Index() != at:
			return nil, &EntryError{at, fmt.Errorf("leaf claims index %d", o.Index())}
		case (i == 0) != (at == 0) || (i > 0 && at <= history[i-1].Index):
			return nil, &EntryError{at, fmt.Errorf("agreement %d of the log at index %d", i, at)}
		case i == 0 && len(genesis) > 0 && !bytes.Equal(o.Entry.Envelope, genesis):
			return nil, &EntryError{0, errors.New("the genesis agreement is not the pinned one")}
		}
		ap, ok := o.Payload.(*mvmv1.Agreement)
		if !ok {
			return nil, &EntryError{at, fmt.Errorf("entry %d is a %s, not an agreement", at, o.Type)}
		}
		if current, err = workflow.Amend(current, o.Envelope, ap, at, o.ReceivedAt()); err != nil {
			return nil, &EntryError{at, err}
		}
		history = append(history, current)
	}
	return history, nil
}

// crlDigest names a set of CRLs, whatever their order.
func crlDigest(crls []*x509.RevocationList) []byte {
	var sums [][]byte
	for _, c := range crls {
		s := sha256.Sum256(c.Raw)
		sums = append(sums, s[:])
	}
	slices.SortFunc(sums, bytes.Compare)
	h := sha256.New()
	for _, s := range sums {
		h.Write(s)
	}
	return h.Sum(nil)
}
