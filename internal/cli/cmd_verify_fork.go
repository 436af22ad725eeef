package cli

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mvm-exchange/mvm/internal/forkproof"
)

// verifyForkCmd checks a fork proof offline against the pinned log key.
type verifyForkCmd struct {
	logKey string
}

func (c *verifyForkCmd) register(fs *flag.FlagSet) {
	fs.StringVar(&c.logKey, "log-key", "", "pinned log verifier key (default CERTS/log.vkey)")
}

func (c *verifyForkCmd) run(e *env, args []string) error {
	if err := exactly(1, args, "the fork proof FILE"); err != nil {
		return err
	}
	key, err := e.logVerifier(c.logKey)
	if err != nil {
		return err
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, forkproof.MaxFileBytes+1))
	if err != nil {
		return err
	}
	p, err := forkproof.Parse(b)
	if err != nil {
		return fmt.Errorf("no fork proven: %w", err)
	}
	fork, err := forkproof.Verify(p, key)
	if err != nil {
		return fmt.Errorf("no fork proven: %w", err)
	}
	e.printf("fork proven: %s signed two inconsistent checkpoints\n", fork.Origin)
	e.printf("size %d root %x\n", fork.Small.Size, fork.Small.Hash)
	if fork.Small.Size == fork.Large.Size {
		e.printf("size %d root %x\n", fork.Large.Size, fork.Large.Hash)
		return nil
	}
	e.printf("size %d root %x, whose first %d entries hash to %x\n", fork.Large.Size, fork.Large.Hash, fork.Small.Size, fork.RootAt)
	return nil
}
