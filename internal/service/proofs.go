package service

import (
	"context"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// GetCheckpoint returns a signed checkpoint with its cosignatures: the
// latest, the one of a given size, or the latest witnessed one.
func (s *Service) GetCheckpoint(ctx context.Context, req *mvmv1.GetCheckpointRequest) (*mvmv1.GetCheckpointResponse, error) {
	h := s.l.Head()
	size := h.Signed() // a node may hold verified entries beyond it
	switch {
	case req.Size > h.Size:
		return nil, status.Errorf(codes.OutOfRange, "size %d is beyond the log size %d", req.Size, h.Size)
	case req.Size > 0:
		size = req.Size
	case req.AtMost > 0 && !req.Witnessed:
		// The latest checkpoint within the published head.
		var err error
		if size, _, err = s.l.Store().CheckpointAtMost(min(req.AtMost, h.Size)); err != nil {
			return nil, toStatus(err)
		}
	case req.Witnessed:
		// Sizes first, checkpoints after: no nested read transactions.
		type cosigned struct {
			size  uint64
			lines []string
		}
		var all []cosigned
		if err := s.l.Store().CosignedSizes(func(sz uint64, lines []string) bool {
			all = append(all, cosigned{sz, lines})
			return true
		}); err != nil {
			return nil, toStatus(err)
		}
		var found bool
		for _, c := range all {
			cp, err := s.l.Store().Checkpoint(c.size)
			if err != nil {
				return nil, toStatus(err)
			}
			if n, quorum, _ := s.countCosigners(h, c.size, cp, c.lines); quorum > 0 && n >= quorum {
				size, found = c.size, true
				break
			}
		}
		if !found {
			return nil, status.Errorf(codes.NotFound, "no checkpoint is cosigned by %d mediators yet", h.Agreement.WitnessQuorum)
		}
	}
	return s.checkpointWithCosignatures(h, size)
}

func (s *Service) checkpointWithCosignatures(h *ledger.Head, size uint64) (*mvmv1.GetCheckpointResponse, error) {
	cp, err := s.l.Store().Checkpoint(size)
	if err != nil {
		return nil, toStatus(err)
	}
	lines, err := s.l.Store().Cosignatures(size)
	if err != nil {
		return nil, toStatus(err)
	}
	n, quorum, err := s.countCosigners(h, size, cp, lines)
	if err != nil {
		return nil, toStatus(err)
	}
	full, err := tlog.AddCosignatures(cp, lines)
	if err != nil {
		return nil, toStatus(err)
	}
	return &mvmv1.GetCheckpointResponse{Checkpoint: full, Cosigners: uint32(n), WitnessQuorum: uint32(quorum)}, nil
}

// countCosigners counts, with the one count every client also runs
// (agreement.CountWitnesses), the mediator parties with a cosignature that
// verifies on cp, under the agreement in force at cp's size: a party with
// two keys counts once, and a key rotated out by a later amendment still
// counts for the checkpoints before it, not after. It returns that
// agreement's witness quorum too. cp is the stored checkpoint of size size.
func (s *Service) countCosigners(h *ledger.Head, size uint64, cp []byte, lines []string) (int, int, error) {
	ag := h.Agreement
	if in := agreement.InForceAt(h.History, size); in != nil {
		ag = in
	}
	if len(lines) == 0 {
		return 0, ag.WitnessQuorum, nil
	}
	full, err := tlog.AddCosignatures(cp, lines)
	if err != nil {
		return 0, 0, err
	}
	v, err := note.NewVerifier(h.Agreement.LogKey)
	if err != nil {
		return 0, 0, err
	}
	n, err := ag.CountWitnesses(full, s.l.Origin(), v)
	return n, ag.WitnessQuorum, err
}

// AddCosignature records a mediator's cosignature of a stored checkpoint.
// The line must verify against one of the caller's party's cosigner keys in
// the agreement in force.
func (s *Service) AddCosignature(ctx context.Context, req *mvmv1.AddCosignatureRequest) (*mvmv1.AddCosignatureResponse, error) {
	caller, _ := CallerFrom(ctx)
	h := s.l.Head()
	if caller.Role != mvmv1.Role_ROLE_MEDIATOR {
		return nil, status.Errorf(codes.PermissionDenied, "party %s (%s) may not cosign checkpoints", caller.ID.Party, agreement.RoleName(caller.Role))
	}
	v, err := note.NewVerifier(h.Agreement.LogKey)
	if err != nil {
		return nil, toStatus(err)
	}
	cp, _, err := tlog.OpenCheckpoint(req.Checkpoint, s.l.Origin(), v)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "checkpoint: %v", err)
	}
	stored, err := s.l.Store().Checkpoint(cp.Size)
	if err != nil {
		return nil, toStatus(err)
	}
	if mine, _, err := tlog.OpenCheckpoint(stored, s.l.Origin(), v); err != nil || string(mine.Hash) != string(cp.Hash) {
		return nil, status.Errorf(codes.FailedPrecondition, "checkpoint of size %d is not the one this log signed", cp.Size)
	}
	party, _ := h.Agreement.Party(caller.ID.Party)
	var name string
	for _, k := range party.CosignerKeys {
		if _, err := tlog.VerifyCosignature(stored, req.SignatureLine, k); err == nil {
			name, _, _ = strings.Cut(k, "+")
			break
		}
	}
	if name == "" {
		return nil, status.Errorf(codes.PermissionDenied, "the cosignature does not verify with any cosigner key of party %s", caller.ID.Party)
	}
	if err := s.l.Store().AddCosignature(cp.Size, name, strings.TrimRight(req.SignatureLine, "\n")+"\n"); err != nil {
		return nil, toStatus(err)
	}
	s.log.Info("checkpoint cosigned", "size", cp.Size, "cosigner", name, "party", caller.ID.Party)
	resp, err := s.checkpointWithCosignatures(h, cp.Size)
	if err != nil {
		return nil, err
	}
	return &mvmv1.AddCosignatureResponse{Checkpoint: resp.Checkpoint, Cosigners: resp.Cosigners, WitnessQuorum: resp.WitnessQuorum}, nil
}

