package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
)

// Who may ask a node to cosign: the primary, and nobody else. A cosignature
// costs the node nothing it would regret (it cosigns only what it verified
// itself), but the endpoint is the primary's channel to the node, and no
// other node, party or holder of some certificate may speak on it as the
// primary. Two checks, both in the TLS handshake:
//
//  1. The client certificate chains to the server CA (CertsDir/ca-server.crt)
//     for client authentication. The server CA vouches for servers; of
//     what it issues, only the primary's certificate (server.crt) is also
//     for client authentication, the certificate the primary pushes with
//     (server/witness.go). A node's own certificate (<node>-server.crt) is
//     for server authentication only, and party identities come from the
//     party CAs, which this endpoint does not trust.
//  2. The certificate names the host of --follow, the name the node checks
//     when it dials the primary: the client must be the server the node
//     follows. Where the server CA also issues client certificates to
//     others (a deployment's own CA), this keeps out every one that does
//     not name the primary. On the dev PKI every certificate names the
//     loopback addresses, and check 1 is what tells the nodes apart.

// startNodeWitness serves the node's witness endpoint (NodeConfig.
// WitnessListen): a witness.Handler whose Allow hook is the follower's
// Verified, over HTTPS with mutual TLS that takes the primary only
// (primaryOnly). The returned stop ends it.
func (s *Server) startNodeWitness(cfg Config) (stop func(), err error) {
	nc := cfg.Node
	if nc.WitnessListen == "" {
		return func() {}, nil
	}
	keyFile := cmp.Or(nc.WitnessKey, filepath.Join(cfg.CertsDir, nc.As+".cosign.key"))
	skey, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--witness-listen: the node's cosigner key: %w (scripts/gen-certs.sh makes NAME.cosign.key)", err)
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(skey)), "PRIVATE+KEY+"), "+")
	h := s.ledger.Head()
	if _, ok := h.Agreement.Witness(name); !ok {
		cfg.Logger.Warn("node: the agreement in force lists no witness of the node's key name; its cosignatures will not count", "witness", name)
	}
	logKey, err := note.NewVerifier(h.Agreement.LogKey)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(cfg.CertsDir, "ca-server.crt"))
	if err != nil {
		return nil, fmt.Errorf("--witness-listen: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("--witness-listen: ca-server.crt holds no certificate")
	}
	wait := cmp.Or(nc.WitnessWait, 5*time.Second)
	f := s.follower
	handler := &witness.Handler{Origin: f.Ledger().Origin(), LogKey: logKey, Key: strings.TrimSpace(string(skey)),
		State: witness.FileState(cfg.DB + ".witness"), Logger: cfg.Logger,
		Allow:  func(ctx context.Context, cp *tlog.Checkpoint) error { return f.Verified(ctx, cp, wait) },
		OnFork: f.OnFork}
	lis, err := net.Listen("tcp", nc.WitnessListen)
	if err != nil {
		return nil, fmt.Errorf("--witness-listen: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		// Refused handshakes (another node's certificate, a party's) go
		// to the server's log, not to the standard logger.
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: s.getCertificate,
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, VerifyConnection: primaryOnly(cfg)}}
	s.witnessAddr = lis.Addr().String()
	go func() {
		if err := srv.ServeTLS(lis, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("node: witness endpoint stopped", "addr", s.witnessAddr, "err", err)
		}
	}()
	cfg.Logger.Info("node: witness endpoint serving", "addr", s.witnessAddr, "witness", name)
	return func() { srv.Close() }, nil
}

// WitnessAddr is where a node serves its witness endpoint ("" if not).
func (s *Server) WitnessAddr() string { return s.witnessAddr }

// primaryOnly is check 2 above: the verified client certificate must be
// valid for the host the node follows (NodeConfig.Follow). A refusal is
// logged and ends the handshake.
func primaryOnly(cfg Config) func(tls.ConnectionState) error {
	host, _, err := net.SplitHostPort(cfg.Node.Follow)
	if err != nil {
		host = cfg.Node.Follow
	}
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no client certificate: the witness endpoint takes the primary's only")
		}
		leaf := cs.PeerCertificates[0]
		if err := leaf.VerifyHostname(host); err != nil {
			cfg.Logger.Warn("node: witness endpoint refused a client that is not the primary it follows",
				"subject", leaf.Subject.String(), "primary", cfg.Node.Follow, "err", err)
			return fmt.Errorf("the witness endpoint takes the primary's certificate only, for %s: %w", host, err)
		}
		return nil
	}
}
