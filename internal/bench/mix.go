package bench

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Mix is a workflow to drive: the messages of one package's life, which a
// worker appends in the order the workflow accepts them, package after
// package. Package is 1 when the run submits the packages (counted like
// every append), 0 when it works on packages submitted before the run
// (Options.Pool, not counted): the appends/s of messages on existing
// packages. Ack and Report are 0 or 1 (the responder acknowledges and
// reports once); RFI requests for information come between them.
//
// "package=1,ack=1,report=1,rfi=2" is, per package: the submitter's target
// package, the responder's acknowledgement, two requests for information,
// the action report.
type Mix struct {
	Package, Ack, Report, RFI int
}

// Kinds of append, as a mix names them and a result counts them.
const (
	KindPackage = "package"
	KindAck     = "ack"
	KindReport  = "report"
	KindRFI     = "rfi"
)

// PackagesOnly is the default mix: new target packages only.
var PackagesOnly = Mix{Package: 1}

// ParseMix parses "package=1,ack=1,report=1,rfi=2" (kinds left out are 0).
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return m, fmt.Errorf("mix %q: want KIND=N[,KIND=N] with KIND package, ack, report or rfi and N >= 0", s)
		}
		switch k {
		case KindPackage:
			m.Package = n
		case KindAck:
			m.Ack = n
		case KindReport:
			m.Report = n
		case KindRFI:
			m.RFI = n
		default:
			return m, fmt.Errorf("mix %q: unknown kind %q (want package, ack, report or rfi)", s, k)
		}
	}
	return m, m.check()
}

// check refuses a mix the workflow would refuse part of: a package is
// acknowledged and reported at most once, requests need an acknowledged
// package, and a package holds at most workflow.MaxOpenRequests of them.
func (m Mix) check() error {
	switch {
	case m.Package > 1 || m.Ack > 1 || m.Report > 1:
		return fmt.Errorf("mix %s: package, ack and report are 0 or 1 (each happens once in a package's life)", m)
	case m.RFI > workflow.MaxOpenRequests:
		return fmt.Errorf("mix %s: at most %d requests for information per package (workflow.MaxOpenRequests)", m, workflow.MaxOpenRequests)
	case (m.RFI > 0 || m.Report > 0) && m.Ack == 0:
		return fmt.Errorf("mix %s: requests for information and reports need an acknowledged package: add ack=1", m)
	case len(m.Steps()) == 0:
		return fmt.Errorf("mix %s: nothing to append", m)
	}
	return nil
}

func (m Mix) String() string {
	return fmt.Sprintf("package=%d,ack=%d,report=%d,rfi=%d", m.Package, m.Ack, m.Report, m.RFI)
}

// steps are the appends of one package's life, in workflow order.
func (m Mix) Steps() []string {
	var s []string
	if m.Package == 1 {
		s = append(s, KindPackage)
	}
	if m.Ack == 1 {
		s = append(s, KindAck)
	}
	for range m.RFI {
		s = append(s, KindRFI)
	}
	if m.Report == 1 {
		s = append(s, KindReport)
	}
	return s
}

// Sealing seals what a run appends, as the clients of a sealing agreement
// do: each package to every recipient (Recipients, from the agreement in
// force), its key unwrapped once by the responder (Responder, its
// keyring) for the messages on it.
type Sealing struct {
	Origin     string
	Recipients []message.Recipient
	Responder  *message.Keyring
}

// Flow is one package going through a mix: its target package as sent
// (sealed or not), then the messages on it ([Flow.Message]).
type Flow struct {
	id string
	// Target is the target package as sent, sealed or not, until
	// [Flow.Submitted] trims it.
	Target *mvmv1.TargetPackage
	key    *seal.PackageKey // the responder's, once unwrapped
}

// NewFlow returns a fresh package of about payloadBytes, sealed by s
// when it is not nil.
func NewFlow(payloadBytes int, s *Sealing) (*Flow, error) {
	tp := Package(payloadBytes)
	p := &Flow{id: tp.Header.MessageId, Target: tp}
	if s != nil {
		sealed, _, err := message.SealPackage(tp, s.Origin, s.Recipients)
		if err != nil {
			return nil, err
		}
		p.Target = sealed
	}
	return p, nil
}

// Submitted drops what the package's later messages do not need, once
// its target package was appended: the body and the other parties'
// wrapped keys of a sealed package (the responder still unwraps its key
// from its own wrap at its first message), the whole target package of an
// unsealed one. A pool of tens of thousands of packages then holds ~1 KiB
// each, not the ~6 KiB of a sealed package sent to four parties: the load
// generator's own heap is not what a run measures (a full pool grew the
// client's heap by hundreds of MB and cost it a fifth of its CPU in
// fresh memory, sealed runs only).
func (p *Flow) Submitted(s *Sealing) {
	if s == nil || s.Responder == nil || p.key != nil || p.Target == nil { // nothing more to unwrap
		p.Target = nil
		return
	}
	kept := &mvmv1.TargetPackage{Header: p.Target.Header}
	for _, w := range p.Target.PackageKeys {
		if w.Party == s.Responder.Party {
			kept.PackageKeys = append(kept.PackageKeys, w)
		}
	}
	p.Target = kept
}

// benchNote is the size of the notes and questions a run writes: a short
// paragraph, as a liaison officer writes one.
var benchNote = strings.Repeat("bench text ", 12)

// Message returns the responder's message of kind on p, sealed under the
// package key when s is not nil (the responder unwraps it the first time),
// and then also its serialization, to sign as it is
// (envelope.SealPayload); nil when unsealed.
func (p *Flow) Message(kind string, s *Sealing) (proto.Message, []byte, error) {
	h := mvmclient.NewHeader()
	h.MessageId = IDPrefix + h.MessageId
	var m proto.Message
	switch kind {
	case KindAck:
		m = &mvmv1.Acknowledgement{Header: h, PackageId: p.id, Note: benchNote}
	case KindRFI:
		m = &mvmv1.RequestForInformation{Header: h, PackageId: p.id, Question: benchNote}
	case KindReport:
		m = &mvmv1.ActionReport{Header: h, PackageId: p.id, Outcome: mvmv1.Outcome_OUTCOME_NOT_FOUND, Note: benchNote,
			ActionTime: timestamppb.Now(), Counts: &mvmv1.ActionCounts{}}
	default:
		return nil, nil, fmt.Errorf("bench: no message of kind %q", kind)
	}
	if s == nil {
		return m, nil, nil
	}
	if p.key == nil {
		k, err := s.Responder.PackageKey(s.Origin, p.Target)
		if err != nil {
			return nil, nil, err
		}
		p.key = &k
	}
	return message.SealMessagePayload(m, s.Origin, *p.key)
}
