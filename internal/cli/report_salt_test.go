package cli

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/entry"
	"github.com/mvm-exchange/mvm/internal/report"
	"github.com/mvm-exchange/mvm/internal/seal"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// TestReportSaltSealed: under sealed bodies, a monthly report's row of a
// package the caller opened carries the package's report salt, derived
// from its package key: two mediators write byte-identical files (so
// publish the same digest), a reader who cannot open a package gets
// neither its coordinates nor its salt, and the salt is nowhere in the
// log (the bbolt file, an exported bundle): a reader of the log cannot
// recompute a report's digest to test guessed coordinates.
func TestReportSaltSealed(t *testing.T) {
	e := testenv.NewPKI(t, devpki.Options{SealedBodies: true, SecondResponder: true})
	all := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--responder", "af", "--lat", "30", "--lon", "70"))[0]
	// Sealed to pk, af, tr and qa, not ir.
	narrow := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--responder", "af", "--to", "af", "--lat", "31", "--lon", "71"))[0]
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "ack", narrow)

	// monthlyReport returns as's report of the current month: its JSON's
	// bytes and rows by package id.
	monthlyReport := func(as string) ([]byte, map[string]report.PackageRow) {
		t.Helper()
		out := mustCLI(t, e.Addr, e.Certs, as, "monthly-report", "--out", t.TempDir())
		raw, err := os.ReadFile(strings.Fields(out)[0])
		if err != nil {
			t.Fatal(err)
		}
		r, err := report.ParseJSON(raw)
		if err != nil {
			t.Fatalf("%s's report: %v", as, err)
		}
		rows := map[string]report.PackageRow{}
		for _, p := range r.Packages {
			rows[p.ID] = p
		}
		return raw, rows
	}

	// The salts a recipient computes from the package keys it unwraps.
	kr, err := mvmclient.LoadKeyring("tr", filepath.Join(e.Certs, devpki.SealKeyFile("tr")))
	if err != nil {
		t.Fatal(err)
	}
	origin := genesisProto(t, e.Certs).LogOrigin
	want := map[string]string{}
	var salts [][]byte
	for _, id := range []string{all, narrow} {
		resp, err := e.Client(testenv.Mediator).Package(ctxT(t), id)
		if err != nil {
			t.Fatal(err)
		}
		o, err := entry.Open(resp.Leaves[0])
		if err != nil {
			t.Fatal(err)
		}
		key, err := kr.PackageKey(origin, o.Payload.(*mvmv1.TargetPackage))
		if err != nil {
			t.Fatal(err)
		}
		s, err := seal.ReportSalt(key, origin, id)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = hex.EncodeToString(s)
		salts = append(salts, s)
	}

	// Two mediators, recipients of both: the same bytes, each opened row
	// with its package's salt.
	trRaw, trRows := monthlyReport(testenv.Mediator)
	qaRaw, _ := monthlyReport(testenv.Mediator2)
	if !bytes.Equal(trRaw, qaRaw) {
		t.Errorf("tr's and qa's reports differ:\n%s\n---\n%s", trRaw, qaRaw)
	}
	for _, id := range []string{all, narrow} {
		if got := trRows[id]; got.Salt != want[id] || len(got.Locations) != 1 {
			t.Errorf("tr's row of %s: salt %q, %d locations; want the salt of its package key %s and 1", id, got.Salt, len(got.Locations), want[id])
		}
	}
	if want[all] == want[narrow] {
		t.Errorf("two packages share the salt %s", want[all])
	}

	// ir opens the first package, not the narrow one: its salt and
	// coordinates are not in ir's report.
	_, irRows := monthlyReport(secondResponder)
	if got := irRows[all]; got.Salt != want[all] || len(got.Locations) != 1 {
		t.Errorf("ir's row of %s (opened): salt %q, %d locations; want %s and 1", all, got.Salt, len(got.Locations), want[all])
	}
	if got, ok := irRows[narrow]; !ok || got.Salt != "" || len(got.Locations) != 0 {
		t.Errorf("ir's row of %s (not a recipient): present %v, salt %q, %d locations; want the row, neither", narrow, ok, got.Salt, len(got.Locations))
	}

	// The salt is not in the log: neither in the server's bbolt file nor
	// in an exported bundle, as text or as bytes.
	bundle := filepath.Join(t.TempDir(), "bundle")
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "export", "--out", bundle)
	for _, f := range []string{e.DB, bundle} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range salts {
			if bytes.Contains(b, s) || bytes.Contains(b, []byte(hex.EncodeToString(s))) {
				t.Errorf("%s holds the report salt of package %d", filepath.Base(f), i)
			}
		}
	}

	// Without its key, tr's report has no salt at all.
	if err := os.Rename(filepath.Join(e.Certs, devpki.SealKeyFile("tr")), filepath.Join(t.TempDir(), "tr.key")); err != nil {
		t.Fatal(err)
	}
	stdout, _, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "monthly-report", "--out", t.TempDir())
	raw, err := os.ReadFile(strings.Fields(stdout + " x")[0])
	if code != ExitOK || err != nil || bytes.Contains(raw, []byte(`"salt"`)) {
		t.Errorf("tr's report without its key: exit %d (%v), want no salt:\n%s", code, err, raw)
	}
}
