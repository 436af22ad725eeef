package workflow_test

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Authors. The reducer sees authenticated identities; certificates are
// checked before it (package entry), so plain values are enough here.
var (
	pk  = identity.Identity{TrustDomain: "mvm.example", Party: "pk", Name: "pk-liaison"}
	pk2 = identity.Identity{TrustDomain: "mvm.example", Party: "pk", Name: "pk-second"}
	af  = identity.Identity{TrustDomain: "mvm.example", Party: "af", Name: "af-interior"}
	af2 = identity.Identity{TrustDomain: "mvm.example", Party: "af", Name: "af-second"}
	tr  = identity.Identity{TrustDomain: "mvm.example", Party: "tr", Name: "tr-verifier"}
	tr2 = identity.Identity{TrustDomain: "mvm.example", Party: "tr", Name: "tr-second"}
	qa  = identity.Identity{TrustDomain: "mvm.example", Party: "qa", Name: "qa-verifier"}
	zz  = identity.Identity{TrustDomain: "mvm.example", Party: "zz", Name: "zz-outsider"}
)

// genTime is when test PKIs are generated; t0 is when test packages start.
var (
	genTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t0      = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
)

// fixture is a dev PKI with its genesis agreement.
type fixture struct {
	dir   string
	env   *mvmv1.Envelope
	proto *mvmv1.Agreement
	ag    *agreement.Agreement // ruling quorum 2, mediators tr and qa
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	if err := devpki.Generate(devpki.Options{Dir: dir, Now: genTime}); err != nil {
		t.Fatalf("devpki.Generate: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	if err != nil {
		t.Fatal(err)
	}
	ag, env, err := agreement.FromEnvelope(raw, 0)
	if err != nil {
		t.Fatalf("agreement.FromEnvelope: %v", err)
	}
	p := ag.Proto
	if ag.RulingQuorum != 2 {
		t.Fatalf("dev agreement ruling quorum: got %v, want %v", ag.RulingQuorum, 2)
	}
	return &fixture{dir: dir, env: env, proto: p, ag: ag}
}

// variant parses a modified copy of the dev agreement at index idx.
func (f *fixture) variant(t testing.TB, idx uint64, mutate func(p *mvmv1.Agreement)) *agreement.Agreement {
	t.Helper()
	p := proto.Clone(f.proto).(*mvmv1.Agreement)
	mutate(p)
	ag, err := agreement.Parse(p, idx)
	if err != nil {
		t.Fatalf("agreement.Parse(variant): %v", err)
	}
	return ag
}

func (f *fixture) signer(t testing.TB, name string) envelope.Signer {
	t.Helper()
	tc, err := devpki.LoadKeyPair(f.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return envelope.Signer{Key: tc.PrivateKey.(crypto.Signer), Certificate: tc.Leaf, EmbedCertificate: true}
}

// seal signs p by the named dev identities and returns the parsed envelope
// with the payload as the server would decode it.
func (f *fixture) seal(t testing.TB, p *mvmv1.Agreement, names ...string) (*mvmv1.Envelope, *mvmv1.Agreement) {
	t.Helper()
	var signers []envelope.Signer
	for _, n := range names {
		signers = append(signers, f.signer(t, n))
	}
	raw, err := envelope.Seal(p, signers...)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.Decode(env.PayloadType, env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return env, m.(*mvmv1.Agreement)
}

var allSigners = []string{"pk-liaison", "af-interior", "tr-verifier", "qa-verifier"}

// world hands out log indexes, receive times and message ids.
type world struct {
	t   testing.TB
	ag  *agreement.Agreement
	idx uint64
	now time.Time
	n   int
}

func newWorld(t testing.TB, ag *agreement.Agreement) *world {
	return &world{t: t, ag: ag, now: t0}
}

func (w *world) id(prefix string) string {
	w.n++
	return fmt.Sprintf("%s-%d", prefix, w.n)
}

func (w *world) hdr(prefix string) *mvmv1.Header {
	return &mvmv1.Header{MessageId: w.id(prefix), AuthoredAt: timestamppb.New(w.now)}
}

// input makes the next log entry, one minute after the previous one.
func (w *world) input(author identity.Identity, m proto.Message) workflow.Input {
	return w.inputAt(author, m, w.now.Add(time.Minute))
}

// inputAt makes the next log entry received at a given time.
func (w *world) inputAt(author identity.Identity, m proto.Message, at time.Time) workflow.Input {
	w.t.Helper()
	if err := message.Validate(m); err != nil {
		w.t.Fatalf("test built an invalid %s: %v", message.TypeOf(m), err)
	}
	w.idx++
	w.now = at
	return workflow.Input{Index: w.idx, ReceivedAt: at, Author: author, Payload: m}
}

// apply applies m by author and checks the universal guarantees: the input
// is not mutated, a refusal returns nil and wraps exactly one kind, an
// acceptance records exactly one event.
func (w *world) apply(p *workflow.Package, author identity.Identity, m proto.Message) (*workflow.Package, error) {
	return w.applyIn(p, w.input(author, m))
}

func (w *world) applyIn(p *workflow.Package, in workflow.Input) (*workflow.Package, error) {
	w.t.Helper()
	before := snapshot(p)
	next, err := workflow.Apply(w.ag, p, in)
	checkUnchanged(w.t, before, p)
	if err != nil {
		if next != nil {
			w.t.Errorf("Apply returned a package with error %v", err)
		}
		if n := refusalKinds(err); n != 1 {
			w.t.Errorf("refusal %v wraps %d kinds, want exactly 1", err, n)
		}
		return nil, err
	}
	if next == nil {
		w.t.Fatalf("Apply returned nil, nil")
	}
	if p != nil && next == p {
		w.t.Errorf("Apply returned its input package")
	}
	want := 1
	if p != nil {
		want = len(p.Events) + 1
	}
	if len(next.Events) != want {
		w.t.Errorf("events after accept: got %v, want %v", len(next.Events), want)
	} else if e := next.Events[len(next.Events)-1]; e.Index != in.Index || e.Type != message.TypeOf(in.Payload) ||
		e.Status != next.Status || e.Author != in.Author || !e.ReceivedAt.Equal(in.ReceivedAt) ||
		e.MessageID != message.Header(in.Payload).GetMessageId() {
		w.t.Errorf("last event: got %+v, want index %d type %s status %s by %v", e, in.Index, message.TypeOf(in.Payload), next.Status, in.Author)
	}
	return next, nil
}

// must applies m and fails the test if it is refused.
func (w *world) must(p *workflow.Package, author identity.Identity, m proto.Message) *workflow.Package {
	w.t.Helper()
	next, err := w.apply(p, author, m)
	if err != nil {
		w.t.Fatalf("Apply %s by %v: %v", message.TypeOf(m), author, err)
	}
	return next
}

var kinds = []error{workflow.ErrPermission, workflow.ErrNotFound, workflow.ErrPrecondition, workflow.ErrAlreadyExists, workflow.ErrInvalid, workflow.ErrBound}

func refusalKinds(err error) int {
	n := 0
	for _, k := range kinds {
		if errors.Is(err, k) {
			n++
		}
	}
	return n
}

// pkgSnapshot is an independent deep copy of a package.
type pkgSnapshot struct {
	pkg                       *workflow.Package
	target, report, withdrawn proto.Message
}

func snapshot(p *workflow.Package) *pkgSnapshot {
	if p == nil {
		return nil
	}
	c := *p
	c.Requests = slices.Clone(p.Requests)
	c.Findings = slices.Clone(p.Findings)
	c.Deadlines = slices.Clone(p.Deadlines)
	c.Events = slices.Clone(p.Events)
	if p.Dispute != nil {
		d := *p.Dispute
		if p.Dispute.Rulings != nil {
			d.Rulings = map[string]map[string]bool{}
			for k, v := range p.Dispute.Rulings {
				inner := map[string]bool{}
				for kk, vv := range v {
					inner[kk] = vv
				}
				d.Rulings[k] = inner
			}
		}
		c.Dispute = &d
	}
	s := &pkgSnapshot{pkg: &c}
	if p.Target != nil {
		s.target = proto.Clone(p.Target)
	}
	if p.Report != nil {
		s.report = proto.Clone(p.Report)
	}
	if p.Withdrawn != nil {
		s.withdrawn = proto.Clone(p.Withdrawn)
	}
	return s
}

func checkUnchanged(t testing.TB, before *pkgSnapshot, p *workflow.Package) {
	t.Helper()
	if before == nil {
		return
	}
	if !reflect.DeepEqual(before.pkg, p) {
		t.Errorf("Apply mutated its input package:\n got  %+v\n want %+v", p, before.pkg)
	}
	for _, pair := range []struct {
		name string
		a    proto.Message
		b    proto.Message
	}{{"Target", before.target, p.Target}, {"Report", before.report, p.Report}, {"Withdrawn", before.withdrawn, p.Withdrawn}} {
		if pair.a == nil {
			continue
		}
		if !proto.Equal(pair.a, pair.b) {
			t.Errorf("Apply mutated the input package's %s", pair.name)
		}
	}
}

// Message builders. Every message they return passes message.Validate.

func digest(b byte) [][]byte { return [][]byte{bytes.Repeat([]byte{b}, 32)} }

func (w *world) target(id string) *mvmv1.TargetPackage {
	return &mvmv1.TargetPackage{
		Header:    &mvmv1.Header{MessageId: id, AuthoredAt: timestamppb.New(w.now)},
		Locations: []*mvmv1.Location{{Lat: 34.01, Lon: 71.52, PrecisionM: 25}},
		Summary:   "suspected safe house", Priority: mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_AMBER,
	}
}

func (w *world) ack(pkg string) *mvmv1.Acknowledgement {
	return &mvmv1.Acknowledgement{Header: w.hdr("ack"), PackageId: pkg}
}

func (w *world) rfi(pkg string) *mvmv1.RequestForInformation {
	return &mvmv1.RequestForInformation{Header: w.hdr("rfi"), PackageId: pkg, Question: "which floor?"}
}

func (w *world) answer(pkg, requestID string) *mvmv1.InformationResponse {
	return &mvmv1.InformationResponse{Header: w.hdr("ans"), PackageId: pkg, RequestId: requestID, Answer: "second"}
}

func (w *world) report(pkg string, o mvmv1.Outcome, withEvidence bool) *mvmv1.ActionReport {
	r := &mvmv1.ActionReport{Header: w.hdr("rep"), PackageId: pkg, Outcome: o, Note: "see report"}
	if withEvidence {
		r.EvidenceSha256 = digest(7)
	}
	return r
}

func (w *world) evidence(pkg string) *mvmv1.EvidenceSubmission {
	return &mvmv1.EvidenceSubmission{Header: w.hdr("ev"), PackageId: pkg, EvidenceSha256: digest(9)}
}

func (w *world) withdraw(pkg string) *mvmv1.Withdrawal {
	return &mvmv1.Withdrawal{Header: w.hdr("wd"), PackageId: pkg, Reason: "no longer relevant"}
}

func (w *world) finding(pkg string, v mvmv1.Verdict) *mvmv1.VerificationFinding {
	return &mvmv1.VerificationFinding{Header: w.hdr("find"), PackageId: pkg, Verdict: v, Reason: "site visit"}
}

func (w *world) dispute(pkg, findingID string) *mvmv1.Dispute {
	return &mvmv1.Dispute{Header: w.hdr("disp"), PackageId: pkg, FindingId: findingID, Reason: "disagree"}
}

func (w *world) ruling(pkg, disputeID, decision string) *mvmv1.Ruling {
	return &mvmv1.Ruling{Header: w.hdr("rule"), PackageId: pkg, DisputeId: disputeID, Decision: decision}
}
