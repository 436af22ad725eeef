// Command fill writes a large log for measurements: N signed target
// packages (512-byte payloads) from the dev submitter, through the real
// ledger (admission, reducer, tree, checkpoints), with fsync off while
// filling and one synced commit at the end. It measures what only a big
// log shows: start-up time, audit speed and memory, bytes on disk.
//
//	go run ./internal/bench/fill --certs certs --db /tmp/big.db --n 1000000
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

	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/tlog"
)

func main() {
	certs := flag.String("certs", "certs", "dev PKI directory")
	db := flag.String("db", "", "database file to create or extend (required)")
	n := flag.Int("n", 100_000, "entries to append")
	workers := flag.Int("workers", 8, "concurrent appenders")
	payload := flag.Int("payload-bytes", 512, "serialized payload size")
	flag.Parse()
	if err := run(*certs, *db, *n, *workers, *payload); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		os.Exit(1)
	}
}

func run(certs, db string, n, workers, payload int) error {
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
	st, err := store.Open(db, store.Options{NoSync: true})
	if err != nil {
		return err
	}
	l, err := ledger.Open(ledger.Config{Store: st, Signer: signer, Genesis: genesis})
	if err != nil {
		return err
	}
	s := envelope.Signer{Key: pair.PrivateKey.(crypto.Signer), Certificate: pair.Leaf}
	start := time.Now()
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done.Add(1) <= int64(n) {
				env, err := envelope.Seal(bench.Package(payload), s)
				if err == nil {
					_, err = l.Append(context.Background(), env, pair.Leaf)
				}
				if err != nil && failed.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, "fill: append:", err)
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
	fmt.Printf("appended %d entries in %s (%d failed); log size %d; file %d bytes (%.0f bytes/entry)\n",
		n, time.Since(start).Round(time.Millisecond), failed.Load(), size, fi.Size(), float64(fi.Size())/float64(size))
	return nil
}
