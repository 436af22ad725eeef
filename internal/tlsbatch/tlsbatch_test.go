package tlsbatch

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
)

// tlsConfigs returns a server's and a client's TLS 1.3 configurations
// for a fresh self-signed certificate of "localhost".
func tlsConfigs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}},
		&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}
}

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// pair is a TCP connection over loopback with the client's side (or the
// server's, if server) made through Credentials, the other through plain
// crypto/tls, and the socket under the batched side counted.
func pair(t *testing.T, server bool) (batched net.Conn, plain net.Conn, socket *countingConn) {
	t.Helper()
	scfg, ccfg := tlsConfigs(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rawServer, ok := <-accepted
	if !ok {
		t.Fatal("no connection accepted")
	}
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	if server {
		socket = &countingConn{Conn: rawServer}
		go func() {
			c, _, err := Credentials(credentials.NewTLS(scfg)).ServerHandshake(socket)
			done <- result{c, err}
		}()
		plain = tls.Client(raw, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ccfg.RootCAs, ServerName: "localhost", NextProtos: []string{"h2"}})
		if err := plain.(*tls.Conn).Handshake(); err != nil {
			t.Fatal(err)
		}
	} else {
		socket = &countingConn{Conn: raw}
		go func() {
			scfg.NextProtos = []string{"h2"}
			p := tls.Server(rawServer, scfg)
			done <- result{p, p.Handshake()}
		}()
		c, _, err := Credentials(credentials.NewTLS(ccfg)).ClientHandshake(context.Background(), "localhost", socket)
		if err != nil {
			t.Fatal(err)
		}
		batched = c
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if server {
		batched = r.c
	} else {
		plain = r.c
	}
	t.Cleanup(func() { batched.Close(); plain.Close() })
	return batched, plain, socket
}

func TestOneSocketWriteAWrite(t *testing.T) {
	data := make([]byte, 1<<20+7) // 65 records
	rand.Read(data)
	for _, test := range []struct {
		name   string
		server bool
	}{{"client side", false}, {"server side", true}} {
		t.Run(test.name, func(t *testing.T) {
			batched, plain, socket := pair(t, test.server)
			got := make(chan []byte, 1)
			go func() {
				b := make([]byte, 2*len(data))
				n, _ := io.ReadFull(plain, b)
				got <- b[:n]
			}()
			if sc, ok := batched.(syscall.Conn); !ok {
				t.Errorf("the connection (%T) does not expose its socket (syscall.Conn), as the unbatched one does", batched)
			} else if _, err := sc.SyscallConn(); err != nil {
				t.Errorf("SyscallConn: %v", err)
			}
			for i := range 2 {
				before := socket.writes.Load()
				if n, err := batched.Write(data); n != len(data) || err != nil {
					t.Fatalf("Write %d: %d, %v", i, n, err)
				}
				if w := socket.writes.Load() - before; w != 1 {
					t.Errorf("Write %d of %d bytes: %d writes to the socket, want 1", i, len(data), w)
				}
			}
			if b := <-got; !bytes.Equal(b, append(data, data...)) {
				t.Errorf("the other side read %d bytes, not the %d written", len(b), 2*len(data))
			}
		})
	}
}
