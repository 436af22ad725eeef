package cli

import (
	"context"
	"flag"

	"github.com/mvm-exchange/mvm/client/mvmclient"
)

// showCmd shows a package re-derived from its signed entries (show.go).
type showCmd struct {
	statePath string
	keys      stringList
}

func (c *showCmd) register(fs *flag.FlagSet) {
	stateFlag(fs, &c.statePath)
	keyFlag(fs, &c.keys)
}

func (c *showCmd) run(e *env, args []string) error {
	if err := exactly(1, args, "the package ID"); err != nil {
		return err
	}
	if err := e.useKeys(c.keys); err != nil {
		return err
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		return e.show(ctx, cl, args[0], c.statePath)
	})
}