// maxCheckpointsPage bounds the checkpoints of a ListCheckpoints page.
const maxCheckpointsPage = 256

// ListCheckpoints returns a page of the stored checkpoints, each with its
// cosignatures, within the published head: at most maxCheckpointsPage of
// them and MaxMessageBytes. It is a read (isUnaryRead): it holds the
// caller's read slots, and costs the answer.
func (s *Service) ListCheckpoints(ctx context.Context, req *mvmv1.ListCheckpointsRequest) (*mvmv1.ListCheckpointsResponse, error) {
	h := s.l.Head()
	atMost := h.Signed() // a node may hold verified entries beyond it
	if req.AtMost > 0 {
		atMost = min(atMost, req.AtMost)
	}
	resp := &mvmv1.ListCheckpointsResponse{}
	if atMost <= req.After {
		return resp, nil
	}
	cps, more, err := s.l.Store().Checkpoints(req.After, atMost, maxCheckpointsPage, MaxMessageBytes-messageOverhead)
	if err != nil {
		return nil, toStatus(err)
	}
	for _, cp := range cps {
		full, err := tlog.AddCosignatures(cp.Note, cp.Lines())
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Checkpoints = append(resp.Checkpoints, full)
	}
	resp.More = more
	return resp, nil
}

// GetInclusionProof proves entry index is in the tree of size size.
func (s *Service) GetInclusionProof(ctx context.Context, req *mvmv1.GetInclusionProofRequest) (*mvmv1.GetInclusionProofResponse, error) {
	size := s.l.Head().Size
	if req.Size == 0 || req.Size > size || req.Index >= req.Size {
		return nil, status.Errorf(codes.OutOfRange, "no inclusion proof for index %d in size %d (log size %d)", req.Index, req.Size, size)
	}
	hashes, err := tlog.InclusionProof(s.l.Store(), req.Index, req.Size)
	if err != nil {
		return nil, toStatus(err)
	}
	return &mvmv1.GetInclusionProofResponse{Hashes: hashes}, nil
}

// GetConsistencyProof proves the tree of size from is a prefix of size to.
func (s *Service) GetConsistencyProof(ctx context.Context, req *mvmv1.GetConsistencyProofRequest) (*mvmv1.GetConsistencyProofResponse, error) {
	size := s.l.Head().Size
	if req.From > req.To || req.To > size {
		return nil, status.Errorf(codes.OutOfRange, "no consistency proof from %d to %d (log size %d)", req.From, req.To, size)
	}
	hashes, err := tlog.ConsistencyProof(s.l.Store(), req.From, req.To)
	if err != nil {
		return nil, toStatus(err)
	}
	return &mvmv1.GetConsistencyProofResponse{Hashes: hashes}, nil
}
