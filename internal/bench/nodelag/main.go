// Command nodelag measures a mediator node against its primary (issue 16).
//
//	go run ./internal/bench/nodelag --primary 127.0.0.1:7443 --node 127.0.0.1:7444 --duration 30s
//	go run ./internal/bench/nodelag --node 127.0.0.1:7444 --catch-up N
//
// Lag: every --interval it reads the primary's latest checkpoint size and
// the node's size (GetStatus); each primary size is stamped when first
// seen, and its lag is the time from then until the node first holds at
// least that many entries: from the primary's commit (give or take one
// interval) to the node's stored and verified copy. It prints the
// distribution of the lags of the sizes seen.
//
// Catch-up: it polls the node until it holds N entries and prints the time
// since its first answer and the rate.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func main() {
	certs := flag.String("certs", "certs", "dev PKI directory")
	as := flag.String("as", "tr-verifier", "identity")
	primary := flag.String("primary", "127.0.0.1:7443", "primary address")
	node := flag.String("node", "127.0.0.1:7444", "node address")
	duration := flag.Duration("duration", 30*time.Second, "how long to measure the lag")
	interval := flag.Duration("interval", 5*time.Millisecond, "polling interval")
	catchUp := flag.Uint64("catch-up", 0, "measure the time until the node holds this many entries instead")
	flag.Parse()
	if err := run(*certs, *as, *primary, *node, *duration, *interval, *catchUp); err != nil {
		fmt.Fprintln(os.Stderr, "nodelag:", err)
		os.Exit(1)
	}
}

func dial(addr, certs, as string) (*mvmclient.Client, error) {
	o := mvmclient.FromCertsDir(addr, certs, as)
	o.Retries = -1
	return mvmclient.Dial(o)
}

func run(certs, as, primaryAddr, nodeAddr string, duration, interval time.Duration, catchUp uint64) error {
	ctx := context.Background()
	n, err := dial(nodeAddr, certs, as)
	if err != nil {
		return err
	}
	defer n.Close()
	nodeSize := func() (uint64, error) {
		s, err := n.API.GetStatus(ctx, &mvmv1.GetStatusRequest{})
		if err != nil {
			return 0, err
		}
		if s.Alarm != "" {
			return 0, fmt.Errorf("the node raised an alarm at entry %d: %s", s.AlarmIndex, s.Alarm)
		}
		return s.Size, nil
	}
	if catchUp > 0 {
		var t0 time.Time
		var first uint64
		for {
			sz, err := nodeSize()
			if err == nil && t0.IsZero() {
				t0, first = time.Now(), sz
			}
			if err == nil && sz >= catchUp {
				took := time.Since(t0)
				fmt.Printf("caught up: %d entries (from %d) in %s: %.0f entries/s\n", sz, first, took.Round(time.Millisecond), float64(sz-first)/took.Seconds())
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	p, err := dial(primaryAddr, certs, as)
	if err != nil {
		return err
	}
	defer p.Close()
	seen := map[uint64]time.Time{}
	var pending []uint64 // primary sizes the node does not hold yet, ascending
	var lags []time.Duration
	end := time.Now().Add(duration)
	for time.Now().Before(end) {
		st, err := p.API.GetStatus(ctx, &mvmv1.GetStatusRequest{})
		if err != nil {
			return err
		}
		now := time.Now()
		if _, ok := seen[st.Size]; !ok {
			seen[st.Size] = now
			pending = append(pending, st.Size)
		}
		sz, err := nodeSize()
		if err != nil {
			return err
		}
		now = time.Now()
		for len(pending) > 0 && pending[0] <= sz {
			lags = append(lags, now.Sub(seen[pending[0]]))
			pending = pending[1:]
		}
		time.Sleep(interval)
	}
	if len(lags) == 0 {
		return fmt.Errorf("no primary size reached the node in %s", duration)
	}
	slices.Sort(lags)
	q := func(f float64) time.Duration { return lags[min(len(lags)-1, int(f*float64(len(lags))))] }
	fmt.Printf("lag over %d primary sizes (%d not reached at the end): p50 %s p90 %s p99 %s max %s\n", len(lags), len(pending),
		q(.5).Round(time.Millisecond), q(.9).Round(time.Millisecond), q(.99).Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
	return nil
}
