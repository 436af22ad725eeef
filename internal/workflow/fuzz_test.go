package workflow_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// FuzzApply feeds the reducer entries built from fuzzer bytes: each step
// picks an author, a message type and a few field values. Whatever the
// sequence, Apply must not panic, a refusal must wrap one of the refusal
// kinds and leave the package as it was, and an accepted entry must be
// recorded as the package's last event.
func FuzzApply(f *testing.F) {
	fx := newFixture(f)
	f.Add([]byte{0, 0, 1, 1, 2, 1, 4, 2, 7, 3, 8, 1})
	f.Add([]byte{0, 0, 1, 1, 3, 1, 5, 0, 4, 1, 6, 2, 8, 0, 9, 3, 9, 4})
	f.Add([]byte{0, 0, 6, 0, 1, 1, 2, 1})
	f.Add([]byte{0, 0, 1, 1, 4, 1, 7, 3, 8, 2, 9, 3, 9, 4, 9, 3})
	authors := []identity.Identity{pk, af, tr, qa, pk2, zz}
	f.Fuzz(func(t *testing.T, steps []byte) {
		var pkg *workflow.Package
		at := t0
		for i := 0; i+1 < len(steps) && i < 60; i += 2 {
			author := authors[int(steps[i+1])%len(authors)]
			m := fuzzMessage(steps[i], steps[i+1], i)
			in := workflow.Input{Index: uint64(i/2 + 1), ReceivedAt: at, Author: author, Payload: m}
			at = at.Add(time.Duration(steps[i+1]) * time.Hour)
			if pkg != nil && message.PackageID(m) != pkg.ID {
				continue // the caller always passes the package the entry names
			}
			var before *workflow.Package
			if pkg != nil {
				before = deepCopy(pkg)
			}
			next, err := workflow.Apply(fx.ag, pkg, in)
			if err != nil {
				if !isRefusal(err) {
					t.Fatalf("step %d: refusal %v wraps no refusal kind", i/2, err)
				}
				if pkg != nil && !reflect.DeepEqual(before, pkg) {
					t.Fatalf("step %d: a refused entry changed the package", i/2)
				}
				continue
			}
			if last := next.Events[len(next.Events)-1]; last.Index != in.Index {
				t.Fatalf("step %d: accepted entry not recorded (last event %d)", i/2, last.Index)
			}
			pkg = next
		}
	})
}

func isRefusal(err error) bool {
	for _, k := range []error{workflow.ErrPermission, workflow.ErrNotFound, workflow.ErrPrecondition,
		workflow.ErrAlreadyExists, workflow.ErrInvalid} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

func deepCopy(p *workflow.Package) *workflow.Package {
	c := *p
	c.Requests = append([]workflow.Request(nil), p.Requests...)
	c.Findings = append([]workflow.Finding(nil), p.Findings...)
	c.Deadlines = append([]workflow.Deadline(nil), p.Deadlines...)
	c.Events = append([]workflow.Event(nil), p.Events...)
	if p.Dispute != nil {
		d := *p.Dispute
		d.Rulings = map[string]map[string]bool{}
		for k, v := range p.Dispute.Rulings {
			d.Rulings[k] = map[string]bool{}
			for kk, vv := range v {
				d.Rulings[k][kk] = vv
			}
		}
		c.Dispute = &d
	}
	return &c
}

// fuzzMessage builds message type kind%10 about package "p" with values
// drawn from v; i makes message ids unique.
func fuzzMessage(kind, v byte, i int) proto.Message {
	h := &mvmv1.Header{MessageId: "m" + string(rune('a'+i%26)) + string(rune('a'+i/26%26))}
	const id = "p"
	switch kind % 10 {
	case 0:
		h.MessageId = id
		return &mvmv1.TargetPackage{Header: h, Locations: []*mvmv1.Location{{Lat: float64(v) - 90, Lon: 1}}}
	case 1:
		return &mvmv1.Acknowledgement{Header: h, PackageId: id}
	case 2:
		return &mvmv1.RequestForInformation{Header: h, PackageId: id, Question: "q"}
	case 3:
		return &mvmv1.InformationResponse{Header: h, PackageId: id, Answer: "a"}
	case 4:
		return &mvmv1.ActionReport{Header: h, PackageId: id, Outcome: mvmv1.Outcome(1 + v%6), Note: "n"}
	case 5:
		return &mvmv1.EvidenceSubmission{Header: h, PackageId: id, EvidenceSha256: [][]byte{make([]byte, 32)}}
	case 6:
		return &mvmv1.Withdrawal{Header: h, PackageId: id, Reason: "r"}
	case 7:
		return &mvmv1.VerificationFinding{Header: h, PackageId: id, Verdict: mvmv1.Verdict(1 + v%3), Reason: "r"}
	case 8:
		return &mvmv1.Dispute{Header: h, PackageId: id, Reason: "r"}
	default:
		return &mvmv1.Ruling{Header: h, PackageId: id, Decision: []string{"upheld", "dismissed"}[v%2]}
	}
}
