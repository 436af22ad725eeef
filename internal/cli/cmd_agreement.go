package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/mvm-exchange/mvm/client/mvmclient"
)

// agreementCmd prints the agreement in force, derived from the log.
type agreementCmd struct{ statePath string }

func (c *agreementCmd) register(fs *flag.FlagSet) { stateFlag(fs, &c.statePath) }

func (c *agreementCmd) run(e *env, args []string) error {
	if len(args) != 1 || args[0] != "show" {
		return usagef("want 'agreement show'")
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		// Derived from the log, as amend derives it: GetAgreement's answer
		// is not taken on its word.
		ag, ver, err := e.agreementInForce(ctx, cl, c.statePath)
		if err != nil {
			return err
		}
		printAgreement(e.stdout, ag, fmt.Sprintf("every party (verified from the log against checkpoint size %d)", ver.Checkpoint.Size))
		return nil
	})
}
