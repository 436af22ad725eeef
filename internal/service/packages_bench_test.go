package service_test

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
	"github.com/mvm-exchange/mvm/internal/testenv"
	"github.com/mvm-exchange/mvm/internal/tlog"
	"github.com/mvm-exchange/mvm/internal/workflow"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// BenchmarkPackageReads measures one page of list and breaches on a big
// log, and show of a package with 10,000 entries, over real mutual TLS on
// loopback (docs/PERFORMANCE.md). The log is written directly through the
// ledger (real signatures, fsync off while filling): MVM_BENCH_PACKAGES
// packages (default 100,000) of 512-byte payloads, one in ten
// acknowledged, and one package whose history is 10,000 entries (4,999
// requests for information and their answers, the most the per-party
// bound admits for two parties).
//
//	go test -run '^$' -bench BenchmarkPackageReads -benchtime 200x ./internal/service/
//
// Each sub-benchmark reports p50-ms and p99-ms of its calls.
func BenchmarkPackageReads(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("MVM_BENCH_PACKAGES")); err == nil && v > 0 {
		n = v
	}
	certs := b.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: certs}); err != nil {
		b.Fatal(err)
	}
	db := filepath.Join(b.TempDir(), "mvm.db")
	t0 := time.Now()
	long := fillPackages(b, certs, db, n)
	b.Logf("filled %d packages and one of 10,000 entries in %s", n, time.Since(t0).Round(time.Second))
	env := testenv.Start(b, certs, db)
	tr, af := env.Client(testenv.Mediator), env.Client(testenv.Responder)
	ctx := context.Background()
	asOf := timestamppb.New(time.Now().Add(48 * time.Hour))

	for _, bc := range []struct {
		name string
		call func() error
	}{
		{"list page of 100 (mediator)", func() error {
			_, err := tr.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{PageSize: 100})
			return err
		}},
		{"list page of 100 acknowledged (responder)", func() error {
			_, err := af.API.ListPackages(ctx, &mvmv1.ListPackagesRequest{PageSize: 100, Status: "acknowledged"})
			return err
		}},
		{"breaches page of 100, all overdue (mediator)", func() error {
			_, err := tr.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{PageSize: 100, AsOf: asOf})
			return err
		}},
		{"breaches page of 100, all overdue (responder)", func() error {
			_, err := af.API.GetBreaches(ctx, &mvmv1.GetBreachesRequest{PageSize: 100, AsOf: asOf, Party: "af"})
			return err
		}},
		{"show of 10,000 entries (all pages)", func() error {
			p, err := tr.Package(ctx, long)
			if err == nil && len(p.History) != 10_000 {
				err = fmt.Errorf("%d events, want 10,000", len(p.History))
			}
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				if err := bc.call(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			ms := func(q float64) float64 {
				return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}

// fillPackages writes the benchmark's log and returns the id of the long
// package.
func fillPackages(b *testing.B, certs, db string, n int) string {
	b.Helper()
	skey, err := os.ReadFile(filepath.Join(certs, "log.key"))
	if err != nil {
		b.Fatal(err)
	}
	signer, err := tlog.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		b.Fatal(err)
	}
	genesis, err := os.ReadFile(filepath.Join(certs, "agreement.envelope"))
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(db, store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Store: st, Signer: signer, Genesis: genesis})
	if err != nil {
		b.Fatal(err)
	}
	ids := map[string]envelope.Signer{}
	for _, name := range []string{testenv.Submitter, testenv.Responder} {
		pair, err := devpki.LoadKeyPair(certs, name)
		if err != nil {
			b.Fatal(err)
		}
		ids[name] = envelope.Signer{Key: pair.PrivateKey.(crypto.Signer), Certificate: pair.Leaf}
	}
	var failed atomic.Int64
	appendAs := func(name string, m proto.Message) {
		env, err := envelope.Seal(m, ids[name])
		if err == nil {
			_, err = l.Append(context.Background(), env, ids[name].Certificate)
		}
		if err != nil && failed.Add(1) == 1 {
			b.Errorf("append %T: %v", m, err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				tp := bench.Package(512)
				appendAs(testenv.Submitter, tp)
				if i%10 == 0 {
					appendAs(testenv.Responder, &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: tp.Header.MessageId})
				}
			}
		}()
	}
	// The long package: requests asked and answered MaxOpenRequests at a
	// time, concurrently with the fill.
	tp := bench.Package(512)
	appendAs(testenv.Submitter, tp)
	id := tp.Header.MessageId
	appendAs(testenv.Responder, &mvmv1.Acknowledgement{Header: mvmclient.NewHeader(), PackageId: id})
	for left := 4999; left > 0; {
		k := min(left, workflow.MaxOpenRequests)
		for _, m := range []func() (string, proto.Message){
			func() (string, proto.Message) {
				return testenv.Responder, &mvmv1.RequestForInformation{Header: mvmclient.NewHeader(), PackageId: id, Question: "which floor?"}
			},
			func() (string, proto.Message) {
				return testenv.Submitter, &mvmv1.InformationResponse{Header: mvmclient.NewHeader(), PackageId: id, Answer: "the second"}
			},
		} {
			var g sync.WaitGroup
			for range k {
				g.Add(1)
				go func() { defer g.Done(); appendAs(m()) }()
			}
			g.Wait()
		}
		left -= k
	}
	wg.Wait()
	l.Close()
	if err := st.DB().Sync(); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if failed.Load() > 0 {
		b.Fatalf("%d appends failed", failed.Load())
	}
	return id
}
