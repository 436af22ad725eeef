package verify

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// decoded is one leaf on its way through the pipeline.
type decoded struct {
	index uint64
	leaf  []byte
	e     *mvmv1.Entry
	o     *entry.Opened // opened on a worker (or by the agreement check)
	peer  *entry.Peer   // the signer's certificate
	adm   *entry.Admitted
	err   error
	// env is d.e's envelope as envelope.Parse returned it, once agreement
	// has parsed it without error: opening the entry does not parse it
	// again. Set in log order, before the entry goes to a worker.
	env    *mvmv1.Envelope
	parsed bool // agreement tried to parse it
}

// agreement tells an entry that changes who is trusted after it: entry 0,
// or one whose envelope holds an agreement (one that does not parse holds
// none, and fails where it is opened).
func (d *decoded) agreement() bool {
	if d.index == 0 {
		return true
	}
	if d.e == nil {
		return false
	}
	if !d.parsed {
		d.env, _ = envelope.ParseShared(d.e.Envelope) // the leaf is held (decode)
		d.parsed = true
	}
	return d.env != nil && d.env.PayloadType == message.TypeAgreement
}

// open opens the entry (entry.OpenDecoded), from the envelope agreement
// parsed if it did.
func (d *decoded) open() (*entry.Opened, error) {
	if d.env != nil {
		return entry.OpenParsed(d.leaf, d.e, d.env)
	}
	return entry.OpenDecoded(d.leaf, d.e)
}

// payload is the entry's payload as far as it was opened, nil if not.
func (d *decoded) payload() any {
	if d.o == nil {
		return nil
	}
	return d.o.Payload
}

// pipeline overlaps the three stages of a verification: while the
// workers verify the signatures of one chunk, the verifier decodes the
// next and applies the previous one in log order. Chunks holding an
// agreement entry run alone, because the agreement decides who is
// trusted for the entries after it.
type pipeline struct {
	v       *Verifier
	decoded uint64 // next index to decode
	pending []*inflight
}

type inflight struct {
	ds   []*decoded
	stop error // a decoding failure after ds
	wg   sync.WaitGroup
}

// queued is how many leaves are pushed but not applied.
func (p *pipeline) queued() int {
	n := 0
	for _, f := range p.pending {
		n += len(f.ds)
	}
	return n
}

// push decodes a chunk and starts its verification, applying the chunk
// before it once that one is verified.
func (p *pipeline) push(leaves [][]byte) error {
	if p.decoded < p.v.next {
		p.decoded = p.v.next // resumed
	}
	ds, stop := p.v.decode(p.decoded, leaves)
	p.decoded += uint64(len(leaves))
	if p.v.o.AgreementsOnly {
		if err := p.v.agreementsOnlyApply(ds); err != nil {
			return err
		}
		return stop
	}
	if p.v.ag == nil || slices.ContainsFunc(ds, (*decoded).agreement) {
		if err := p.drain(); err != nil {
			return err
		}
		if err := p.v.segments(ds); err != nil {
			return err
		}
		return stop
	}
	f := &inflight{ds: ds, stop: stop}
	p.v.verifyAsync(ds, &f.wg)
	p.pending = append(p.pending, f)
	if stop != nil {
		return p.drain()
	}
	if len(p.pending) > 1 {
		return p.applyOldest()
	}
	return nil
}

func (p *pipeline) applyOldest() error {
	f := p.pending[0]
	p.pending = p.pending[1:]
	f.wg.Wait()
	if err := p.v.apply(f.ds); err != nil {
		p.abandon()
		return err
	}
	if f.stop != nil {
		p.abandon()
		return f.stop
	}
	return nil
}

// drain applies every chunk in flight, in order.
func (p *pipeline) drain() error {
	for len(p.pending) > 0 {
		if err := p.applyOldest(); err != nil {
			return err
		}
	}
	return nil
}

// abandon waits for verifications still running after a failure.
func (p *pipeline) abandon() {
	for _, f := range p.pending {
		f.wg.Wait()
	}
	p.pending = nil
}

// decode decodes the first layer of leaves from index first on. A leaf
// that cannot be decoded (or whose signer certificate cannot be had) ends
// the run; its error is returned apart, to be reported only once the
// entries before it have passed every check, so that the error names the
// first bad entry. In keep-going mode (Options.OnFault) it stays on the
// entry instead (d.e is nil if the leaf does not decode), and the run
// goes on.
func (v *Verifier) decode(first uint64, leaves [][]byte) ([]*decoded, error) {
	ds := make([]*decoded, 0, len(leaves))
	for i, leaf := range leaves {
		d := &decoded{index: first + uint64(i), leaf: leaf}
		// The entry's envelope is a slice of the leaf, which the
		// verifier holds until the entry is applied (Push), and an
		// Opened holds after that.
		e, err := entry.DecodeLeafShared(leaf)
		d.e = e
		if err == nil && e.Index != d.index {
			err = fmt.Errorf("leaf claims index %d", e.Index)
		}
		if err == nil && d.index > 0 && (!v.o.AgreementsOnly || d.agreement()) {
			d.peer, err = v.certificate(e.PeerCertificateSha256)
		}
		if err != nil {
			if v.o.OnFault == nil {
				return ds, &EntryError{d.index, err}
			}
			d.err = err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// verifyParallel opens and verifies ds (verifyAsync) and waits. Failures
// stay on each entry; apply reports them in log order.
func (v *Verifier) verifyParallel(ds []*decoded) error {
	if len(ds) == 0 {
		return nil
	}
	if v.ag == nil {
		if v.o.OnFault == nil {
			return &EntryError{ds[0].index, errors.New("entry before the genesis agreement")}
		}
		for _, d := range ds {
			if d.err == nil {
				d.err = errors.New("entry before the genesis agreement")
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	v.verifyAsync(ds, &wg)
	wg.Wait()
	return nil
}

// verifyAsync starts opening and verifying ds under the agreement in
// force now (the checks of entry.Admit: entry.PrepareOpened, then the
// signatures as batches, see VerifyParallel); wg is done when all are
// checked.
func (v *Verifier) verifyAsync(ds []*decoded, wg *sync.WaitGroup) {
	ag := v.ag
	wg.Add(1)
	go func() {
		defer wg.Done()
		VerifyParallel(v.o.Workers, len(ds), func(i int) []envelope.Check {
			d := ds[i]
			var cs []envelope.Check
			if d.err != nil {
				return nil // keep-going: failed to decode; apply reports it
			}
			if d.o, d.err = d.open(); d.err == nil {
				d.adm, cs, d.err = entry.PrepareOpened(ag, d.o, d.peer, d.e.ReceivedAt.AsTime())
			}
			return cs
		}, func(i int, err error) {
			if d := ds[i]; d.err == nil {
				d.adm, d.err = nil, err
			}
		})
	}()
}
