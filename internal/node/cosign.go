package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// CosignatureCopier copies the cosignatures the primary holds on the
// checkpoints the node holds, so that a node's checkpoint shows the same
// cosignatures as the primary's: the ones the primary had when the node
// copied the checkpoint and the ones that reach it later (a mediator's
// `audit` cosigning, a witness answering the primary's push, this node's
// own witness cosignature among them, which exists only once the node has
// copied the checkpoint).
//
// Each pass asks the primary for the checkpoints of the last few sizes the
// node held at its passes (GetCheckpoint by size) and stores each
// cosignature line that verifies, under a key of the agreement in force at
// that size (a mediator's cosigner key or a witness's), on the node's own
// stored checkpoint of that size: a primary cannot make the node hold a
// cosignature on another root, nor one by a key the agreement does not
// list. A size is dropped once every key of its agreement has cosigned it,
// or once it is older than the last few. A size that brought nothing new
// is asked about at every other pass, then every fourth, up to every
// 16th, and at every pass again once it brings a line: an idle node
// costs the primary little.
type CosignatureCopier struct {
	l      *ledger.Ledger
	client *mvmclient.Client
	log    *slog.Logger
	// sizes are the node's sizes still watched, oldest first.
	sizes []watchedSize
}

// watchedSize is a size the copier asks about: at the pass after the
// next skip passes, skip growing while the primary has nothing new.
type watchedSize struct {
	size       uint64
	skip, wait int
}

const (
	// cosignWatched bounds the sizes a copier asks about at each pass:
	// the node's latest few, where late cosignatures land.
	cosignWatched = 4
	// cosignMaxWait bounds the passes a quiet size is skipped.
	cosignMaxWait = 16
)

// NewCosignatureCopier returns the copier of cosignatures from the primary
// client c dials onto the node's ledger l.
func NewCosignatureCopier(l *ledger.Ledger, c *mvmclient.Client, logger *slog.Logger) *CosignatureCopier {
	if logger == nil {
		logger = slog.Default()
	}
	return &CosignatureCopier{l: l, client: c, log: logger}
}

// Run copies until ctx ends, a pass every interval.
func (c *CosignatureCopier) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "node: cosignature copy pass failed", slog.String("err", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass adds the node's latest size to those watched and copies the
// primary's cosignatures on each.
func (c *CosignatureCopier) Pass(ctx context.Context) error {
	h := c.l.Head()
	if h.Size == 0 {
		return nil
	}
	if !slices.ContainsFunc(c.sizes, func(w watchedSize) bool { return w.size == h.Size }) {
		c.sizes = append(c.sizes, watchedSize{size: h.Size})
		if len(c.sizes) > cosignWatched {
			c.sizes = c.sizes[len(c.sizes)-cosignWatched:]
		}
	}
	var errs []error
	keep := c.sizes[:0]
	for _, w := range c.sizes {
		if w.skip > 0 {
			w.skip--
			keep = append(keep, w)
			continue
		}
		done, added, err := c.copy(ctx, h, w.size)
		if err != nil {
			errs = append(errs, fmt.Errorf("size %d: %w", w.size, err))
		}
		if done {
			continue
		}
		if added > 0 || err != nil {
			w.wait = 0
		} else {
			w.wait = min(max(1, 2*w.wait), cosignMaxWait)
		}
		w.skip = w.wait
		keep = append(keep, w)
	}
	c.sizes = keep
	return errors.Join(errs...)
}

// copy stores the primary's new cosignatures on the node's checkpoint of
// size and says how many it added; done when every key of the agreement
// in force has cosigned it there.
func (c *CosignatureCopier) copy(ctx context.Context, h *ledger.Head, size uint64) (done bool, added int, err error) {
	st := c.l.Store()
	mine, err := st.Checkpoint(size)
	if err != nil {
		return false, 0, fmt.Errorf("the node's checkpoint: %w", err)
	}
	ag := agreement.InForceAt(h.History, size)
	if ag == nil {
		return true, 0, nil
	}
	keys := cosignerKeys(ag)
	held, err := st.Cosignatures(size)
	if err != nil {
		return false, 0, err
	}
	have := map[string]bool{}
	for _, line := range held {
		have[lineName(line)] = true
	}
	if len(have) >= len(keys) {
		return true, 0, nil
	}
	resp, err := c.client.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{Size: size})
	if status.Code(err) == codes.NotFound {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	_, sigs, _ := strings.Cut(string(resp.Checkpoint), "\n\n")
	for line := range strings.Lines(sigs) {
		name := lineName(line)
		ks, ok := keys[name]
		if !ok || have[name] {
			continue
		}
		if err := verifyAny(mine, line, ks); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "node: the primary's cosignature does not verify on the node's checkpoint; not copied",
				slog.Uint64("size", size), slog.String("cosigner", name), slog.String("err", err.Error()))
			continue
		}
		if err := st.AddCosignature(size, name, strings.TrimRight(line, "\n")+"\n"); err != nil {
			return false, added, err
		}
		have[name] = true
		added++
		c.log.LogAttrs(ctx, slog.LevelDebug, "node: cosignature copied", slog.Uint64("size", size), slog.String("cosigner", name))
	}
	return len(have) >= len(keys), added, nil
}

// verifyAny checks line as a cosignature of cp by one of keys.
func verifyAny(cp []byte, line string, keys []string) error {
	var errs []error
	for _, k := range keys {
		_, err := tlog.VerifyCosignature(cp, line, k)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cosignerKeys are the keys whose cosignatures count under ag, by key
// name: the mediators' cosigner keys and the witnesses'.
func cosignerKeys(ag *agreement.Agreement) map[string][]string {
	out := map[string][]string{}
	add := func(k string) {
		name, _, _ := strings.Cut(k, "+")
		out[name] = append(out[name], k)
	}
	for _, ks := range ag.CosignerKeys() {
		for _, k := range ks {
			add(k)
		}
	}
	for _, w := range ag.Witnesses {
		add(w.Key)
	}
	return out
}

// lineName is the key name of a signed-note signature line "— NAME SIG".
func lineName(line string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(line, "— "), " ")
	return name
}
