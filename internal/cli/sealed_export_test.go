package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/testenv"
)

// Distinctive values of the sealed exchange the exports are searched for.
const (
	expLat     = "12.3456789"
	expSummary = "SUMMARY-EXPORT-5c1"
	expNote    = "NOTE-EXPORT-8b2"
	narrowLat  = "21.9876543"
	narrowSumm = "SUMMARY-NARROW-EXPORT-d04"
	sealedLine = "sealed: "
)

// exportRun runs export --format format as as and returns the file, its
// stderr and the exit code.
func exportRun(t *testing.T, e *testenv.Env, as, format string, extra ...string) (file, stderr string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "export."+format)
	_, stderr, code := runCLI(t, e.Addr, e.Certs, as, append([]string{"export", "--format", format, "--out", out}, extra...)...)
	if code != ExitOK {
		t.Fatalf("%s export --format %s: exit %d\n%s", as, format, code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), stderr
}

// TestSealedExport: under a sealing agreement, export --format stix and
// geojson and monthly-report show a recipient the opened coordinates,
// summaries and notes; a reader who cannot open a package gets its
// headers, and one line on stderr saying how many entries and why (not a
// recipient; no key, until --key gives it). The STIX bundle validates
// either way.
func TestSealedExport(t *testing.T) {
	e := testenv.NewPKI(t, devpki.Options{SealedBodies: true, SecondResponder: true})
	all := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--responder", "af", "--lat", expLat, "--lon", "45.25", "--summary", expSummary))[0]
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "ack", all, "--note", expNote)
	// Sealed to pk, af, tr and qa, not ir.
	narrow := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--responder", "af", "--to", "af", "--lat", narrowLat, "--lon", "3.5", "--summary", narrowSumm))[0]
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "ack", narrow, "--note", "NOTE-NARROW-EXPORT-e17")

	// A recipient of both: everything opened, nothing said about sealing.
	stix, stderr := exportRun(t, e, testenv.Mediator, "stix")
	for _, want := range []string{`"latitude":` + expLat, expSummary, expNote, `"latitude":` + narrowLat, narrowSumm} {
		if !strings.Contains(stix, want) {
			t.Errorf("tr's STIX export holds no %s", want)
		}
	}
	if stderr != "" {
		t.Errorf("tr's STIX export: stderr %q, want none", stderr)
	}
	validSTIX(t, stix)
	geo, stderr := exportRun(t, e, testenv.Mediator, "geojson")
	if !regexp.MustCompile(`(?s)"coordinates": \[\s*45.25,\s*`+regexp.QuoteMeta(expLat)+`\s*\]`).MatchString(geo) || !strings.Contains(geo, narrowLat) {
		t.Errorf("tr's GeoJSON export holds not both packages' coordinates:\n%s", geo)
	}
	if stderr != "" {
		t.Errorf("tr's GeoJSON export: stderr %q, want none", stderr)
	}

	// ir reads the log, and is not a recipient of the narrow package: its
	// two entries are headers, said in one line; the other package opens.
	notRecipient := "sealed: 2 entries in 1 packages shown as headers only: party ir is not a recipient\n"
	stix, stderr = exportRun(t, e, secondResponder, "stix")
	if strings.Contains(stix, narrowLat) || strings.Contains(stix, "NARROW-") || !strings.Contains(stix, expSummary) || !strings.Contains(stix, expLat) {
		t.Errorf("ir's STIX export: want the first package opened, the narrow one headers only")
	}
	if stderr != notRecipient {
		t.Errorf("ir's STIX export: stderr %q, want %q", stderr, notRecipient)
	}
	validSTIX(t, stix)
	geo, stderr = exportRun(t, e, secondResponder, "geojson")
	if strings.Contains(geo, narrowLat) || !strings.Contains(geo, expLat) || stderr != notRecipient {
		t.Errorf("ir's GeoJSON export (stderr %q):\n%s\nwant the narrow package without location, and %q", stderr, geo, notRecipient)
	}

	// The monthly report of a recipient: the packages' locations, in the
	// JSON and on the HTML's map; it verifies for another recipient.
	rep := t.TempDir()
	out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "monthly-report", "--out", rep)
	jsonPath := strings.Fields(out)[0]
	js, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"lat": `+expLat) || !strings.Contains(string(js), `"lat": `+narrowLat) || strings.Contains(out, sealedLine) {
		t.Errorf("tr's monthly report (output %q):\n%s\nwant both packages' locations", out, js)
	}
	html, err := os.ReadFile(strings.TrimSuffix(jsonPath, ".json") + ".html")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(html), `data-locations="1"`); n != 2 {
		t.Errorf("tr's monthly report's HTML: %d packages with one location, want 2", n)
	}
	if out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator2, "verify-report", jsonPath); !strings.Contains(out, "matches the log") {
		t.Errorf("qa verify-report of tr's report:\n%s", out)
	}

	// Without its key: headers only, and why; --key gives it back.
	keyFile := filepath.Join(e.Certs, devpki.SealKeyFile("tr"))
	moved := filepath.Join(t.TempDir(), "tr.key")
	if err := os.Rename(keyFile, moved); err != nil {
		t.Fatal(err)
	}
	noKey := "sealed: 4 entries in 2 packages shown as headers only: no key (party tr has no decryption key here: " + keyFile + "; give --key FILE)\n"
	for _, format := range []string{"stix", "geojson"} {
		got, stderr := exportRun(t, e, testenv.Mediator, format)
		if strings.Contains(got, expLat) || strings.Contains(got, narrowLat) || strings.Contains(got, "-EXPORT-") {
			t.Errorf("tr's %s export without its key holds an opened value", format)
		}
		if stderr != noKey {
			t.Errorf("tr's %s export without its key: stderr %q, want %q", format, stderr, noKey)
		}
		if format == "stix" {
			validSTIX(t, got)
		}
	}
	stdout, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "monthly-report", "--out", t.TempDir())
	js, err = os.ReadFile(strings.Fields(stdout + " x")[0])
	if code != ExitOK || err != nil || stderr != noKey || strings.Contains(string(js), expLat) || !strings.Contains(string(js), `"locations": []`) {
		t.Errorf("tr's monthly report without its key: exit %d, stderr %q, JSON:\n%s\nwant no locations and %q", code, stderr, js, noKey)
	}
	// A report opened by a recipient does not verify without the key, and
	// the reader is told why.
	_, stderr, code = runCLI(t, e.Addr, e.Certs, testenv.Mediator, "verify-report", jsonPath)
	if code == ExitOK || !strings.Contains(stderr, noKey) {
		t.Errorf("tr verify-report without its key: exit %d, stderr %q; want a mismatch and %q", code, stderr, noKey)
	}
	if stix, stderr := exportRun(t, e, testenv.Mediator, "stix", "--key", moved); !strings.Contains(stix, expSummary) || stderr != "" {
		t.Errorf("tr's STIX export with --key: stderr %q; want it opened", stderr)
	}
	if _, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "export", "--out", filepath.Join(t.TempDir(), "b"), "--key", moved); code != ExitUsage || !strings.Contains(stderr, "--key") {
		t.Errorf("export (a bundle) --key: exit %d, stderr %q; want a usage error", code, stderr)
	}
}

// validSTIX validates every object of a STIX bundle against the OASIS
// schema of its type (the schemas internal/report's tests use; see
// TestSTIXSchemas there).
func validSTIX(t *testing.T, bundle string) {
	t.Helper()
	const prefix = "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/"
	dir := filepath.Join("..", "report", "testdata", "stix2.1-schemas", "schemas")
	c := jsonschema.NewCompiler()
	c.UseLoader(schemaFiles{prefix, dir})
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(bundle)))
	if err != nil {
		t.Fatalf("the STIX export is not JSON: %v", err)
	}
	schemaOf := map[string]string{"marking-definition": "common/marking-definition.json", "identity": "sdos/identity.json",
		"grouping": "sdos/grouping.json", "location": "sdos/location.json", "note": "sdos/note.json",
		"opinion": "sdos/opinion.json", "relationship": "sros/relationship.json"}
	for i, o := range inst.(map[string]any)["objects"].([]any) {
		obj := o.(map[string]any)
		path, ok := schemaOf[obj["type"].(string)]
		if !ok {
			t.Errorf("object %d: type %v has no schema here", i, obj["type"])
			continue
		}
		s, err := c.Compile(prefix + path)
		if err != nil {
			t.Fatalf("compile %s: %v", path, err)
		}
		if err := s.Validate(obj); err != nil {
			t.Errorf("object %d (%s) fails %s: %v", i, obj["id"], path, err)
		}
	}
}

// schemaFiles serves the schemas' $ids from a directory: no network.
type schemaFiles struct{ prefix, dir string }

func (s schemaFiles) Load(url string) (any, error) {
	rest, ok := strings.CutPrefix(url, s.prefix)
	if !ok {
		return nil, os.ErrNotExist
	}
	f, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(rest)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return jsonschema.UnmarshalJSON(f)
}
