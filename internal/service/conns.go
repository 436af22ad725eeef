package service

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/mvm-exchange/mvm/internal/identity"
)

// connLimiter counts each identity's open connections. A connection beyond
// its identity's limit is still accepted, so that its calls can be
// refused with ResourceExhausted naming the limit (a refused handshake
// would only say "connection closed"), and it is closed soon after.
type connLimiter struct {
	*limiter
	mu sync.Mutex
	// over maps the remote address of each connection beyond the limit to
	// its refusal; such connections live refusedConnLife at most.
	over map[string]error
	// nOver is len(over), read without the lock, so that the calls of
	// connections within the limit (every append) skip the lookup.
	nOver atomic.Int32
}

// refusedConnLife is how long a connection beyond the limit stays open:
// long enough for its first calls to be told why.
const refusedConnLife = 2 * time.Second

func newConnLimiter(max int) *connLimiter {
	return &connLimiter{limiter: newLimiter(limit{what: "connections open", per: "identity", flag: "--max-conns-per-identity",
		max: max, advice: "use one of them"}), over: map[string]error{}}
}

// admit counts a connection whose handshake succeeded and returns it
// wrapped: closing it ends the count.
func (c *connLimiter) admit(conn net.Conn, info credentials.AuthInfo) net.Conn {
	ti, ok := info.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return conn
	}
	id, err := identity.Parse(ti.State.PeerCertificates[0])
	if err != nil {
		return conn // the handshake verified it; the auth interceptor refuses it
	}
	release, err := c.acquire(context.Background(), id.URI(), id.URI())
	if err == nil {
		return &countedConn{Conn: conn, release: release}
	}
	key := conn.RemoteAddr().String()
	c.mu.Lock()
	c.over[key] = err
	c.nOver.Store(int32(len(c.over)))
	c.mu.Unlock()
	cc := &countedConn{Conn: conn, release: sync.OnceFunc(func() {
		c.mu.Lock()
		delete(c.over, key)
		c.nOver.Store(int32(len(c.over)))
		c.mu.Unlock()
	})}
	time.AfterFunc(refusedConnLife, func() { cc.Close() })
	return cc
}

// refused is the refusal of the connection from remote if it is beyond
// its identity's limit, else nil.
func (c *connLimiter) refused(remote net.Addr) error {
	if remote == nil || c.nOver.Load() == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over[remote.String()]
}

// countedConn releases its count once, when closed.
type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// SyscallConn exposes the socket, as the wrapped connection would.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}
