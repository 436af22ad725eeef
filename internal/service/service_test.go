package service_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// ---------------------------------------------------------------------------
// Fixture and helpers shared by every test of the package.

// fixture is a running exchange with one client per dev identity and the
// pinned log verifier key.
type fixture struct {
	env     *testenv.Env
	clients map[string]*mvmclient.Client
	v       note.Verifier
}

func newFixture(t *testing.T, options ...func(*server.Config)) *fixture {
	t.Helper()
	f := &fixture{env: testenv.New(t, options...)}
	f.v = logVerifier(t, f.env.Certs)
	f.dial(t)
	return f
}

// dial (re)creates one client per dev identity against the current address.
func (f *fixture) dial(t *testing.T) {
	t.Helper()
	f.clients = map[string]*mvmclient.Client{}
	for _, name := range []string{testenv.Submitter, testenv.Responder, testenv.Mediator, testenv.Mediator2} {
		f.clients[name] = f.env.Client(name)
	}
}

func (f *fixture) pk() *mvmclient.Client { return f.clients[testenv.Submitter] }
func (f *fixture) af() *mvmclient.Client { return f.clients[testenv.Responder] }
func (f *fixture) tr() *mvmclient.Client { return f.clients[testenv.Mediator] }

// logVerifier loads the pinned log verifier key <certs>/log.vkey.
func logVerifier(t *testing.T, certs string) note.Verifier {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(certs, "log.vkey"))
	if err != nil {
		t.Fatalf("read log.vkey: %v", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("log.vkey: %v", err)
	}
	return v
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkpoint fetches the signed checkpoint over the wire (as a mediator) and
// verifies it with the pinned key.
func (f *fixture) checkpoint(t *testing.T) (*tlog.Checkpoint, []byte) {
	t.Helper()
	resp, err := f.tr().API.GetCheckpoint(ctxT(t), &mvmv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatalf("GetCheckpoint: %v", err)
	}
	cp, _, err := tlog.OpenCheckpoint(resp.Checkpoint, f.v.Name(), f.v)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	return cp, resp.Checkpoint
}

// size is the log size of the latest signed checkpoint.
func (f *fixture) size(t *testing.T) uint64 {
	t.Helper()
	cp, _ := f.checkpoint(t)
	return cp.Size
}

// wantSize fails unless the log size (both as signed and as the ledger's
// head) is want.
func (f *fixture) wantSize(t *testing.T, want uint64) {
	t.Helper()
	if got := f.size(t); got != want {
		t.Errorf("checkpoint size: got %d, want %d", got, want)
	}
	if got := f.env.Server.Ledger().Head().Size; got != want {
		t.Errorf("ledger head size: got %d, want %d", got, want)
	}
}

// wantCode fails unless err carries the gRPC code want and, if non-empty,
// a message containing every one of substrs.
func wantCode(t *testing.T, err error, want codes.Code, substrs ...string) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code: got %v (%v), want %v", got, err, want)
	}
	msg := status.Convert(err).Message()
	for _, s := range substrs {
		if !strings.Contains(msg, s) {
			t.Errorf("message: got %q, want it to contain %q", msg, s)
		}
	}
}

func mustAppend(t *testing.T, c *mvmclient.Client, m proto.Message) *mvmv1.AppendResponse {
	t.Helper()
	resp, err := c.Append(ctxT(t), m)
	if err != nil {
		t.Fatalf("append %s as %s: %v", m.ProtoReflect().Descriptor().Name(), c.ID, err)
	}
	return resp
}

