package seal_test

import (
	"testing"

	"github.com/mvm-exchange/mvm/internal/seal"
)

// BenchmarkWrap4 wraps one package key for four recipient parties, what a
// submitter's client does for every target package of the dev agreement.
func BenchmarkWrap4(b *testing.B) {
	var pubs []*seal.PublicKey
	for range 4 {
		pubs = append(pubs, mustKey(b).Public())
	}
	key := mustPackageKey(b)
	parties := []string{"pk", "af", "tr", "qa"}
	size := 0
	for b.Loop() {
		size = 0
		for i, pub := range pubs {
			w, err := seal.Wrap(pub, key, seal.WrapContext{LogOrigin: "mvm.example/exchange/dev", PackageID: "pkg-1", Party: parties[i]})
			if err != nil {
				b.Fatal(err)
			}
			size += len(w)
		}
	}
	b.ReportMetric(float64(size), "wrapped-bytes")
}

// BenchmarkWrap4Channels is BenchmarkWrap4 through channel keys (format
// 2): the encapsulations happen once per channel, not per package.
func BenchmarkWrap4Channels(b *testing.B) {
	var pubs []*seal.PublicKey
	for range 4 {
		pubs = append(pubs, mustKey(b).Public())
	}
	key := mustPackageKey(b)
	parties := []string{"pk", "af", "tr", "qa"}
	s := seal.NewChannels()
	size := 0
	for b.Loop() {
		size = 0
		for i, pub := range pubs {
			w, err := s.Wrap(pub, key, seal.WrapContext{LogOrigin: "mvm.example/exchange/dev", PackageID: "pkg-1", Party: parties[i]})
			if err != nil {
				b.Fatal(err)
			}
			size += len(w)
		}
	}
	b.ReportMetric(float64(size), "wrapped-bytes")
}

// BenchmarkUnwrapChannel opens one package's wrap of format 2: "cached" as
// a reader of many packages of one channel does, "cold" without a cache
// (one decapsulation, as format 1 always costs).
func BenchmarkUnwrapChannel(b *testing.B) {
	k := mustKey(b)
	c := seal.WrapContext{LogOrigin: "mvm.example/exchange/dev", PackageID: "pkg-1", Party: "af"}
	w, err := seal.NewChannels().Wrap(k.Public(), mustPackageKey(b), c)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		cache *seal.ChannelCache
	}{{"cached", seal.NewChannelCache(0)}, {"cold", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.cache.Unwrap(k, w, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnwrap(b *testing.B) {
	k := mustKey(b)
	key := mustPackageKey(b)
	c := seal.WrapContext{LogOrigin: "mvm.example/exchange/dev", PackageID: "pkg-1", Party: "af"}
	w, err := seal.Wrap(k.Public(), key, c)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := seal.Unwrap(k, w, c); err != nil {
			b.Fatal(err)
		}
	}
}

var bodyContext = seal.BodyContext{LogOrigin: "mvm.example/exchange/dev", PackageID: "pkg-1", PayloadType: "mvm.v1.ActionReport", MessageID: "report-1"}

func BenchmarkSealBody1KiB(b *testing.B) {
	key := mustPackageKey(b)
	body, aad := make([]byte, 1024), make([]byte, 96)
	b.SetBytes(int64(len(body)))
	var sealed []byte
	for b.Loop() {
		var err error
		if sealed, err = seal.SealBody(key, bodyContext, aad, body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(sealed)-len(body)), "overhead-bytes")
}

func BenchmarkOpenBody1KiB(b *testing.B) {
	key := mustPackageKey(b)
	body, aad := make([]byte, 1024), make([]byte, 96)
	sealed, err := seal.SealBody(key, bodyContext, aad, body)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := seal.OpenBody(key, bodyContext, aad, sealed); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(sealed)-len(body)), "overhead-bytes")
}
