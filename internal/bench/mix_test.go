package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/agreement"
	"github.com/mvm-exchange/mvm/internal/bench"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bench.Mix
		err  string
	}{
		{in: "package=1,ack=1,report=1,rfi=2", want: bench.Mix{Package: 1, Ack: 1, Report: 1, RFI: 2}},
		{in: "ack=1, rfi=3", want: bench.Mix{Ack: 1, RFI: 3}},
		{in: "package=1", want: bench.PackagesOnly},
		{in: "package=2", err: "0 or 1"},
		{in: "ack=2", err: "0 or 1"},
		{in: "rfi=17", err: "at most 16"},
		{in: "package=1,rfi=1", err: "add ack=1"},
		{in: "report=1", err: "add ack=1"},
		{in: "package=0", err: "nothing to append"},
		{in: "finding=1", err: `unknown kind "finding"`},
		{in: "ack", err: "want KIND=N"},
		{in: "ack=-1", err: "want KIND=N"},
	} {
		got, err := bench.ParseMix(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseMix(%q) = %v, %v; want an error saying %q", tc.in, got, err, tc.err)
		}
	}
}

// TestRunMix drives a sealing exchange through the workflow: every append
// of every kind is accepted (the steps come in the order the workflow
// takes them, each sealed as the clients seal it), and the responder's
// messages open with the mediators' keys.
func TestRunMix(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		e := testenv.NewPKI(t, devpki.Options{SealedBodies: sealed})
		sub, resp := e.Client(testenv.Submitter), e.Client(testenv.Responder)
		o := bench.Options{Duration: time.Minute, Concurrency: 4, PayloadBytes: 512, MaxAppends: 60,
			Clients: []*mvmclient.Client{sub}, Responders: []*mvmclient.Client{resp},
			Mix: bench.Mix{Package: 1, Ack: 1, Report: 1, RFI: 2}}
		var receipts bytes.Buffer
		o.Receipts = &receipts
		var origin string
		if sealed {
			raw, err := os.ReadFile(filepath.Join(e.Certs, "agreement.envelope"))
			if err != nil {
				t.Fatal(err)
			}
			ag, _, err := agreement.FromEnvelope(raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			to, err := mvmclient.Recipients(ag)
			if err != nil {
				t.Fatal(err)
			}
			kr, err := mvmclient.LoadKeyring("af", filepath.Join(e.Certs, devpki.SealKeyFile("af")))
			if err != nil {
				t.Fatal(err)
			}
			origin = ag.LogOrigin
			o.Sealing = &bench.Sealing{Origin: origin, Recipients: to, Responder: kr}
		}
		res, err := bench.Run(ctx(t), o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != 0 || res.Acked != 60 || res.Sealed != sealed {
			t.Fatalf("sealed %v: %d acked, %d errors (first: %s)", sealed, res.Acked, res.Errors, res.FirstError)
		}
		k := res.PerKind
		if k["package"] < 12 || k["ack"] > k["package"] || k["report"] > k["ack"] || k["rfi"] > 2*k["ack"] || k["report"] < 8 {
			t.Errorf("sealed %v: per kind %v is not the mix's workflow", sealed, k)
		}
		if !sealed {
			continue
		}
		// Every entry is sealed and opens for a mediator.
		kr, err := mvmclient.LoadKeyring("tr", filepath.Join(e.Certs, devpki.SealKeyFile("tr")))
		if err != nil {
			t.Fatal(err)
		}
		last := uint64(0)
		for _, line := range strings.Split(strings.TrimSpace(receipts.String()), "\n") {
			var r bench.Receipt
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			last = max(last, r.Index)
		}
		if n := openAll(t, e.Client(testenv.Mediator), kr, origin, last+1); n != 60 {
			t.Errorf("%d entries opened with tr's key, want 60", n)
		}
	}
}

// openAll opens every sealed entry of the log after the agreement, below
// end, in order: a package's key from its target package, then its
// messages with it.
func openAll(t *testing.T, c *mvmclient.Client, kr *message.Keyring, origin string, end uint64) int {
	t.Helper()
	opened := 0
	keys := map[string]seal.PackageKey{}
	err := c.Entries(ctx(t), 1, end, func(index uint64, leaf []byte) error {
		o, err := entry.Open(leaf)
		if err != nil {
			return err
		}
		id := message.PackageID(o.Payload)
		if tp, ok := o.Payload.(*mvmv1.TargetPackage); ok {
			if keys[id], err = kr.PackageKey(origin, tp); err != nil {
				return err
			}
		}
		if _, err := message.Open(origin, keys[id], o.Type, o.Envelope.GetPayload()); err != nil {
			return fmt.Errorf("entry %d: %w", index, err)
		}
		opened++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return opened
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}
