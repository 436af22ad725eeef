package service

import (
	"bytes"
	"context"
	"crypto/x509"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/identity"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Package reads (GetPackage, ListPackages, GetBreaches) answer from the
// package-state index (internal/ledger/pkgindex.go), never by replaying:
// each costs the answer's size, not the log's. The caller's scope is the
// first key of every read, so a party's query never touches a package it
// is not on; pages are bounded in items and in bytes.

// Page bounds: a page holds at most maxPage items (defaultPage when the
// caller names none) and stops growing past pageBytes of answer.
const (
	defaultPage       = 100
	maxPage           = 1000
	defaultEventsPage = 1000
	maxEventsPage     = 5000
	pageBytes         = 4 << 20
)

// canRead: mediators read every package; a party reads the packages it is
// party to, as submitter or as responder.
func canRead(c *Caller, p *workflow.Package) bool {
	return c.Role == mvmv1.Role_ROLE_MEDIATOR || c.ID.Party == p.Submitter.Party || c.ID.Party == p.Responder
}

// scopesOf are the index scopes a caller reads, as (submitter,
// responder) pairs (ledger.PairScope): those of the pairs its party is in,
// or every pair for mediators, of the parties of every agreement of the
// log (merged by the index scan); scopeLabel names them in page tokens.
func scopesOf(c *Caller, h *ledger.Head) (pairs [][2]string) {
	var parties []string
	seen := map[string]bool{}
	for _, ag := range h.History {
		for _, p := range ag.Parties() {
			if !seen[p.ID] {
				seen[p.ID] = true
				parties = append(parties, p.ID)
			}
		}
	}
	for _, sub := range parties {
		for _, resp := range parties {
			if c.Role == mvmv1.Role_ROLE_MEDIATOR || sub == c.ID.Party || resp == c.ID.Party {
				pairs = append(pairs, [2]string{sub, resp})
			}
		}
	}
	return pairs
}

// scopeLabel names a caller's scopes (scopesOf) in page tokens.
func scopeLabel(c *Caller) string {
	if c.Role == mvmv1.Role_ROLE_MEDIATOR {
		return "*"
	}
	return c.ID.Party
}

func pageSize(n uint32, def, most int) int {
	if n == 0 {
		return def
	}
	return min(int(n), most)
}

func summary(p *workflow.Package, text string) *mvmv1.PackageSummary {
	sum := &mvmv1.PackageSummary{
		PackageId:  p.ID,
		Status:     string(p.Status),
		Submitter:  p.Submitter.URI(),
		Responder:  p.Responder,
		Index:      p.Index,
		ReceivedAt: timestamppb.New(p.ReceivedAt),
		Outcome:    p.Outcome(),
		Summary:    text,
	}
	for _, d := range p.Deadlines {
		ds := &mvmv1.DeadlineState{Name: d.Name, Party: d.Party, Due: timestamppb.New(d.Due)}
		if !d.Met.IsZero() {
			ds.Met = timestamppb.New(d.Met)
		}
		sum.Deadlines = append(sum.Deadlines, ds)
	}
	sum.OpenRequests = p.OpenRequests()
	for _, f := range p.Findings {
		sum.Findings = append(sum.Findings, &mvmv1.FindingState{FindingId: f.ID, Mediator: f.Mediator.String(),
			Verdict: workflow.VerdictName(f.Verdict), Index: f.Index})
	}
	if d := p.Dispute; d != nil {
		sum.DisputeId, sum.Decision = d.ID, d.Decision
		pending := p.PendingRulings()
		decisions := make([]string, 0, len(pending))
		for dec := range pending {
			decisions = append(decisions, dec)
		}
		sort.Strings(decisions)
		for _, dec := range decisions {
			sum.PendingRulings = append(sum.PendingRulings, &mvmv1.PendingRuling{Decision: dec, Mediators: pending[dec]})
		}
	}
	return sum
}

// indexedPackage reads a package's state from the index, and its summary
// text from its submission entry.
func indexedPackage(v store.View, id string) (*workflow.Package, string, error) {
	raw := v.PackageState(id)
	if raw == nil {
		return nil, "", nil
	}
	p, err := ledger.DecodeState(raw)
	if err != nil {
		return nil, "", err
	}
	var text string
	if o, err := entry.Open(v.Leaf(p.Index)); err == nil {
		if tp, ok := o.Payload.(*mvmv1.TargetPackage); ok {
			text = tp.Summary
		}
	}
	return p, text, nil
}

// GetPackage returns a package's derived state and one page of its
// history with the raw leaves.
func (s *Service) GetPackage(ctx context.Context, req *mvmv1.GetPackageRequest) (*mvmv1.GetPackageResponse, error) {
	caller, _ := CallerFrom(ctx)
	if !message.ValidID(req.PackageId) {
		return nil, status.Errorf(codes.InvalidArgument, "package_id: %q is not a valid id", req.PackageId)
	}
	tok, err := readToken(req.PageToken, tokenHistory, []string{req.PackageId})
	if err != nil {
		return nil, err
	}
	after, err := tok.index()
	if err != nil {
		return nil, err
	}
	n := pageSize(req.PageSize, defaultEventsPage, maxEventsPage)
	var resp *mvmv1.GetPackageResponse
	err = s.l.ReadIndex(ctx, func(v store.View, _ *ledger.Head) error {
		p, text, err := indexedPackage(v, req.PackageId)
		if err != nil {
			return err
		}
		if p == nil || !canRead(caller, p) {
			return unseenPackage(caller, req.PackageId)
		}
		resp = &mvmv1.GetPackageResponse{Package: summary(p, text)}
		size := proto.Size(resp.Package)
		authors := map[string]string{}
		var last uint64
		v.PackageEntries(req.PackageId, after, func(i uint64) bool {
			if len(resp.History) == n || size >= pageBytes {
				resp.NextPageToken = tok.next(indexPosition(last))
				return false
			}
			leaf := bytes.Clone(v.Leaf(i))
			ev := historyEvent(v, i, leaf, authors)
			resp.Leaves = append(resp.Leaves, leaf)
			resp.History = append(resp.History, ev)
			size += len(leaf) + proto.Size(ev) + 8
			last = i
			return true
		})
		return nil
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// unseenPackage is the answer for a package the caller may not read and
// for one that does not exist: the same code and message (of the request
// and the caller only), so that a party outside a package's scope cannot
// learn that it exists, nor by trying ids whether one does.
func unseenPackage(caller *Caller, id string) error {
	return status.Errorf(codes.NotFound, "package %q does not exist, or party %s may not read it", id, caller.ID.Party)
}

// historyEvent describes the stored entry leaf at index i. An entry that
// does not decode is still listed (its leaf lets the client see why).
func historyEvent(v store.View, i uint64, leaf []byte, authors map[string]string) *mvmv1.PackageEvent {
	ev := &mvmv1.PackageEvent{Index: i, Summary: "undecodable entry"}
	// Every layer that opens is described (entry.Open returns them with
	// the error of the first that does not); the client's audit judges.
	o, _ := entry.Open(leaf)
	if o == nil {
		return ev
	}
	e := o.Entry
	ev.ReceivedAt = e.ReceivedAt
	author, ok := authors[string(e.PeerCertificateSha256)]
	if !ok {
		if c, err := x509.ParseCertificate(v.Certificate(e.PeerCertificateSha256)); err == nil {
			if id, err := identity.Parse(c); err == nil {
				author = id.URI()
			}
		}
		authors[string(e.PeerCertificateSha256)] = author
	}
	ev.Author = author
	if o.Envelope == nil {
		ev.Summary = "undecodable envelope"
		return ev
	}
	ev.PayloadType = workflow.ShortType(o.Type)
	if o.Payload == nil {
		ev.Summary = "undecodable payload"
		return ev
	}
	ev.Summary = workflow.Describe(o.Payload)
	return ev
}

// ListPackages lists one page of the packages the caller may read.
func (s *Service) ListPackages(ctx context.Context, req *mvmv1.ListPackagesRequest) (*mvmv1.ListPackagesResponse, error) {
	caller, _ := CallerFrom(ctx)
	if req.Status != "" && !validStatus(req.Status) {
		return nil, status.Errorf(codes.InvalidArgument, "status: %q is not a status", req.Status)
	}
	scope := scopeLabel(caller)
	tok, err := readToken(req.PageToken, tokenList, []string{scope, req.Status})
	if err != nil {
		return nil, err
	}
	after, err := tok.after(func(pos []byte) bool { return message.ValidID(string(pos)) })
	if err != nil {
		return nil, err
	}
	n := pageSize(req.PageSize, defaultPage, maxPage)
	var resp *mvmv1.ListPackagesResponse
	err = s.l.ReadIndex(ctx, func(v store.View, h *ledger.Head) error {
		resp = &mvmv1.ListPackagesResponse{}
		scopes := scopesOf(caller, h)
		var prefixes [][]byte // one range per scope and status, merged
		for _, sc := range scopes {
			for _, st := range workflow.Statuses {
				if req.Status == "" || string(st) == req.Status {
					prefixes = append(prefixes, ledger.ListPrefix(ledger.PairScope(sc[0], sc[1]), string(st)))
				}
			}
		}
		var last []byte
		size := 0
		var ierr error
		v.Scan(store.PkgList, prefixes, after, func(id, _, _ []byte) bool {
			if len(resp.Packages) == n || size >= pageBytes {
				resp.NextPageToken = tok.next(last)
				return false
			}
			var p *workflow.Package
			var text string
			if p, text, ierr = indexedPackage(v, string(id)); ierr != nil {
				return false
			}
			// The scope is the index key's; this check costs nothing and
			// fails closed should the index ever disagree.
			if p != nil && canRead(caller, p) {
				sum := summary(p, text)
				resp.Packages = append(resp.Packages, sum)
				size += proto.Size(sum)
			}
			last = bytes.Clone(id)
			return true
		})
		return ierr
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func validStatus(s string) bool {
	for _, st := range workflow.Statuses {
		if string(st) == s {
			return true
		}
	}
	return false
}

// GetBreaches lists one page of the deadlines missed as of a time, on the
// packages the caller may read.
func (s *Service) GetBreaches(ctx context.Context, req *mvmv1.GetBreachesRequest) (*mvmv1.GetBreachesResponse, error) {
	caller, _ := CallerFrom(ctx)
	scope := scopeLabel(caller)
	if req.AsOf != nil {
		if err := req.AsOf.CheckValid(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "as_of: %v", err)
		}
	}
	var tok *token
	var asOf time.Time
	if req.PageToken == "" {
		asOf = s.now().UTC()
		if req.AsOf != nil {
			asOf = req.AsOf.AsTime()
		}
		tok, _ = readToken("", tokenBreaches, []string{scope, req.Party, asOf.Format(time.RFC3339Nano)})
	} else {
		// A later page keeps the first page's as-of time: the client may
		// send it back or leave it out.
		var err error
		if tok, err = readAnyToken(req.PageToken, tokenBreaches); err != nil {
			return nil, err
		}
		if len(tok.query) == 3 {
			asOf, _ = time.Parse(time.RFC3339Nano, tok.query[2])
		}
		if req.AsOf != nil && !req.AsOf.AsTime().Equal(asOf) {
			return nil, status.Error(codes.InvalidArgument, "page_token: it is for another as_of; send the as_of of the first page, or none")
		}
		if err := tok.check([]string{scope, req.Party, asOf.UTC().Format(time.RFC3339Nano)}); err != nil {
			return nil, err
		}
	}
	after, err := tok.after(func(pos []byte) bool { return len(pos) > len(ledger.DueSuffix(asOf)) })
	if err != nil {
		return nil, err
	}
	n := pageSize(req.PageSize, defaultPage, maxPage)
	cutoff := ledger.DueSuffix(asOf)
	var resp *mvmv1.GetBreachesResponse
	err = s.l.ReadIndex(ctx, func(v store.View, h *ledger.Head) error {
		resp = &mvmv1.GetBreachesResponse{AsOf: timestamppb.New(asOf)}
		var last []byte
		var ierr error
		scopes := scopesOf(caller, h)
		v.Scan(store.PkgDue, duePrefixes(scopes, req.Party), after, func(suffix, key, val []byte) bool {
			// Suffixes sort by due time: the first one due at or after
			// asOf ends the breaches.
			if bytes.Compare(suffix, cutoff) >= 0 {
				return false
			}
			if len(resp.Breaches) == n {
				resp.NextPageToken = tok.next(last)
				return false
			}
			var r ledger.BreachRecord
			if r, ierr = ledger.DecodeBreach(key, val); ierr != nil {
				return false
			}
			if b, ok := workflow.BreachOf(r.PackageID, r.Deadline, asOf); ok {
				resp.Breaches = append(resp.Breaches, &mvmv1.Breach{PackageId: b.PackageID, Party: b.Party,
					Deadline: b.Deadline, Due: timestamppb.New(b.Due), LateSeconds: int64(b.Late / time.Second)})
			}
			last = bytes.Clone(suffix)
			return true
		})
		return ierr
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// duePrefixes are the breach ranges of a query: in each scope, the
// party's, or, with no party filter, each of the pair's (a deadline's
// party is one of its package's two: ledger.PairScope).
func duePrefixes(scopes [][2]string, party string) [][]byte {
	var out [][]byte
	for _, sc := range scopes {
		parties := []string{party}
		switch {
		case party == "" && sc[0] == sc[1]:
			parties = sc[:1]
		case party == "":
			parties = sc[:]
		case party != sc[0] && party != sc[1]:
			continue
		}
		for _, p := range parties {
			out = append(out, ledger.DuePrefix(ledger.PairScope(sc[0], sc[1]), p))
		}
	}
	return out
}
