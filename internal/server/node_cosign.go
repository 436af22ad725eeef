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
	return s.besideFollower(cfg, func(c *mvmclient.Client) func(context.Context) {
		cp := node.NewCosignatureCopier(s.follower.Ledger(), c, cfg.Logger)
		return func(ctx context.Context) { cp.Run(ctx, cosignCopyInterval) }
	})
}

// besideFollower dials the primary as the node's identity, builds a loop
// on that connection with start (before it returns, so what start sets up
// is in place for the caller) and runs the loop until the follower stops:
// stopping the follower cancels the loop, waits for it and closes the
// connection first.
func (s *Server) besideFollower(cfg Config, start func(*mvmclient.Client) func(context.Context)) error {
	c, err := mvmclient.Dial(mvmclient.Options{Server: cfg.Node.Follow, CertFile: filepath.Join(cfg.CertsDir, cfg.Node.As+".crt"),
		KeyFile: filepath.Join(cfg.CertsDir, cfg.Node.As+".key"), ServerCA: filepath.Join(cfg.CertsDir, "ca-server.crt"), Retries: -1})
	if err != nil {
		return err
	}
	loop := start(c)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { loop(ctx) })
	stopFollower := s.stopFollower
	s.stopFollower = func() {
		cancel()
		wg.Wait()
		c.Close()
		stopFollower()
	}
	return nil
}