// verifyReceipt verifies a receipt offline with the pinned key and returns
// the entry it proves.
func (f *fixture) verifyReceipt(t *testing.T, r *mvmv1.Receipt) *mvmv1.Entry {
	t.Helper()
	vr, err := tlog.VerifyReceipt(r.TlogProof, f.v.Name(), f.v)
	if err != nil {
		t.Fatalf("VerifyReceipt(index %d): %v", r.Index, err)
	}
	if vr.Index != r.Index {
		t.Errorf("receipt proof index: got %d, want %d", vr.Index, r.Index)
	}
	e, err := entry.DecodeLeaf(vr.Leaf)
	if err != nil {
		t.Fatalf("DecodeLeaf: %v", err)
	}
	if e.Index != r.Index {
		t.Errorf("leaf index: got %d, want %d", e.Index, r.Index)
	}
	if !e.ReceivedAt.AsTime().Equal(r.ReceivedAt.AsTime()) {
		t.Errorf("leaf received_at: got %v, want %v", e.ReceivedAt.AsTime(), r.ReceivedAt.AsTime())
	}
	return e
}

// ---------------------------------------------------------------------------
// Message builders.

func loc(lat, lon float64) *mvmv1.Location {
	return &mvmv1.Location{Lat: lat, Lon: lon, PrecisionM: 50, Description: "compound"}
}

func targetPackage(locs ...*mvmv1.Location) *mvmv1.TargetPackage {
	if len(locs) == 0 {
		locs = []*mvmv1.Location{loc(34.0151, 71.5249)}
	}
	return &mvmv1.TargetPackage{
		Header:         mvmclient.NewHeader(),
		Locations:      locs,
		SuspectedGroup: "group",
		Summary:        "suspected safe house near the market",
		Priority:       mvmv1.Priority_PRIORITY_HIGH,
		Tlp:            mvmv1.Tlp_TLP_AMBER,
		EvidenceSha256: [][]byte{digest("evidence")},
	}
}

func digest(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

func ack(pkg string) *mvmv1.Acknowledgement {
	return &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: pkg, Note: "received"}
}

func rfi(pkg string) *mvmv1.RequestForInformation {
	return &mvmv1.RequestForInformation{Header: mvmclient.NewHeader(), PackageId: pkg, Question: "which building?"}
}

func infoResponse(pkg string) *mvmv1.InformationResponse {
	return &mvmv1.InformationResponse{Header: mvmclient.NewHeader(), PackageId: pkg, Answer: "the blue one"}
}

func report(pkg string, o mvmv1.Outcome) *mvmv1.ActionReport {
	r := &mvmv1.ActionReport{Header: mvmclient.NewHeader(), PackageId: pkg, Outcome: o,
		ActionTime: timestamppb.Now(), Counts: &mvmv1.ActionCounts{Arrested: 2}}
	if o == mvmv1.Outcome_OUTCOME_DECLINED {
		r.Note = "outside our jurisdiction"
	}
	return r
}

func evidenceSubmission(pkg string) *mvmv1.EvidenceSubmission {
	return &mvmv1.EvidenceSubmission{Header: mvmclient.NewHeader(), PackageId: pkg, EvidenceSha256: [][]byte{digest("photo")}}
}

func withdrawal(pkg string) *mvmv1.Withdrawal {
	return &mvmv1.Withdrawal{Header: mvmclient.NewHeader(), PackageId: pkg, Reason: "stale"}
}

func finding(pkg string) *mvmv1.VerificationFinding {
	return &mvmv1.VerificationFinding{Header: mvmclient.NewHeader(), PackageId: pkg,
		Verdict: mvmv1.Verdict_VERDICT_CONFIRMED, Reason: "site visit"}
}

func dispute(pkg string) *mvmv1.Dispute {
	return &mvmv1.Dispute{Header: mvmclient.NewHeader(), PackageId: pkg, Reason: "not acted on"}
}

func ruling(pkg string) *mvmv1.Ruling {
	return &mvmv1.Ruling{Header: mvmclient.NewHeader(), PackageId: pkg, Decision: "upheld"}
}

