package workflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/internal/identity"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// compactVersion opens every encoding made by AppendCompact.
const compactVersion = 3

// AppendCompact appends to b a binary encoding of the compact state of p,
// what Compact keeps: DecodeCompact of it deep-equals p.Compact(), times
// in UTC. An auditor keeps the states of a long log on disk this way. The
// encoding is for the process that made it (a spill file): it carries a
// version byte but no promise of compatibility across versions.
func (p *Package) AppendCompact(b []byte) []byte {
	e := encoder{b: append(b, compactVersion)}
	e.str(p.ID)
	e.uint(p.Index)
	e.time(p.ReceivedAt)
	e.identity(p.Submitter)
	e.str(p.Responder)
	e.bool(p.Sealed)
	e.str(string(p.Status))
	e.bool(p.Report != nil)
	if p.Report != nil {
		e.int(int64(p.Report.Outcome))
	}
	e.uint(p.AckIndex)
	e.uint(p.ReportIndex)
	e.uint(uint64(len(p.Requests)))
	for _, r := range p.Requests {
		e.str(r.ID)
		e.uint(r.Index)
	}
	e.uint(uint64(len(p.Findings)))
	for _, f := range p.Findings {
		e.str(f.ID)
		e.uint(f.Index)
		e.identity(f.Mediator)
		e.int(int64(f.Verdict))
	}
	e.bool(p.Dispute != nil)
	if d := p.Dispute; d != nil {
		e.str(d.ID)
		e.uint(d.Index)
		e.identity(d.By)
		e.str(d.FindingID)
		e.uint(uint64(len(d.Rulings)))
		for _, decision := range slices.Sorted(maps.Keys(d.Rulings)) {
			signers := d.Rulings[decision]
			e.str(decision)
			e.uint(uint64(len(signers)))
			for _, party := range slices.Sorted(maps.Keys(signers)) {
				e.str(party)
				e.bool(signers[party])
			}
		}
		e.str(d.Decision)
		e.uint(d.RuledAt)
	}
	e.uint(uint64(len(p.Deadlines)))
	for _, d := range p.Deadlines {
		e.str(d.Name)
		e.str(d.Party)
		e.time(d.Due)
		e.time(d.Met)
	}
	e.bool(p.Withdrawn != nil)
	e.int(int64(p.Disputes))
	e.uint(uint64(len(p.Entries)))
	for _, party := range slices.Sorted(maps.Keys(p.Entries)) {
		e.str(party)
		e.uint(uint64(p.Entries[party]))
	}
	return e.b
}

// DecodeCompact decodes what AppendCompact made.
func DecodeCompact(b []byte) (*Package, error) {
	if len(b) == 0 || b[0] != compactVersion {
		return nil, errors.New("workflow: not a compact package encoding")
	}
	d := &decoder{b: b[1:]}
	p := &Package{}
	p.ID = d.str()
	p.Index = d.uint()
	p.ReceivedAt = d.time()
	p.Submitter = d.identity()
	p.Responder = d.str()
	p.Sealed = d.bool()
	p.Status = Status(d.str())
	if d.bool() {
		p.Report = &mvmv1.ActionReport{Outcome: mvmv1.Outcome(d.int())}
	}
	p.AckIndex = d.uint()
	p.ReportIndex = d.uint()
	if n := d.count(); n > 0 {
		p.Requests = make([]Request, n)
		for i := range p.Requests {
			p.Requests[i] = Request{ID: d.str(), Index: d.uint()}
		}
	}
	if n := d.count(); n > 0 {
		p.Findings = make([]Finding, n)
		for i := range p.Findings {
			p.Findings[i] = Finding{ID: d.str(), Index: d.uint(), Mediator: d.identity(), Verdict: mvmv1.Verdict(d.int())}
		}
	}
	if d.bool() {
		dp := &Dispute{ID: d.str(), Index: d.uint(), By: d.identity(), FindingID: d.str()}
		n := d.count()
		dp.Rulings = make(map[string]map[string]bool, n)
		for range n {
			decision := d.str()
			m := d.count()
			signers := make(map[string]bool, m)
			for range m {
				party := d.str()
				signers[party] = d.bool()
			}
			dp.Rulings[decision] = signers
		}
		dp.Decision = d.str()
		dp.RuledAt = d.uint()
		p.Dispute = dp
	}
	if n := d.count(); n > 0 {
		p.Deadlines = make([]Deadline, n)
		for i := range p.Deadlines {
			p.Deadlines[i] = Deadline{Name: d.str(), Party: d.str(), Due: d.time(), Met: d.time()}
		}
	}
	if d.bool() {
		p.Withdrawn = &mvmv1.Withdrawal{}
	}
	p.Disputes = int(d.int())
	if n := d.count(); n > 0 {
		p.Entries = make(map[string]int, n)
		for range n {
			party := d.str()
			p.Entries[party] = int(d.uint())
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("workflow: compact package encoding: %w", d.err)
	}
	return p, nil
}

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) identity(id identity.Identity) {
	e.str(id.TrustDomain)
	e.str(id.Party)
	e.str(id.Name)
}

// time: a zero time is one 0 byte; any other is 1, seconds, nanoseconds.
func (e *encoder) time(t time.Time) {
	e.bool(!t.IsZero())
	if !t.IsZero() {
		e.int(t.Unix())
		e.uint(uint64(t.Nanosecond()))
	}
}

// decoder reads what encoder wrote; the first error sticks and every read
// after it returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or malformed %s", what)
	}
	d.b = nil
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("unsigned integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bool() bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail("flag")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

// count reads a number of elements, each of which takes at least one
// byte, so a corrupt count cannot make the decoder allocate much.
func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail("count")
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) identity() identity.Identity {
	return identity.Identity{TrustDomain: d.str(), Party: d.str(), Name: d.str()}
}

func (d *decoder) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	sec := d.int()
	nsec := d.uint()
	if nsec >= 1e9 {
		d.fail("time")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
