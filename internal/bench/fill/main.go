// Command fill writes a large log for measurements: N signed entries from
// the dev submitter and responder, through the real ledger (admission,
// reducer, tree, checkpoints), with fsync off while filling and one
// synced commit at the end. By default they are target packages
// (512-byte payloads); --mix drives a workflow as `client bench --mix`
// does (the responder's acknowledgements, requests and reports on each
// package). Under a sealing dev agreement (gen-certs' default) every entry
// is sealed as the clients seal it. It measures what only a big log
// shows: start-up time, audit speed and memory, bytes on disk (it prints
// each kind's mean envelope size).
//
//	go run ./internal/bench/fill --certs certs --db /tmp/big.db --n 1000000 [--mix package=1,ack=1,report=1,rfi=2]
package main

import (
	"context"
	"crypto"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"google.golang.org/protobuf/proto"
)

func main() {
	certs := flag.String("certs", "certs", "dev PKI directory")
	db := flag.String("db", "", "database file to create or extend (required)")
	n := flag.Int("n", 100_000, "entries to append")
	workers := flag.Int("workers", 8, "concurrent appenders")
	payload := flag.Int("payload-bytes", 512, "serialized payload size")
	mixFlag := flag.String("mix", "package=1", "workflow per package, as client bench --mix (package=1 required)")
	flag.Parse()
	mix, err := bench.ParseMix(*mixFlag)
	if err == nil && mix.Package != 1 {
		err = fmt.Errorf("--mix %s: fill submits its packages (package=1)", mix)
	}
	if err == nil {
		err = run(*certs, *db, *n, *workers, *payload, mix)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
}

func run(certs, db string, n, workers, payload int, mix bench.Mix) error {
	if db == "" {
		return fmt.Errorf("--db is required")
	}
	skey, err := os.ReadFile(filepath.Join(certs, "log.key"))
	if err != nil {
		return err
	}
	signer, err := tlog.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return err
	}
	genesis, err := os.ReadFile(filepath.Join(certs, "agreement.envelope"))
	if err != nil {
		return err
	}
	pair, err := devpki.LoadKeyPair(certs, "pk-liaison")
	if err != nil {
		return err
	}
	rpair, err := devpki.LoadKeyPair(certs, "af-interior")
	if err != nil {
		return err
	}
	sealing, err := sealingOf(certs, genesis)
	if err != nil {
		return err
	}
	st, err := store.Open(db, store.Options{NoSync: true})
	if err != nil {
		return err
	}
	l, err := ledger.Open(ledger.Config{Store: st, Signer: signer, Genesis: genesis})
	if err != nil {
		return err
	}
	s := envelope.Signer{Key: pair.PrivateKey.(crypto.Signer), Certificate: pair.Leaf}
	rs := envelope.Signer{Key: rpair.PrivateKey.(crypto.Signer), Certificate: rpair.Leaf}
	start := time.Now()
	var done, failed atomic.Int64
	var sizes sync.Map // kind -> *[2]atomic.Int64{count, bytes}
	steps := mix.Steps()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done.Load() < int64(n) {
				f, err := bench.NewFlow(payload, sealing)
				for _, kind := range steps {
					if err != nil || done.Add(1) > int64(n) {
						break
					}
					var m proto.Message = f.Target
					var payload []byte
					signer, cert := s, pair.Leaf
					if kind != bench.KindPackage {
						m, payload, err = f.Message(kind, sealing)
						signer, cert = rs, rpair.Leaf
					}
					var env []byte
					switch {
					case err != nil:
					case payload != nil:
						env, err = envelope.SealPayload(message.TypeOf(m), payload, signer)
					default:
						env, err = envelope.Seal(m, signer)
					}
					if err == nil {
						_, err = l.Append(context.Background(), env, cert)
					}
					if err != nil {
						if failed.Add(1) == 1 {
							fmt.Fprintln(os.Stderr, "fill: append:", err)
						}
						break
					}
					v, _ := sizes.LoadOrStore(kind, new([2]atomic.Int64))
					v.(*[2]atomic.Int64)[0].Add(1)
					v.(*[2]atomic.Int64)[1].Add(int64(len(env)))
				}
			}
		}()
	}
	go func() {
		for range time.Tick(10 * time.Second) {
			fmt.Fprintf(os.Stderr, "fill: %d/%d appended\n", min(done.Load(), int64(n)), n)
		}
	}()
	wg.Wait()
	l.Close()
	if err := st.DB().Sync(); err != nil {
		return err
	}
	size, _ := st.Size()
	if err := st.Close(); err != nil {
		return err
	}
	fi, err := os.Stat(db)
	if err != nil {
		return err
	}
	fmt.Printf("appended %d entries in %s (%d failed); log size %d; file %d bytes (%.0f bytes/entry); mix %s, sealed %v\n",
		n, time.Since(start).Round(time.Millisecond), failed.Load(), size, fi.Size(), float64(fi.Size())/float64(size), mix, sealing != nil)
	for _, kind := range []string{bench.KindPackage, bench.KindAck, bench.KindRFI, bench.KindReport} {
		if v, ok := sizes.Load(kind); ok {
			c := v.(*[2]atomic.Int64)
			fmt.Printf("  %-8s %8d entries, envelope %5.0f bytes each\n", kind, c[0].Load(), float64(c[1].Load())/float64(max(1, c[0].Load())))
		}
	}
	return nil
}

// sealingOf returns the sealing of the dev agreement (nil if it does not
// seal bodies): every party's key, and the responder's decryption key.
func sealingOf(certs string, genesis []byte) (*bench.Sealing, error) {
	ag, _, err := agreement.FromEnvelope(genesis, 0)
	if err != nil {
		return nil, err
	}
	if !ag.SealedBodies {
		return nil, nil
	}
	to, err := mvmclient.Recipients(ag)
	if err != nil {
		return nil, err
	}
	kr, err := mvmclient.LoadKeyring("af", filepath.Join(certs, devpki.SealKeyFile("af")))
	if err != nil {
		return nil, err
	}
	return &bench.Sealing{Origin: ag.LogOrigin, Recipients: to, Responder: kr}, nil
}
