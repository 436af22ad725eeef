// Package tlsbatch wraps gRPC's TLS transport credentials so that what
// gRPC writes at once goes to the socket at once: crypto/tls writes every
// record of a Write (16 KiB of data at most) with a system call of its
// own, so a 256 KiB write of gRPC's was sixteen system calls, one per
// record; through this package it is one. The records, their sizes and
// their order are those crypto/tls makes: nothing on the wire changes
// but how the bytes are grouped into the socket's writes.
//
// What it guarantees:
//   - the bytes of one Write of the TLS connection reach the socket in
//     one write (or, if the socket takes fewer, in as many as it needs),
//     before Write returns; nothing is held between Writes;
//   - writes that crypto/tls makes outside a Write (the handshake, alerts,
//     key updates from the reading side) go to the socket as they come;
//   - memory: while a Write is under way, one buffer the size of its
//     records, taken from a pool and given back when the Write returns;
//   - the connection exposes its socket (syscall.Conn) as the one the
//     wrapped credentials return does, for gRPC's socket options.
//
// Use it where one connection moves a lot of data in large writes (an
// evidence file's stream): [Credentials] wraps a client's or server's
// TLS credentials; gRPC's WriteBufferSize then sets how much each socket
// write carries.
package tlsbatch

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"

	"google.golang.org/grpc/credentials"
)

// Credentials returns tc whose connections write each Write of theirs to
// the socket at once; see the package doc.
func Credentials(tc credentials.TransportCredentials) credentials.TransportCredentials {
	return creds{tc}
}

type creds struct {
	credentials.TransportCredentials
}

func (c creds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	b := &batchConn{Conn: raw}
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, b)
	if err != nil {
		return conn, info, err
	}
	return &Conn{Conn: conn, batch: b}, info, nil
}

func (c creds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	b := &batchConn{Conn: raw}
	conn, info, err := c.TransportCredentials.ServerHandshake(b)
	if err != nil {
		return conn, info, err
	}
	return &Conn{Conn: conn, batch: b}, info, nil
}

func (c creds) Clone() credentials.TransportCredentials { return creds{c.TransportCredentials.Clone()} }

// Conn is a TLS connection whose Writes reach the socket in one write
// each.
type Conn struct {
	net.Conn // the TLS connection
	batch    *batchConn
}

// Write writes p through TLS, its records gathered and written at once.
func (c *Conn) Write(p []byte) (int, error) {
	c.batch.start()
	n, err := c.Conn.Write(p)
	if ferr := c.batch.flush(); err == nil && ferr != nil {
		// The records are written or the connection is broken: a
		// short write is an error, as it would have been unbatched.
		return 0, ferr
	}
	return n, err
}

// batchConn is the socket under TLS: between start and flush it gathers
// what TLS writes.
type batchConn struct {
	net.Conn
	mu      sync.Mutex
	on      bool
	pending *[]byte
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func (b *batchConn) start() {
	b.mu.Lock()
	b.on = true
	b.mu.Unlock()
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.on {
		return b.Conn.Write(p)
	}
	if b.pending == nil {
		b.pending = buffers.Get().(*[]byte)
	}
	*b.pending = append(*b.pending, p...)
	return len(p), nil
}

// flush writes what was gathered since start, and stops gathering.
func (b *batchConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.on = false
	if b.pending == nil {
		return nil
	}
	buf := b.pending
	b.pending = nil
	_, err := b.Conn.Write(*buf)
	if cap(*buf) <= 1<<20 {
		*buf = (*buf)[:0]
		buffers.Put(buf)
	}
	return err
}

// SyscallConn exposes the socket, as the TLS connection gRPC's
// credentials return would (gRPC sets TCP_USER_TIMEOUT through it).
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return rawConn(c.Conn) }

// SyscallConn exposes the socket, so that the TLS connection built on
// batchConn exposes it too.
func (b *batchConn) SyscallConn() (syscall.RawConn, error) { return rawConn(b.Conn) }

func rawConn(c net.Conn) (syscall.RawConn, error) {
	if sc, ok := c.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}
