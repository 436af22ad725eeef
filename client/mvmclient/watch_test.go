package mvmclient_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestWatchAcrossRestart follows the live feed while the server restarts:
// every entry arrives exactly once, in order, with no gap.
func TestWatchAcrossRestart(t *testing.T) {
	env := testenv.New(t)
	pk := env.Client(testenv.Submitter)
	watcher := env.Client(testenv.Mediator)

	var mu sync.Mutex
	var got []uint64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- mvmclient.Watch(ctx, watcher, 0, func(i uint64, leaf []byte) error {
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
			return nil
		})
	}()
	submit := func(n int) {
		t.Helper()
		for range n {
			tp := &mvmv1.TargetPackage{Header: mvmclient.NewHeader(), Locations: []*mvmv1.Location{{Lat: 1, Lon: 2}}}
			if _, err := pk.Append(context.Background(), tp); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			l := len(got)
			mu.Unlock()
			if l >= n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("watch delivered %d entries, want %d", len(got), n)
	}
	submit(3)
	waitFor(4) // the agreement and three packages
	env.Restart()
	submit(3)
	waitFor(7)
	time.Sleep(100 * time.Millisecond) // a duplicate would arrive now
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch ended with %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 7 {
		t.Fatalf("got %d entries %v, want 7", len(got), got)
	}
	for i, idx := range got {
		if idx != uint64(i) {
			t.Fatalf("entry %d has index %d: %v", i, idx, got)
		}
	}
}

// TestWatchOnRetry: while the server is down, OnRetry hears of each failure
// with a wait that doubles (and starts again once entries flow); an error
// it returns ends the watch with that error.
func TestWatchOnRetry(t *testing.T) {
	env := testenv.New(t)
	watcher := env.Client(testenv.Mediator)
	env.Stop()

	var waits []time.Duration
	stop := errors.New("enough")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a watch that never stops
	defer cancel()
	err := mvmclient.WatchWith(ctx, watcher, 0, mvmclient.WatchOptions{
		OnRetry: func(err error, wait time.Duration) error {
			if !mvmclient.Transient(err) {
				t.Errorf("OnRetry given %v, want a transient error", err)
			}
			waits = append(waits, wait)
			if len(waits) == 4 {
				return stop
			}
			return nil
		}}, func(uint64, []byte) error { return nil })
	if !errors.Is(err, stop) {
		t.Fatalf("watch ended with %v, want OnRetry's error", err)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
	if !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
}