// packageIn drives a fresh package to a status through the real workflow
// and returns its id. "" means no package (a fresh id is returned).
func (f *fixture) packageIn(t *testing.T, st string) string {
	t.Helper()
	if st == "" {
		return mvmclient.NewMessageID()
	}
	tp := targetPackage()
	id := tp.Header.MessageId
	mustAppend(t, f.pk(), tp)
	steps := map[string][]func(){
		"submitted":             nil,
		"acknowledged":          {func() { mustAppend(t, f.af(), ack(id)) }},
		"information-requested": {func() { mustAppend(t, f.af(), ack(id)) }, func() { mustAppend(t, f.af(), rfi(id)) }},
		"action-reported": {func() { mustAppend(t, f.af(), ack(id)) },
			func() { mustAppend(t, f.af(), report(id, mvmv1.Outcome_OUTCOME_RAID_CONDUCTED)) }},
		"disputed":  {func() { mustAppend(t, f.af(), ack(id)) }, func() { mustAppend(t, f.pk(), dispute(id)) }},
		"withdrawn": {func() { mustAppend(t, f.pk(), withdrawal(id)) }},
	}
	fns, ok := steps[st]
	if !ok {
		t.Fatalf("packageIn: unknown status %q", st)
	}
	for _, fn := range fns {
		fn()
	}
	if got := f.status(t, id); got != st {
		t.Fatalf("packageIn: status got %q, want %q", got, st)
	}
	return id
}

// status is the derived status of a package, as a mediator reads it.
func (f *fixture) status(t *testing.T, id string) string {
	t.Helper()
	resp, err := f.tr().API.GetPackage(ctxT(t), &mvmv1.GetPackageRequest{PackageId: id})
	if err != nil {
		t.Fatalf("GetPackage(%s): %v", id, err)
	}
	return resp.Package.Status
}

// ---------------------------------------------------------------------------
// 1. End to end with the three roles.

