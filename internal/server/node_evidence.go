package server

import (
	"context"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/evidence"
	"github.com/mvm-exchange/mvm/internal/node"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// evidenceCopyInterval is how often a node looks for evidence files to
// copy from the primary.
const evidenceCopyInterval = time.Second

// copyEvidence makes a node copy every evidence file its verified log
// names from the primary into its own store (node.EvidenceCopier); the
// copy stops with the follower. A primary copies nothing.
func (s *Server) copyEvidence(cfg Config, st evidence.Store) error {
	if s.follower == nil {
		return nil
	}
	return s.besideFollower(cfg, func(c *mvmclient.Client) func(context.Context) {
		cp := node.NewEvidenceCopier(s.follower.Ledger(), st, c, cfg.Logger)
		s.evCopier.Store(cp)
		if s.metrics != nil {
			s.metrics.EvidencePending(func() int { return cp.Pending() })
		}
		return func(ctx context.Context) { cp.Run(ctx, evidenceCopyInterval) }
	})
}

// nodeStatus is a node's GetStatus answer: the follower's, with the
// evidence files its log names that the node does not hold yet.
func (s *Server) nodeStatus() *mvmv1.GetStatusResponse {
	st := s.follower.Status()
	if cp := s.evCopier.Load(); cp != nil {
		st.EvidencePending = uint64(cp.Pending())
	}
	return st
}
