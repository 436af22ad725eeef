package service

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults of the refusal log's flood guard (Options.LogBurst, LogWindow,
// LogPeers).
const (
	DefaultLogBurst  = 10
	DefaultLogWindow = 10 * time.Second
	DefaultLogPeers  = 1024
)

// othersPeer stands for every peer beyond the guard's capacity.
const othersPeer = "(others)"

// floodGuard bounds the refusal lines one peer can put in the log: at
// most burst lines of a kind per peer per window; the rest are counted and
// reported in one summary line ("refusals suppressed") when the window
// ends, so a flood costs burst+1 lines a window, not a line per refusal.
//
// Its state is bounded too: at most peers entries; when full, windows that
// ended are swept, and a peer still finding no room is counted under
// othersPeer, so a client minting identities or addresses shares one
// budget instead of growing the map.
type floodGuard struct {
	log    *slog.Logger
	burst  int
	window time.Duration
	peers  int

	mu    sync.Mutex
	count map[floodKey]*floodCount
	timer *time.Timer // armed while some peer has suppressed lines
	// sweepAt is no later than the first window of count to end: before
	// it a sweep would find nothing, so a flood of new peers while the
	// map is full does not scan it on every refusal.
	sweepAt time.Time
	now     func() time.Time
}

type floodKey struct{ kind, peer string }

type floodCount struct {
	since      time.Time // the window's start
	logged     int
	suppressed int
}

func newFloodGuard(log *slog.Logger, burst int, window time.Duration, peers int) *floodGuard {
	return &floodGuard{log: log, burst: burst, window: window, peers: peers,
		count: map[floodKey]*floodCount{}, now: time.Now}
}

// floodSummary is one "refusals suppressed" line to write.
type floodSummary struct {
	key floodKey
	n   int
}

// allow says whether a refusal line of kind about peer may be written now.
func (g *floodGuard) allow(kind, peer string) bool {
	now := g.now()
	var out []floodSummary
	g.mu.Lock()
	k := floodKey{kind, peer}
	c := g.count[k]
	if c == nil && len(g.count) >= g.peers && !now.Before(g.sweepAt) {
		out = g.sweep(now, out)
	}
	if c == nil && len(g.count) >= g.peers {
		k.peer = othersPeer
		c = g.count[k]
	}
	if c != nil && now.Sub(c.since) >= g.window {
		out = appendSummary(out, k, c)
		*c = floodCount{since: now}
	}
	if c == nil {
		c = &floodCount{since: now}
		g.count[k] = c
	}
	ok := c.logged < g.burst
	if ok {
		c.logged++
	} else {
		c.suppressed++
		if g.timer == nil {
			g.timer = time.AfterFunc(g.window, g.tick)
		}
	}
	g.mu.Unlock()
	g.write(out)
	return ok
}

// tick writes the summaries of the windows that ended, and comes back
// while lines are still being suppressed.
func (g *floodGuard) tick() {
	g.mu.Lock()
	out := g.sweep(g.now(), nil)
	g.timer = nil
	for _, c := range g.count {
		if c.suppressed > 0 {
			g.timer = time.AfterFunc(g.window, g.tick)
			break
		}
	}
	g.mu.Unlock()
	g.write(out)
}

// flush writes every pending summary and forgets every peer (at shutdown).
func (g *floodGuard) flush() {
	g.mu.Lock()
	var out []floodSummary
	for k, c := range g.count {
		out = appendSummary(out, k, c)
	}
	clear(g.count)
	g.sweepAt = time.Time{}
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.mu.Unlock()
	g.write(out)
}

// sweep forgets the peers whose window ended, collecting their summaries.
func (g *floodGuard) sweep(now time.Time, out []floodSummary) []floodSummary {
	var first time.Time
	for k, c := range g.count {
		if now.Sub(c.since) >= g.window {
			out = appendSummary(out, k, c)
			delete(g.count, k)
		} else if first.IsZero() || c.since.Before(first) {
			first = c.since
		}
	}
	g.sweepAt = first.Add(g.window)
	return out
}

func appendSummary(out []floodSummary, k floodKey, c *floodCount) []floodSummary {
	if c.suppressed > 0 {
		out = append(out, floodSummary{k, c.suppressed})
	}
	return out
}

// write logs the summaries, outside the lock.
func (g *floodGuard) write(out []floodSummary) {
	for _, s := range out {
		g.log.LogAttrs(context.Background(), slog.LevelWarn, "refusals suppressed",
			slog.String("kind", s.key.kind), slog.String("peer", s.key.peer),
			slog.Int("suppressed", s.n), slog.Duration("window", g.window))
	}
}
