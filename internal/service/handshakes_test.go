package service_test

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/server"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// flood opens n TCP connections to addr from the loopback address from
// (127.0.0.x) and sends each nothing, or, if slow, one byte of a TLS
// record now and then: handshakes that never end.
func flood(t *testing.T, addr, from string, n int, slow bool) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	var conns []net.Conn
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("flood from %s: %v", from, err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
		if slow {
			go func() {
				for _, b := range []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01} {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(300 * time.Millisecond)
				}
			}()
		}
	}
	return conns
}

// closedBy reports, for each connection, when the server closed it, or
// the zero time if it was still open at until.
func closedBy(conns []net.Conn, until time.Time) []time.Time {
	at := make([]time.Time, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(until)
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						at[i] = time.Now()
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	return at
}

// appendWithin: a new client of the submitter connects and appends
// within d.
func appendWithin(t *testing.T, env *testenv.Env, d time.Duration) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c := env.Client(testenv.Submitter)
	defer c.Close()
	if _, err := c.Append(ctx, targetPackage()); err != nil {
		t.Fatalf("a client connecting during the flood could not append within %s: %v", d, err)
	}
	return time.Now()
}

// TestHandshakeFloodPerAddr: a flood of idle and slow TLS handshakes from
// one address gets --max-handshakes-per-addr of them in progress and
// --max-queued-handshakes-per-addr waiting, the others closed at once,
// before any TLS; a legitimate client from another address connects and
// appends meanwhile, though the flood is larger than the server's own
// bound (--max-handshakes).
func TestHandshakeFloodPerAddr(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) {
		c.Limits.MaxHandshakes, c.Limits.HandshakeTimeout = 8, 8*time.Second
		c.Limits.MaxHandshakesPerAddr, c.Limits.MaxQueuedHandshakesPerAddr = 2, 2
		c.Metrics = "127.0.0.1:0"
	})
	conns := append(flood(t, env.Addr, "127.0.0.2", 48, false), flood(t, env.Addr, "127.0.0.2", 8, true)...)
	start := time.Now()
	var open int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, at := range closedBy(conns, start.Add(4*time.Second)) {
			if at.IsZero() {
				open++
			}
		}
	}()
	appendWithin(t, env, 4*time.Second) // before the flood's handshake time ends
	wg.Wait()
	if open != 4 {
		t.Errorf("%d of the flood's %d handshakes were still open after 4 s, want 2 in progress and 2 waiting (--max-handshakes-per-addr, --max-queued-handshakes-per-addr)", open, len(conns))
	}
	// Each one closed at once is counted, under its own reason.
	waitMetric(t, env.Server.MetricsAddr(), float64(len(conns)-4), "mvm_handshakes_refused_total", "reason", "limit")
}

// TestHandshakeServerBoundAndTime: handshakes beyond --max-handshakes wait
// for a slot; one that does not end within --handshake-timeout of its
// accept (an idle client) is closed, and frees its slot for the next.
func TestHandshakeServerBoundAndTime(t *testing.T) {
	const timeout = 2 * time.Second
	env := testenv.New(t, func(c *server.Config) {
		c.Limits.MaxHandshakes, c.Limits.MaxHandshakesPerAddr, c.Limits.HandshakeTimeout = 2, 16, timeout
	})
	idle := flood(t, env.Addr, "127.0.0.2", 2, false)
	closed := make(chan []time.Time, 1)
	go func() { closed <- closedBy(idle, time.Now().Add(timeout+3*time.Second)) }()
	// The idle handshakes hold both slots; the client's handshake time
	// ends well after theirs (a refused handshake lingers 250 ms).
	time.Sleep(timeout / 2)
	done := appendWithin(t, env, 15*time.Second)
	first := time.Time{}
	for i, at := range <-closed {
		if at.IsZero() {
			t.Fatalf("idle handshake %d still open %s after its accept; --handshake-timeout is %s", i, timeout+3*time.Second, timeout)
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	if done.Before(first) {
		t.Errorf("a third handshake went on while the 2 idle ones held the server's 2 slots (--max-handshakes)")
	}
}

// TestHandshakeBurstWaits: connections of one address beyond
// --max-handshakes-per-addr, within its queue, wait for a slot instead of
// being refused: 16 clients connecting at once from one address are all
// answered, on their first attempt.
func TestHandshakeBurstWaits(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) {
		c.Limits.MaxHandshakesPerAddr, c.Limits.MaxQueuedHandshakesPerAddr = 2, 14
	})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := env.Client(testenv.Submitter)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if _, err := c.API.GetCheckpoint(ctx, &mvmv1.GetCheckpointRequest{}); err != nil {
				t.Errorf("a client of the burst: %v", err)
			}
		}()
	}
	wg.Wait()
}