func TestEndToEnd(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	pk, af, tr := f.pk(), f.af(), f.tr()
	pkSHA := sha256.Sum256(pk.Signer().Certificate.Raw)
	afSHA := sha256.Sum256(af.Signer().Certificate.Raw)

	// appendChecked seals, appends and checks the receipt offline: the leaf
	// must hold exactly the bytes sent and name the sender's certificate.
	appendChecked := func(c *mvmclient.Client, peerSHA []byte, m proto.Message) (*mvmv1.Receipt, []byte) {
		t.Helper()
		sealed, err := c.Seal(m)
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		resp, err := c.AppendSealed(ctx, sealed)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if resp.Duplicate {
			t.Errorf("duplicate: got true, want false")
		}
		e := f.verifyReceipt(t, resp.Receipt)
		if !bytes.Equal(e.Envelope, sealed) {
			t.Errorf("receipt leaf envelope: got %d bytes %x, want the %d bytes sent %x", len(e.Envelope), e.Envelope, len(sealed), sealed)
		}
		if !bytes.Equal(e.PeerCertificateSha256, peerSHA) {
			t.Errorf("peer certificate sha256: got %x, want %x", e.PeerCertificateSha256, peerSHA)
		}
		vr, _ := tlog.VerifyReceipt(resp.Receipt.TlogProof, f.v.Name(), f.v)
		return resp.Receipt, vr.Leaf
	}

	start := f.size(t)
	var ids []string
	leaves := map[string][][]byte{}
	for i, l := range []*mvmv1.Location{loc(34.01, 71.52), loc(33.99, 71.45), loc(-90, 180)} {
		tp := targetPackage(l, loc(34.02, 71.53))
		tp.Summary = "package " + string(rune('A'+i))
		r, leaf := appendChecked(pk, pkSHA[:], tp)
		if want := start + uint64(i); r.Index != want {
			t.Errorf("package %d index: got %d, want %d", i, r.Index, want)
		}
		ids = append(ids, tp.Header.MessageId)
		leaves[tp.Header.MessageId] = append(leaves[tp.Header.MessageId], leaf)
	}
	for _, id := range ids {
		_, leaf := appendChecked(af, afSHA[:], ack(id))
		leaves[id] = append(leaves[id], leaf)
	}
	rep := report(ids[0], mvmv1.Outcome_OUTCOME_RAID_CONDUCTED)
	rep.EvidenceSha256 = [][]byte{digest("raid photo")}
	_, leaf := appendChecked(af, afSHA[:], rep)
	leaves[ids[0]] = append(leaves[ids[0]], leaf)
	_, leaf = appendChecked(af, afSHA[:], report(ids[1], mvmv1.Outcome_OUTCOME_NOT_FOUND))
	leaves[ids[1]] = append(leaves[ids[1]], leaf)
	f.wantSize(t, start+8)

	for i, tc := range []struct {
		status, outcome string
		authors         []string
	}{
		{"action-reported", "raid", []string{pk.ID.URI(), af.ID.URI(), af.ID.URI()}},
		{"action-reported", "not-found", []string{pk.ID.URI(), af.ID.URI(), af.ID.URI()}},
		{"acknowledged", "", []string{pk.ID.URI(), af.ID.URI()}},
	} {
		t.Run("package"+string(rune('A'+i)), func(t *testing.T) {
			resp, err := tr.API.GetPackage(ctx, &mvmv1.GetPackageRequest{PackageId: ids[i]})
			if err != nil {
				t.Fatalf("GetPackage: %v", err)
			}
			p := resp.Package
			if p.PackageId != ids[i] || p.Status != tc.status || p.Outcome != tc.outcome {
				t.Errorf("package: got (%s, %s, %q), want (%s, %s, %q)", p.PackageId, p.Status, p.Outcome, ids[i], tc.status, tc.outcome)
			}
			if p.Submitter != pk.ID.URI() || p.Responder != "af" {
				t.Errorf("parties: got (%s, %s), want (%s, af)", p.Submitter, p.Responder, pk.ID.URI())
			}
			var authors []string
			for _, h := range resp.History {
				authors = append(authors, h.Author)
			}
			if !slices.Equal(authors, tc.authors) {
				t.Errorf("history authors: got %v, want %v", authors, tc.authors)
			}
			if got, want := len(resp.Leaves), len(leaves[ids[i]]); got != want {
				t.Fatalf("leaves: got %d, want %d", got, want)
			}
			for j := range resp.Leaves {
				if !bytes.Equal(resp.Leaves[j], leaves[ids[i]][j]) {
					t.Errorf("leaf %d: got %x, want the receipt's %x", j, resp.Leaves[j], leaves[ids[i]][j])
				}
			}
		})
	}

	for _, tc := range []struct {
		name, status string
		want         []string
	}{
		{"all", "", ids},
		{"action-reported", "action-reported", ids[:2]},
		{"acknowledged", "acknowledged", ids[2:]},
		{"submitted", "submitted", nil},
	} {
		t.Run("list/"+tc.name, func(t *testing.T) {
			resp, err := tr.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{Status: tc.status})
			if err != nil {
				t.Fatalf("ListPackages: %v", err)
			}
			var got []string
			for _, p := range resp.Packages {
				got = append(got, p.PackageId)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("packages: got %v, want %v", got, want)
			}
		})
	}
	_, err := tr.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{Status: "bogus"})
	wantCode(t, err, codes.InvalidArgument, "status")
}

// ---------------------------------------------------------------------------
// 2. Role × operation matrix.

