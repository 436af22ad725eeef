package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/entry"
	"google.golang.org/protobuf/proto"
)

// watchCmd follows the log, printing each entry once it verifies
// (watch.go).
type watchCmd struct {
	from      uint64
	count     int
	statePath string
	keys      stringList
}

func (c *watchCmd) register(fs *flag.FlagSet) {
	fs.Uint64Var(&c.from, "from", 0, "first index")
	fs.IntVar(&c.count, "count", 0, "stop after this many entries (0: run until interrupted)")
	stateFlag(fs, &c.statePath)
	keyFlag(fs, &c.keys)
}

func (c *watchCmd) run(e *env, args []string) error {
	if err := exactly(0, args, "no positional arguments"); err != nil {
		return err
	}
	if err := e.useKeys(c.keys); err != nil {
		return err
	}
	return e.withClient(func(ctx context.Context, cl *mvmclient.Client) error {
		open := e.newBodyOpener(cl)
		w, err := e.newWatchVerifier(cl, c.statePath)
		if err != nil {
			return err
		}
		seen := 0
		var failing error // the last failure, until an entry arrives
		err = mvmclient.WatchWith(ctx, cl, c.from, mvmclient.WatchOptions{OnRetry: e.watchRetry(&failing)},
			func(index uint64, leaf []byte) error {
				failing = nil
				if err := w.verify(ctx, index, leaf); err != nil {
					return fmt.Errorf("entry %d not printed: %w", index, err)
				}
				e.printf("%s\n", describeOpened(index, leaf, func(o *entry.Opened) (proto.Message, bool) { return open.open(ctx, o) }))
				for _, n := range open.takeNotes() {
					e.printf("%s\n", n)
				}
				seen++
				if c.count > 0 && seen >= c.count {
					return mvmclient.ErrStopWatch
				}
				return nil
			})
		if err == nil && failing != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			if reason, ok := unreachable(failing); ok {
				return fmt.Errorf("could not reach %s before --timeout ran out (%s)", e.server, reason)
			}
			return fmt.Errorf("not following the log when --timeout ran out: %s", oneLine(failing))
		}
		return err
	})
}
