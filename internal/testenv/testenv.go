// Package testenv starts real exchanges for tests: a freshly generated dev
// PKI in a temporary directory, a bbolt file in another, and the server
// listening on a loopback port with real mutual TLS. Nothing is mocked.
package testenv

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/server"
)

// Names of the dev identities.
const (
	Submitter = "pk-liaison"
	Responder = "af-interior"
	Mediator  = "tr-verifier"
	Mediator2 = "qa-verifier"
)

// Env is a running exchange.
type Env struct {
	t      testing.TB
	Certs  string // PKI directory
	DB     string // bbolt file
	Server *server.Server
	Addr   string
	cfg    server.Config
}

// New generates a PKI and starts a server; both are cleaned up with t.
// Options, if given, adjust the server's configuration before it starts.
func New(t testing.TB, options ...func(*server.Config)) *Env {
	t.Helper()
	certs := t.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: certs}); err != nil {
		t.Fatalf("generate PKI: %v", err)
	}
	return Start(t, certs, filepath.Join(t.TempDir(), "mvm.db"), options...)
}

// NewPKI is New with a PKI generated with o (its Dir is a new temporary
// directory), e.g. one with devpki.Options.SecondResponder.
func NewPKI(t testing.TB, o devpki.Options, options ...func(*server.Config)) *Env {
	t.Helper()
	o.Dir = t.TempDir()
	if err := devpki.Generate(o); err != nil {
		t.Fatalf("generate PKI: %v", err)
	}
	return Start(t, o.Dir, filepath.Join(t.TempDir(), "mvm.db"), options...)
}

// Start starts a server on an existing PKI and database file.
func Start(t testing.TB, certs, db string, options ...func(*server.Config)) *Env {
	t.Helper()
	e := &Env{t: t, Certs: certs, DB: db, cfg: server.Config{
		Listen:   "127.0.0.1:0",
		DB:       db,
		CertsDir: certs,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}
	for _, o := range options {
		o(&e.cfg)
	}
	e.start()
	t.Cleanup(e.Stop)
	return e
}

func (e *Env) start() {
	e.t.Helper()
	s, err := server.Start(e.cfg)
	if err != nil {
		e.t.Fatalf("start server: %v", err)
	}
	e.Server, e.Addr = s, s.Addr()
	e.cfg.Listen = e.Addr // a restart comes back on the same port
}

// Stop stops the server (idempotent).
func (e *Env) Stop() {
	if e.Server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Server.Stop(ctx); err != nil {
		e.t.Errorf("stop server: %v", err)
	}
	e.Server = nil
}

// Restart stops the server and starts it again on the same database and
// port, so connected clients can reconnect.
func (e *Env) Restart() {
	e.t.Helper()
	e.Stop()
	e.start()
}

// Client dials the server as the named identity of the PKI.
func (e *Env) Client(name string) *mvmclient.Client {
	e.t.Helper()
	return e.ClientFrom(e.Certs, name)
}

// ClientFrom dials with an identity from another directory (foreign PKI).
func (e *Env) ClientFrom(dir, name string) *mvmclient.Client {
	e.t.Helper()
	o := mvmclient.FromCertsDir(e.Addr, dir, name)
	o.ServerCA = filepath.Join(e.Certs, "ca-server.crt")
	o.Retries = -1
	c, err := mvmclient.Dial(o)
	if err != nil {
		e.t.Fatalf("dial as %s: %v", name, err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// NewNode starts a mediator node (server --follow) of the running exchange
// p, following it as the identity as of p's PKI (issued there if missing,
// e.g. tr-node, as is its TLS certificate, e.g. tr-node-server.crt), on a
// database of its own; it is stopped with t. Options adjust its
// configuration. The node serves once it holds the genesis.
func NewNode(t testing.TB, p *Env, as string, options ...func(*server.Config)) *Env {
	t.Helper()
	if _, err := os.Stat(filepath.Join(p.Certs, as+".crt")); errors.Is(err, fs.ErrNotExist) {
		party, _, _ := strings.Cut(as, "-")
		if err := devpki.Issue(p.Certs, as, party, devpki.IssueOptions{}); err != nil {
			t.Fatalf("issue the node's identity %s: %v", as, err)
		}
	}
	if _, err := os.Stat(filepath.Join(p.Certs, devpki.NodeServerName(as)+".crt")); errors.Is(err, fs.ErrNotExist) {
		if err := devpki.IssueNodeServer(p.Certs, as); err != nil {
			t.Fatalf("issue the node's TLS certificate: %v", err)
		}
	}
	return Start(t, p.Certs, filepath.Join(t.TempDir(), as+".db"), append([]func(*server.Config){func(c *server.Config) {
		c.Node = server.NodeConfig{Follow: p.Addr, As: as}
	}}, options...)...)
}