func TestRoleMatrix(t *testing.T) {
	f := newFixture(t)
	// Each message type with the package status in which it is legal for
	// an allowed role, so that a forbidden cell would succeed if the role
	// check were missing.
	kinds := []struct {
		name    string
		status  string
		build   func(pkg string) proto.Message
		allowed []string
	}{
		{"TargetPackage", "", func(string) proto.Message { return targetPackage() }, []string{testenv.Submitter}},
		{"Acknowledgement", "submitted", func(p string) proto.Message { return ack(p) }, []string{testenv.Responder}},
		{"RequestForInformation", "acknowledged", func(p string) proto.Message { return rfi(p) }, []string{testenv.Responder}},
		{"InformationResponse", "information-requested", func(p string) proto.Message { return infoResponse(p) }, []string{testenv.Submitter}},
		{"ActionReport", "acknowledged", func(p string) proto.Message { return report(p, mvmv1.Outcome_OUTCOME_ARRESTS) }, []string{testenv.Responder}},
		{"EvidenceSubmission", "action-reported", func(p string) proto.Message { return evidenceSubmission(p) }, []string{testenv.Responder}},
		{"Withdrawal", "submitted", func(p string) proto.Message { return withdrawal(p) }, []string{testenv.Submitter}},
		{"VerificationFinding", "action-reported", func(p string) proto.Message { return finding(p) }, []string{testenv.Mediator, testenv.Mediator2}},
		{"Dispute", "acknowledged", func(p string) proto.Message { return dispute(p) }, []string{testenv.Submitter, testenv.Responder}},
		{"Ruling", "disputed", func(p string) proto.Message { return ruling(p) }, []string{testenv.Mediator, testenv.Mediator2}},
	}
	for _, who := range []string{testenv.Submitter, testenv.Responder, testenv.Mediator, testenv.Mediator2} {
		for _, k := range kinds {
			allowed := slices.Contains(k.allowed, who)
			t.Run(who+"/"+k.name, func(t *testing.T) {
				pkg := f.packageIn(t, k.status)
				before := f.size(t)
				_, err := f.clients[who].Append(ctxT(t), k.build(pkg))
				if !allowed {
					wantCode(t, err, codes.PermissionDenied, "may not")
					f.wantSize(t, before)
					return
				}
				if code := status.Code(err); code != codes.OK {
					t.Fatalf("code: got %v (%v), want OK", code, err)
				}
				f.wantSize(t, before+1)
			})
		}
	}
}

// ---------------------------------------------------------------------------
// 7. Workflow refusals over the wire.

func TestWorkflowRefusals(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		status string // of the package the message is sent on
		who    string
		build  func(pkg string) proto.Message
		code   codes.Code
		substr []string
	}{
		{"ack of unknown package", "", testenv.Responder, func(p string) proto.Message { return ack(p) }, codes.NotFound, []string{"does not exist"}},
		{"second ack", "acknowledged", testenv.Responder, func(p string) proto.Message { return ack(p) }, codes.AlreadyExists, []string{"already acknowledged"}},
		{"report before ack", "submitted", testenv.Responder, func(p string) proto.Message { return report(p, mvmv1.Outcome_OUTCOME_RAID_CONDUCTED) }, codes.FailedPrecondition, []string{"submitted"}},
		{"second report", "action-reported", testenv.Responder, func(p string) proto.Message { return report(p, mvmv1.Outcome_OUTCOME_NOT_FOUND) }, codes.AlreadyExists, []string{"already reported"}},
		{"request for information before ack", "submitted", testenv.Responder, func(p string) proto.Message { return rfi(p) }, codes.FailedPrecondition, []string{"submitted"}},
		{"answer without open request", "acknowledged", testenv.Submitter, func(p string) proto.Message { return infoResponse(p) }, codes.FailedPrecondition, []string{"acknowledged"}},
		{"evidence before report", "acknowledged", testenv.Responder, func(p string) proto.Message { return evidenceSubmission(p) }, codes.FailedPrecondition, []string{"acknowledged"}},
		{"finding before report", "submitted", testenv.Mediator, func(p string) proto.Message { return finding(p) }, codes.FailedPrecondition, []string{"submitted"}},
		{"ruling without dispute", "action-reported", testenv.Mediator, func(p string) proto.Message { return ruling(p) }, codes.FailedPrecondition, []string{"action-reported"}},
		{"withdraw after report", "action-reported", testenv.Submitter, func(p string) proto.Message { return withdrawal(p) }, codes.FailedPrecondition, []string{"action-reported"}},
		{"ack after withdrawal", "withdrawn", testenv.Responder, func(p string) proto.Message { return ack(p) }, codes.FailedPrecondition, []string{"withdrawn"}},
		{"dispute of unknown finding", "action-reported", testenv.Submitter, func(p string) proto.Message {
			d := dispute(p)
			d.FindingId = "no-such-finding"
			return d
		}, codes.NotFound, []string{"no-such-finding"}},
		{"answer to unknown request", "information-requested", testenv.Submitter, func(p string) proto.Message {
			r := infoResponse(p)
			r.RequestId = "no-such-request"
			return r
		}, codes.NotFound, []string{"no-such-request"}},
		{"package for a mediator", "", testenv.Submitter, func(string) proto.Message {
			tp := targetPackage()
			tp.Responder = "tr"
			return tp
		}, codes.InvalidArgument, []string{"responder"}},
		{"package for an unknown party", "", testenv.Submitter, func(string) proto.Message {
			tp := targetPackage()
			tp.Responder = "zz"
			return tp
		}, codes.InvalidArgument, []string{"responder"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkg := f.packageIn(t, tc.status)
			before := f.size(t)
			_, err := f.clients[tc.who].Append(ctxT(t), tc.build(pkg))
			wantCode(t, err, tc.code, tc.substr...)
			f.wantSize(t, before)
		})
	}

	t.Run("second ruling by the same mediator", func(t *testing.T) {
		pkg := f.packageIn(t, "disputed")
		mustAppend(t, f.tr(), ruling(pkg))
		before := f.size(t)
		_, err := f.tr().Append(ctxT(t), ruling(pkg))
		wantCode(t, err, codes.AlreadyExists)
		f.wantSize(t, before)
		// The second mediator completes the quorum.
		mustAppend(t, f.clients[testenv.Mediator2], ruling(pkg))
		if got, want := f.status(t, pkg), "ruled"; got != want {
			t.Errorf("status: got %q, want %q", got, want)
		}
	})
}

