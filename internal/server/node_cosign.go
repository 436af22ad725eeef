package server

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/node"
)

// cosignCopyInterval is how often a node asks the primary for the
// cosignatures on its latest checkpoints.
const cosignCopyInterval = 500 * time.Millisecond

// copyCosignatures makes a node copy the primary's cosignatures on the
// checkpoints it holds, late ones included (node.CosignatureCopier); the
// copy stops with the follower. A primary copies nothing.
func (s *Server) copyCosignatures(cfg Config) error {
	if s.follower == nil {
		return nil
	}
	c, err := mvmclient.Dial(mvmclient.Options{Server: cfg.Node.Follow, CertFile: filepath.Join(cfg.CertsDir, cfg.Node.As+".crt"),
		KeyFile: filepath.Join(cfg.CertsDir, cfg.Node.As+".key"), ServerCA: filepath.Join(cfg.CertsDir, "ca-server.crt"), Retries: -1})
	if err != nil {
		return err
	}
	cp := node.NewCosignatureCopier(s.follower.Ledger(), c, cfg.Logger)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { cp.Run(ctx, cosignCopyInterval) })
	stopFollower := s.stopFollower
	s.stopFollower = func() {
		cancel()
		wg.Wait()
		c.Close()
		stopFollower()
	}
	return nil
}
