package service

import (
	"context"
	"errors"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// Read limits.
const (
	maxListed = 10_000
)

// canRead: mediators read every package; a party reads the packages it is
// party to, as submitter or as responder.
func canRead(c *Caller, p *workflow.Package) bool {
	return c.Role == mvmv1.Role_ROLE_MEDIATOR || c.ID.Party == p.Submitter.Party || c.ID.Party == p.Responder
}

func summary(p *workflow.Package) *mvmv1.PackageSummary {
	sum := &mvmv1.PackageSummary{
		PackageId:  p.ID,
		Status:     string(p.Status),
		Submitter:  p.Submitter.URI(),
		Responder:  p.Responder,
		Index:      p.Index,
		ReceivedAt: timestamppb.New(p.ReceivedAt),
		Outcome:    p.Outcome(),
		Summary:    p.Target.GetSummary(),
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

// GetPackage returns a package's derived state, history and raw leaves.
func (s *Service) GetPackage(ctx context.Context, req *mvmv1.GetPackageRequest) (*mvmv1.GetPackageResponse, error) {
	caller, _ := CallerFrom(ctx)
	if !message.ValidID(req.PackageId) {
		return nil, status.Errorf(codes.InvalidArgument, "package_id: %q is not a valid id", req.PackageId)
	}
	h := s.l.Head()
	p, err := s.l.ReplayUntil(req.PackageId, h.History, time.Time{}, h.Size)
	if err != nil {
		return nil, toStatus(err)
	}
	if p == nil {
		return nil, status.Errorf(codes.NotFound, "package %q does not exist", req.PackageId)
	}
	if !canRead(caller, p) {
		return nil, status.Errorf(codes.PermissionDenied, "party %s is not party to package %s", caller.ID.Party, p.ID)
	}
	resp := &mvmv1.GetPackageResponse{Package: summary(p)}
	for _, e := range p.Events {
		leaf, err := s.l.Store().Leaf(e.Index)
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Leaves = append(resp.Leaves, leaf)
		resp.History = append(resp.History, &mvmv1.PackageEvent{
			Index:       e.Index,
			ReceivedAt:  timestamppb.New(e.ReceivedAt),
			PayloadType: workflow.ShortType(e.Type),
			Author:      e.Author.URI(),
			Summary:     describeLeaf(leaf),
		})
	}
	return resp, nil
}

func describeLeaf(leaf []byte) string {
	e, err := entry.DecodeLeaf(leaf)
	if err != nil {
		return "undecodable entry"
	}
	env, err := envelope.Parse(e.Envelope)
	if err != nil {
		return "undecodable envelope"
	}
	p, err := message.Decode(env.PayloadType, env.Payload)
	if err != nil {
		return "undecodable payload"
	}
	return workflow.Describe(p)
}

// visiblePackages replays the packages the caller may read, as of asOf
// (zero: now), calling fn for each.
func (s *Service) visiblePackages(ctx context.Context, asOf time.Time, fn func(*workflow.Package) error) error {
	caller, _ := CallerFrom(ctx)
	h := s.l.Head()
	// Ids first, replays after: a replay opens read transactions of its
	// own, and bbolt deadlocks on nested read transactions when a commit
	// needs to grow the file.
	var ids []string
	if err := s.l.Store().PackageIDs("", func(id string) error {
		ids = append(ids, id)
		return ctx.Err()
	}); err != nil {
		return err
	}
	for _, id := range ids {
		p, err := s.l.ReplayUntil(id, h.History, asOf, h.Size)
		if err != nil {
			return err
		}
		if p == nil || !canRead(caller, p) {
			continue
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return ctx.Err()
}

var errEnough = errors.New("enough")

// ListPackages lists the packages the caller may read.
func (s *Service) ListPackages(ctx context.Context, req *mvmv1.ListPackagesRequest) (*mvmv1.ListPackagesResponse, error) {
	if req.Status != "" && !validStatus(req.Status) {
		return nil, status.Errorf(codes.InvalidArgument, "status: %q is not a status", req.Status)
	}
	resp := &mvmv1.ListPackagesResponse{}
	err := s.visiblePackages(ctx, time.Time{}, func(p *workflow.Package) error {
		if req.Status == "" || string(p.Status) == req.Status {
			resp.Packages = append(resp.Packages, summary(p))
		}
		if len(resp.Packages) >= maxListed {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
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

// GetBreaches lists the deadlines missed as of a time.
func (s *Service) GetBreaches(ctx context.Context, req *mvmv1.GetBreachesRequest) (*mvmv1.GetBreachesResponse, error) {
	asOf := s.now().UTC()
	if req.AsOf != nil {
		if err := req.AsOf.CheckValid(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "as_of: %v", err)
		}
		asOf = req.AsOf.AsTime()
	}
	var pkgs []*workflow.Package
	if err := s.visiblePackages(ctx, asOf, func(p *workflow.Package) error {
		pkgs = append(pkgs, p)
		return nil
	}); err != nil {
		return nil, toStatus(err)
	}
	resp := &mvmv1.GetBreachesResponse{AsOf: timestamppb.New(asOf)}
	for _, b := range workflow.Breaches(pkgs, asOf) {
		if req.Party != "" && b.Party != req.Party {
			continue
		}
		resp.Breaches = append(resp.Breaches, &mvmv1.Breach{PackageId: b.PackageID, Party: b.Party,
			Deadline: b.Deadline, Due: timestamppb.New(b.Due), LateSeconds: int64(b.Late / time.Second)})
	}
	return resp, nil
}

// GetAgreement returns the leaf of the agreement in force.
func (s *Service) GetAgreement(ctx context.Context, _ *mvmv1.GetAgreementRequest) (*mvmv1.GetAgreementResponse, error) {
	leaf, err := s.l.Store().Leaf(s.l.Head().Agreement.Index)
	if err != nil {
		return nil, toStatus(err)
	}
	return &mvmv1.GetAgreementResponse{Leaf: leaf}, nil
}

// GetEntries streams raw leaves [start, end), at most MaxMessageBytes of
// leaves a message (streams.go: bounded in bytes and in time).
func (s *Service) GetEntries(req *mvmv1.GetEntriesRequest, stream grpc.ServerStreamingServer[mvmv1.GetEntriesResponse]) error {
	size := s.l.Head().Size
	end := req.End
	if end == 0 {
		end = size
	}
	if req.Start > end || end > size {
		return status.Errorf(codes.OutOfRange, "entries [%d, %d) are not in a log of size %d", req.Start, end, size)
	}
	out := newStallSender(stream, s.opts.StallTimeout)
	defer out.close()
	for next := req.Start; next < end; {
		leaves, err := s.l.Store().LeafBatch(next, end, MaxMessageBytes-messageOverhead, leafOverhead)
		if err != nil {
			return toStatus(err)
		}
		if err := out.send(stream.Context(), &mvmv1.GetEntriesResponse{FirstIndex: next, Leaves: leaves}); err != nil {
			return s.streamEnded(err, "entries", next)
		}
		next += uint64(len(leaves))
	}
	return nil
}

// GetCertificates returns stored certificates by SHA-256.
func (s *Service) GetCertificates(ctx context.Context, req *mvmv1.GetCertificatesRequest) (*mvmv1.GetCertificatesResponse, error) {
	if len(req.Sha256) > 1024 {
		return nil, status.Error(codes.InvalidArgument, "sha256: at most 1024 fingerprints per call")
	}
	resp := &mvmv1.GetCertificatesResponse{}
	for _, fp := range req.Sha256 {
		der, err := s.l.Store().Certificate(fp)
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Certificates = append(resp.Certificates, der)
	}
	return resp, nil
}

// Watch streams entries from req.From on, then each new one as it commits.
// Resuming with From = last index seen + 1 gives no gap and no duplicate.
// It reads at most MaxMessageBytes of entries at a time, and a client that
// takes no entry for the stall timeout is dropped with the index to resume
// from (streams.go).
func (s *Service) Watch(req *mvmv1.WatchRequest, stream grpc.ServerStreamingServer[mvmv1.WatchResponse]) error {
	ctx := stream.Context()
	out := newStallSender(stream, s.opts.StallTimeout)
	defer out.close()
	next := req.From
	for {
		h := s.l.Head()
		if next > h.Size {
			return status.Errorf(codes.OutOfRange, "from %d is beyond the log size %d", next, h.Size)
		}
		for next < h.Size {
			leaves, err := s.l.Store().LeafBatch(next, h.Size, MaxMessageBytes, 0)
			if err != nil {
				return toStatus(err)
			}
			for _, leaf := range leaves {
				if err := out.send(ctx, &mvmv1.WatchResponse{Index: next, Leaf: leaf}); err != nil {
					return s.streamEnded(err, "watch", next)
				}
				next++
			}
		}
		select {
		case <-h.Changed():
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return status.Errorf(codes.Unavailable, "server is shutting down; resume from %d", next)
		}
	}
}