// ---------------------------------------------------------------------------
// 8. Idempotency.

func TestIdempotency(t *testing.T) {
	f := newFixture(t)
	ctx := ctxT(t)
	pk := f.pk()

	t.Run("same envelope twice", func(t *testing.T) {
		before := f.size(t)
		sealed, err := pk.Seal(targetPackage())
		if err != nil {
			t.Fatal(err)
		}
		first, err := pk.AppendSealed(ctx, sealed)
		if err != nil {
			t.Fatalf("first append: %v", err)
		}
		second, err := pk.AppendSealed(ctx, sealed)
		if err != nil {
			t.Fatalf("second append: %v", err)
		}
		if first.Duplicate || !second.Duplicate {
			t.Errorf("duplicate flags: got (%v, %v), want (false, true)", first.Duplicate, second.Duplicate)
		}
		if first.Receipt.Index != second.Receipt.Index || first.Receipt.Index != before {
			t.Errorf("indexes: got (%d, %d), want (%d, %d)", first.Receipt.Index, second.Receipt.Index, before, before)
		}
		e1, e2 := f.verifyReceipt(t, first.Receipt), f.verifyReceipt(t, second.Receipt)
		if !proto.Equal(e1, e2) || !bytes.Equal(e2.Envelope, sealed) {
			t.Errorf("entries: got %v and %v, want both to hold the sealed envelope", e1, e2)
		}
		f.wantSize(t, before+1)
	})

	t.Run("same message id, other content", func(t *testing.T) {
		tp := targetPackage()
		mustAppend(t, pk, tp)
		before := f.size(t)
		other := proto.Clone(tp).(*mvmv1.TargetPackage)
		other.Summary = "a different summary"
		_, err := pk.Append(ctx, other)
		wantCode(t, err, codes.AlreadyExists, tp.Header.MessageId)
		f.wantSize(t, before)
		// Re-signing the same message yields the same bytes (Ed25519 is
		// deterministic), so it is a retry, not a conflict.
		resp, err := pk.Append(ctx, tp)
		if err != nil || !resp.Duplicate {
			t.Errorf("re-signed identical message: got (%v, %v), want a duplicate", resp, err)
		}
		f.wantSize(t, before)
	})

	// Several rounds, released together with unrelated appends that keep
	// the writer busy, so that copies land both in the same commit batch
	// and in later ones.
	t.Run("32 concurrent copies", func(t *testing.T) {
		for round := range 8 {
			before := f.size(t)
			sealed, err := pk.Seal(targetPackage())
			if err != nil {
				t.Fatal(err)
			}
			const n = 32
			resps := make([]*mvmv1.AppendResponse, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			release := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-release
					resps[i], errs[i] = pk.AppendSealed(ctx, sealed)
				})
			}
			fillers := make([]error, 16)
			for i := range fillers {
				wg.Go(func() {
					<-release
					_, fillers[i] = pk.Append(ctx, targetPackage())
				})
			}
			close(release)
			wg.Wait()
			for i, err := range fillers {
				if err != nil {
					t.Fatalf("round %d filler %d: %v", round, i, err)
				}
			}
			originals := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("round %d append %d: %v", round, i, errs[i])
				}
				if got, want := resps[i].Receipt.Index, resps[0].Receipt.Index; got != want {
					t.Errorf("round %d append %d index: got %d, want %d like the others", round, i, got, want)
				}
				if !resps[i].Duplicate {
					originals++
				}
				if e := f.verifyReceipt(t, resps[i].Receipt); !bytes.Equal(e.Envelope, sealed) {
					t.Errorf("round %d append %d: receipt leaf does not hold the envelope sent", round, i)
				}
			}
			if originals != 1 {
				t.Errorf("round %d non-duplicate answers: got %d, want 1", round, originals)
			}
			f.wantSize(t, before+1+uint64(len(fillers)))
		}
	})

	t.Run("concurrent conflicting variants", func(t *testing.T) {
		before := f.size(t)
		a := targetPackage()
		b := proto.Clone(a).(*mvmv1.TargetPackage)
		b.Summary = "the other variant"
		var variants [2][]byte
		for i, m := range []*mvmv1.TargetPackage{a, b} {
			var err error
			if variants[i], err = pk.Seal(m); err != nil {
				t.Fatal(err)
			}
		}
		const n = 16
		var resps [2][n]*mvmv1.AppendResponse
		var errs [2][n]error
		var wg sync.WaitGroup
		release := make(chan struct{})
		for v := range 2 {
			for i := range n {
				wg.Go(func() {
					<-release
					resps[v][i], errs[v][i] = pk.AppendSealed(ctx, variants[v])
				})
			}
		}
		close(release)
		wg.Wait()
		winner := 0
		if errs[0][0] != nil {
			winner = 1
		}
		originals := 0
		for i := range n {
			if err := errs[winner][i]; err != nil {
				t.Fatalf("winning variant, copy %d: %v", i, err)
			}
			if got := resps[winner][i].Receipt.Index; got != before {
				t.Errorf("winning variant, copy %d index: got %d, want %d", i, got, before)
			}
			if !resps[winner][i].Duplicate {
				originals++
			}
			if got := status.Code(errs[1-winner][i]); got != codes.AlreadyExists {
				t.Errorf("losing variant, copy %d: code got %v (%v), want %v", i, got, errs[1-winner][i], codes.AlreadyExists)
			}
		}
		if originals != 1 {
			t.Errorf("non-duplicate answers: got %d, want 1", originals)
		}
		f.wantSize(t, before+1)
	})

	t.Run("32 concurrent distinct", func(t *testing.T) {
		before := f.size(t)
		const n = 32
		idx := make([]uint64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				resp, err := pk.Append(ctx, targetPackage())
				if errs[i] = err; err == nil {
					idx[i] = resp.Receipt.Index
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
		}
		slices.Sort(idx)
		for i, got := range idx {
			if want := before + uint64(i); got != want {
				t.Fatalf("sorted indexes: got %v, want %d..%d", idx, before, before+n-1)
			}
		}
		f.wantSize(t, before+n)
	})
}
