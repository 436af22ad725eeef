package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/witness"
)

// witnessLog is the ledger as a witness.Pusher sees it; replicas, if
// set, learns each verified cosignature (sync.go).
type witnessLog struct {
	l        *ledger.Ledger
	replicas *witness.Replicas
	cosigs   *cosigStore // with replicas: stores at most every 250ms
}

func (w witnessLog) Latest(name string) witness.Head {
	h := w.l.Head()
	out := witness.Head{Size: h.Size, Checkpoint: h.Checkpoint, Changed: h.Changed()}
	if wt, ok := h.Agreement.Witness(name); ok {
		out.Key = wt.Key
	}
	return out
}

func (w witnessLog) ConsistencyProof(from, to uint64) ([][]byte, error) {
	return tlog.ConsistencyProof(w.l.Store(), from, to)
}

func (w witnessLog) AddCosignature(size uint64, name, line string) error {
	// Counted before it is stored here: what a held receipt waits for is
	// the witness's word, which it gave (and, a node, made durable).
	line = strings.TrimRight(line, "\n") + "\n"
	if w.replicas != nil {
		w.replicas.Cosigned(name, size)
		return w.cosigs.Add(size, name, line)
	}
	return w.l.Store().AddCosignature(size, name, line)
}

// startWitnesses checks that the agreement in force lists every configured
// witness and starts one pusher each. The returned stop ends them and waits.
func (s *Server) startWitnesses() (stop func(), err error) {
	if s.follower != nil {
		return s.startNodeWitness(s.cfg) // a node is a witness, and pushes to none
	}
	ag := s.ledger.Head().Agreement
	seen := map[string]bool{}
	for _, t := range s.cfg.Witnesses {
		if _, ok := ag.Witness(t.Name); !ok {
			return nil, fmt.Errorf("--witness %s: the agreement in force lists no witness of that name (its cosignatures would not count); add it to the agreement first (dev: scripts/gen-certs.sh --witness NAME VKEY)", t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("--witness %s: given twice", t.Name)
		}
		seen[t.Name] = true
	}
	var tlsClient *http.Client
	for _, t := range s.cfg.Witnesses {
		if strings.HasPrefix(t.URL, "https://") && tlsClient == nil {
			if tlsClient, err = s.witnessHTTPS(); err != nil {
				return nil, err
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var observe func(string, string, uint64)
	if s.metrics != nil && len(s.cfg.Witnesses) > 0 {
		observe = s.metrics.WitnessObserver()
	}
	wlog := witnessLog{l: s.ledger, replicas: s.replicas}
	if s.replicas != nil {
		wlog.cosigs = newCosigStore(s.ledger.Store().AddCosignature, 250*time.Millisecond, s.cfg.Logger.Warn)
	}
	for _, t := range s.cfg.Witnesses {
		p := &witness.Pusher{Target: t, Log: wlog, Logger: s.cfg.Logger, Observe: observe,
			Interval: s.cfg.WitnessInterval, MinBackoff: s.cfg.WitnessBackoff, Timeout: s.cfg.WitnessTimeout}
		if s.replicas != nil {
			// Receipts wait for the pushes: a node catching up (503) is
			// asked again within a second, not a minute.
			p.MaxBackoff = max(time.Second, s.cfg.WitnessBackoff)
		}
		if strings.HasPrefix(t.URL, "https://") {
			p.HTTP = tlsClient
		}
		wg.Go(func() { p.Run(ctx) })
		s.cfg.Logger.Info("pushing checkpoints to witness", "witness", t.Name, "url", t.URL)
	}
	return func() {
		cancel()
		wg.Wait()
		if wlog.cosigs != nil {
			wlog.cosigs.Close()
		}
	}, nil
}

// witnessHTTPS is the client of the https:// witnesses (mediator nodes):
// it trusts the server CA (CertsDir/ca-server.crt) and presents the
// server's own certificate in force, which the nodes require.
func (s *Server) witnessHTTPS() (*http.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(s.cfg.CertsDir, "ca-server.crt"))
	if err != nil {
		return nil, fmt.Errorf("--witness https://: the CA of the witnesses' certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("--witness https://: ca-server.crt holds no certificate")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}, nil
}
