package bench_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"syscall"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/envelope"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
)

// BenchmarkMessage is what a responder's client spends on one message of
// a `client bench --mix ack=1,report=1,rfi=2` run before it is sent:
// building the acknowledgement, request or report, sealing it under its
// package's key (sealed; the key unwrapped once per package as the run
// does) and signing the envelope. plain and sealed side by side give the
// client's extra CPU per sealed message.
func BenchmarkMessage(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer := envelope.Signer{Key: priv, Certificate: &x509.Certificate{Raw: []byte("bench certificate"), SerialNumber: big.NewInt(1)}}
	sealing := newSealing(b)
	kinds := []string{bench.KindAck, bench.KindRFI, bench.KindRFI, bench.KindReport}
	for _, bc := range []struct {
		name string
		s    *bench.Sealing
	}{{"plain", nil}, {"sealed", sealing}} {
		b.Run(bc.name, func(b *testing.B) {
			var flows []*bench.Flow
			for range 64 {
				f, err := bench.NewFlow(512, bc.s)
				if err != nil {
					b.Fatal(err)
				}
				flows = append(flows, f)
			}
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			i := 0
			for b.Loop() {
				m, payload, err := flows[(i/len(kinds))%len(flows)].Message(kinds[i%len(kinds)], bc.s)
				if err != nil {
					b.Fatal(err)
				}
				if payload != nil {
					_, err = envelope.SealPayload(message.TypeOf(m), payload, signer)
				} else {
					_, err = envelope.Seal(m, signer)
				}
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(i), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's CPU time (user and system), which a busy shared
// host changes less than the wall time b reports.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// newSealing returns the sealing of a run under four parties' fresh keys,
// af the responder.
func newSealing(t testing.TB) *bench.Sealing {
	var to []message.Recipient
	keys := map[string]*seal.PrivateKey{}
	for _, p := range []string{"pk", "af", "tr", "qa"} {
		k, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[p] = k
		to = append(to, message.Recipient{Party: p, Key: k.Public()})
	}
	return &bench.Sealing{Origin: "mvm.example/exchange/dev", Recipients: to, Responder: message.NewKeyring("af", keys["af"])}
}

// TestSubmitted: a package in the pool keeps only what the responder's
// messages need, and they still seal under its key.
func TestSubmitted(t *testing.T) {
	s := newSealing(t)
	for _, sealing := range []*bench.Sealing{nil, s} {
		f, err := bench.NewFlow(512, sealing)
		if err != nil {
			t.Fatal(err)
		}
		f.Submitted(sealing)
		switch {
		case sealing == nil && f.Target != nil:
			t.Errorf("unsealed: Submitted kept the target package")
		case sealing != nil && (len(f.Target.PackageKeys) != 1 || f.Target.PackageKeys[0].Party != "af" || len(f.Target.SealedBody) != 0):
			t.Errorf("sealed: Submitted kept %d wrapped keys and a %d-byte body; want af's wrap only", len(f.Target.GetPackageKeys()), len(f.Target.GetSealedBody()))
		}
		if sealing != nil { // a run of packages only has no responder
			g, err := bench.NewFlow(512, &bench.Sealing{Origin: sealing.Origin, Recipients: sealing.Recipients})
			if err != nil {
				t.Fatal(err)
			}
			if g.Submitted(&bench.Sealing{Origin: sealing.Origin}); g.Target != nil {
				t.Errorf("sealed, no responder: Submitted kept the target package")
			}
		}
		m, _, err := f.Message(bench.KindAck, sealing)
		if err != nil {
			t.Fatalf("sealed %v: a message after Submitted: %v", sealing != nil, err)
		}
		if got := message.IsSealed(m); got != (sealing != nil) {
			t.Errorf("sealed %v: the acknowledgement is sealed %v", sealing != nil, got)
		}
	}
}
