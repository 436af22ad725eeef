package service

import (
	"context"
	"errors"
	"net"
	"time"
)

// TLS handshakes cost CPU (a signature and a chain to verify) before the
// server knows whose connection it is, so even a connection its
// identity's limit will refuse (conns.go) costs one. They are bounded
// before they begin (loggedCreds.ServerHandshake):
//
//   - in number per source address: Options.MaxHandshakesPerAddr in
//     progress and Options.MaxQueuedHandshakesPerAddr waiting for one
//     (a client opening many connections at once, or clients behind one
//     NAT); a connection beyond is closed at once, before any TLS;
//   - in number on the server: Options.MaxHandshakes in progress; a
//     connection beyond waits for a slot, costing no CPU, within its
//     handshake time;
//   - in time: Options.HandshakeTimeout from the connection's accept to the
//     end of its handshake, waiting included (gRPC's ConnectionTimeout
//     closes a connection whose handshake takes longer), so a client that
//     sends its handshake slowly or not at all holds its slot that long
//     at most.
//
// A flood of slow or idle handshakes from one address takes at most its
// address's slots and leaves the others to everyone else.

// Defaults of the handshake limits.
const (
	DefaultMaxHandshakes              = 64
	DefaultMaxHandshakesPerAddr       = 8
	DefaultMaxQueuedHandshakesPerAddr = 56
	DefaultHandshakeTimeout           = 5 * time.Second
)

// errHandshakeWait: a connection's handshake time ended before a slot
// freed.
var errHandshakeWait = errors.New("its handshake time ended while it waited for a handshake slot")

type handshakeLimits struct {
	perAddr, server *limiter
	timeout         time.Duration
}

func newHandshakeLimits(o Options) handshakeLimits {
	const what, advice = "TLS handshakes in progress", "retry in a moment"
	return handshakeLimits{
		perAddr: newLimiter(limit{what: what, per: "address", flag: "--max-handshakes-per-addr", max: o.MaxHandshakesPerAddr,
			queue: o.MaxQueuedHandshakesPerAddr, queueFlag: "--max-queued-handshakes-per-addr", advice: advice}),
		// Its waiters are bounded by the handshake time.
		server:  newLimiter(limit{what: what, per: "server", flag: "--max-handshakes", max: o.MaxHandshakes, queue: -1, advice: advice}),
		timeout: o.HandshakeTimeout,
	}
}

// admit takes the handshake slots of a connection accepted at accepted,
// its address's then the server's, waiting for them until the
// connection's handshake time ends. It returns their release.
func (h handshakeLimits) admit(conn net.Conn, accepted time.Time) (release func(), err error) {
	ctx, cancel := context.WithDeadline(context.Background(), accepted.Add(h.timeout))
	defer cancel()
	host := hostOf(conn.RemoteAddr().String())
	relAddr, err := h.perAddr.acquire(ctx, host, host)
	if err != nil {
		return nil, errors.Join(errHandshakeWait, err)
	}
	relServer, err := h.server.acquire(ctx, "", "the server")
	if err != nil {
		relAddr()
		return nil, errors.Join(errHandshakeWait, err)
	}
	return func() { relServer(); relAddr() }, nil
}
