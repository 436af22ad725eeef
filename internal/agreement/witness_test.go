package agreement_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/tlog"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestCountWitnesses: a mediator party counts once however many of its keys
// cosigned; only the keys of the agreement given count, so a key rotated
// out by an amendment no longer witnesses, and its replacement does.
func TestCountWitnesses(t *testing.T) {
	k, read, logKey, cp := newWitnessFixture(t)
	origin := k.ag.LogOrigin
	trOld, qa := read("tr-verifier.cosign.key"), read("qa-verifier.cosign.key")
	trNew, trNewV, err := tlog.GenerateCosignerKey("tr-verifier-2")
	if err != nil {
		t.Fatal(err)
	}
	trSecond, trSecondV, err := tlog.GenerateCosignerKey("tr-verifier-b")
	if err != nil {
		t.Fatal(err)
	}
	// rotated: tr's key replaced by trNew. twoKeys: tr holds its key and trSecond.
	agreementWith := func(keys ...string) *agreement.Agreement {
		p := proto.Clone(k.proto).(*mvmv1.Agreement)
		partyOf(t, p, "tr").CosignerKeys = keys
		a, err := agreement.Parse(p, 4)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	rotated := agreementWith(trNewV)
	twoKeys := agreementWith(partyOf(t, k.proto, "tr").CosignerKeys[0], trSecondV)

	for _, tc := range []struct {
		name string
		ag   *agreement.Agreement
		by   []string // cosigner private keys
		want int
	}{
		{"none", k.ag, nil, 0},
		{"one mediator", k.ag, []string{trOld}, 1},
		{"both mediators", k.ag, []string{trOld, qa}, 2},
		{"two keys of one party count once", twoKeys, []string{trOld, trSecond}, 1},
		{"two keys of one party and another party", twoKeys, []string{trOld, trSecond, qa}, 2},
		{"rotated-out key no longer counts", rotated, []string{trOld, qa}, 1},
		{"rotated-in key counts", rotated, []string{trNew, qa}, 2},
		{"rotated-in key unknown to the genesis", k.ag, []string{trNew, qa}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines []string
			for _, skey := range tc.by {
				line, err := tlog.Cosign(skey, cp, origin, logKey)
				if err != nil {
					t.Fatal(err)
				}
				lines = append(lines, line)
			}
			signed, err := tlog.AddCosignatures(cp, lines)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.ag.CountWitnesses(signed, origin, logKey)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %d witnesses, want %d", got, tc.want)
			}
			if w := tc.ag.Witnessed(got); w != (got >= 2) {
				t.Errorf("Witnessed(%d) = %v with quorum %d", got, w, tc.ag.WitnessQuorum)
			}
		})
	}
	// A checkpoint not signed by the log key counts nothing: it is an error.
	otherSigner, _, err := tlog.GenerateLogKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(otherSigner)
	if err != nil {
		t.Fatal(err)
	}
	root := sha256.Sum256([]byte("root"))
	forged, err := tlog.SignCheckpoint(s, origin, 5, root[:])
	if err != nil {
		t.Fatal(err)
	}
	if n, err := k.ag.CountWitnesses(forged, origin, logKey); err == nil {
		t.Errorf("checkpoint signed by another key: got %d witnesses and no error", n)
	}
}

// TestInForceAt: the agreement in force for a checkpoint of size n is the
// last one among its first n entries.
func TestInForceAt(t *testing.T) {
	k := newPKI(t)
	at := func(i uint64) *agreement.Agreement {
		a, err := agreement.Parse(k.proto, i)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	history := []*agreement.Agreement{at(0), at(4), at(9)}
	for _, tc := range []struct {
		size uint64
		want int // index into history, -1 for nil
	}{{0, -1}, {1, 0}, {4, 0}, {5, 1}, {9, 1}, {10, 2}, {100, 2}} {
		got := agreement.InForceAt(history, tc.size)
		switch {
		case tc.want < 0 && got != nil:
			t.Errorf("size %d: got agreement %d, want none", tc.size, got.Index)
		case tc.want >= 0 && got != history[tc.want]:
			t.Errorf("size %d: got %v, want agreement %d", tc.size, got, history[tc.want].Index)
		}
	}
}

// newWitnessFixture is a dev PKI, a reader of its files, the log's
// verifier key and a checkpoint of size 5 signed by the log key: what the
// witness-counting tests cosign.
func newWitnessFixture(t *testing.T) (k *pki, read func(name string) string, logKey note.Verifier, cp []byte) {
	t.Helper()
	k = newPKI(t)
	read = func(name string) string {
		b, err := os.ReadFile(filepath.Join(k.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	logSigner, err := note.NewSigner(read("log.key"))
	if err != nil {
		t.Fatal(err)
	}
	if logKey, err = note.NewVerifier(read("log.vkey")); err != nil {
		t.Fatal(err)
	}
	root := sha256.Sum256([]byte("root"))
	if cp, err = tlog.SignCheckpoint(logSigner, k.ag.LogOrigin, 5, root[:]); err != nil {
		t.Fatal(err)
	}
	return k, read, logKey, cp
}
