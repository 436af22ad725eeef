package audit_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/mvm-exchange/mvm/internal/audit"
	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/ledger"
	"github.com/mvm-exchange/mvm/internal/store"
)

// memSource is a log held in memory.
type memSource struct {
	leaves [][]byte
	certs  map[string][]byte
}

func (m *memSource) Entries(_ context.Context, start, end uint64, fn func(uint64, []byte) error) error {
	for i := start; i < end; i++ {
		if err := fn(i, m.leaves[i]); err != nil {
			return err
		}
	}
	return nil
}

func (m *memSource) Certificate(_ context.Context, sha []byte) ([]byte, error) {
	if c, ok := m.certs[string(sha)]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("no certificate %x", sha)
}

// benchLog appends n signed 512-byte target packages through a real ledger
// (fsync off) and returns the log in memory.
func benchLog(b *testing.B, n int) *memSource {
	dir := b.TempDir()
	if err := devpki.Generate(devpki.Options{Dir: dir}); err != nil {
		b.Fatal(err)
	}
	skey, _ := os.ReadFile(filepath.Join(dir, "log.key"))
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		b.Fatal(err)
	}
	genesis, _ := os.ReadFile(filepath.Join(dir, "agreement.envelope"))
	st, err := store.Open(filepath.Join(dir, "mvm.db"), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	l, err := ledger.Open(ledger.Config{Store: st, Signer: signer, Genesis: genesis})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	pair, err := devpki.LoadKeyPair(dir, "pk-liaison")
	if err != nil {
		b.Fatal(err)
	}
	s := envelope.Signer{Key: pair.PrivateKey.(crypto.Signer), Certificate: pair.Leaf}
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				env, err := envelope.Seal(bench.Package(512), s)
				if err == nil {
					_, err = l.Append(context.Background(), env, pair.Leaf)
				}
				if err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for range n {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	src := &memSource{certs: map[string][]byte{}}
	size := l.Head().Size
	if err := st.Leaves(0, size, func(_ uint64, leaf []byte) error {
		src.leaves = append(src.leaves, append([]byte(nil), leaf...))
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	der := pair.Leaf.Raw
	fp, _ := st.Certificate(sha(der))
	src.certs[string(sha(der))] = fp
	return src
}

// BenchmarkAudit reports the cost of auditing one entry: decode, signature
// and chain check (in parallel), reducer, Merkle tree. BenchmarkAuditBounded
// does the same with the package states and message ids in spill files, as
// `client audit` does.
func BenchmarkAudit(b *testing.B) { benchmarkAudit(b, audit.Options{}) }
func BenchmarkAuditBounded(b *testing.B) {
	benchmarkAudit(b, audit.Options{Bounded: true, TempDir: b.TempDir()})
}

// BenchmarkAuditAgreementsOnly is what show, amend and checkpoint pay to
// derive the agreement in force: every leaf hashed, only agreements
// verified.
func BenchmarkAuditAgreementsOnly(b *testing.B) {
	benchmarkAudit(b, audit.Options{AgreementsOnly: true})
}

func benchmarkAudit(b *testing.B, o audit.Options) {
	const n = 5000
	src := benchLog(b, n)
	size := uint64(len(src.leaves))
	b.ResetTimer()
	for range b.N {
		if _, err := audit.Run(context.Background(), src, size, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/entry")
	b.ReportMetric(float64(b.N)*float64(size)/b.Elapsed().Seconds(), "entries/s")
}

func sha(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
