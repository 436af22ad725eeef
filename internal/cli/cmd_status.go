package cli

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// statusCmd prints what the server says it is: the primary, or a mediator
// node with how far it copied and verified the log and its alarm. It is
// the server's word (an operator's view); audit checks the log itself.
type statusCmd struct{}

func (c *statusCmd) register(*flag.FlagSet) {}

// errAlarm makes status exit 1 when the node raised an alarm.
var errAlarm = errors.New("the node raised an alarm: its copy stopped at an entry that failed verification")

func (c *statusCmd) run(e *env, args []string) error {
	if err := exactly(0, args, "no positional arguments"); err != nil {
		return err
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		s, err := cl.API.GetStatus(ctx, &mvmv1.GetStatusRequest{})
		if err != nil {
			return err
		}
		e.printf("role: %s\nsize: %d\nverified: %d\n", s.Role, s.Size, s.VerifiedSize)
		if s.Role != "node" {
			return nil
		}
		e.printf("primary: %s\nprimary size: %d\n", s.Primary, s.PrimarySize)
		if s.PrimarySeenAt != nil && s.PrimarySize < s.Size {
			// A primary that went back to an older copy of its log: the
			// node keeps what it verified and waits (a copy that grew
			// another way would be a fork, proven and alarmed).
			e.printf("lag: 0 entries (the primary is %d entries behind the node: restored from an older copy?)\n", s.Size-s.PrimarySize)
		} else {
			e.printf("lag: %d entries\n", s.PrimarySize-min(s.PrimarySize, s.Size))
		}
		if s.PrimarySeenAt != nil {
			e.printf("primary seen: %s\n", s.PrimarySeenAt.AsTime().UTC().Format(time.RFC3339))
		} else {
			e.printf("primary seen: never\n")
		}
		e.printf("evidence files pending: %d\n", s.EvidencePending)
		if s.Alarm == "" {
			e.printf("alarm: none\n")
			return nil
		}
		e.printf("alarm: entry %d: %s\n", s.AlarmIndex, s.Alarm)
		return errAlarm
	})
}
