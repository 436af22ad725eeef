package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/client/mvmclient"
	"github.com/mvm-exchange/mvm/internal/devpki"
	"github.com/mvm-exchange/mvm/internal/message"
	"github.com/mvm-exchange/mvm/internal/seal"
	"github.com/mvm-exchange/mvm/internal/testenv"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
	"google.golang.org/protobuf/proto"
)

const secondResponder = "ir-interior"

// TestSealedReads: list, watch and breaches show a recipient the opened
// values and a non-recipient the headers only, with one line saying why;
// submit --to seals to the parties named and those who must read every
// package, nobody else.
func TestSealedReads(t *testing.T) {
	e := testenv.NewPKI(t, devpki.Options{SealedBodies: true, SecondResponder: true})
	all := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--responder", "af", "--lat", "1.5", "--lon", "2.5", "--summary", "SUMMARY-ALL-5e1"))[0]
	narrow := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--responder", "af", "--to", "af", "--lat", "3.25", "--lon", "4.5", "--summary", "SUMMARY-NARROW-9d0"))[0]
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "ack", narrow, "--note", "NOTE-NARROW-77a")

	// --to: wrapped for pk (the submitter), af (the responder), tr and qa
	// (the mediators), not ir; the server took it.
	resp, err := e.Client(testenv.Responder).Package(ctxT(t), narrow)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := entryOf(resp.Leaves[0])
	if err != nil {
		t.Fatal(err)
	}
	var to []string
	for _, w := range message.PackageKeys(tp) {
		to = append(to, w.Party)
	}
	if got := strings.Join(to, ","); got != "pk,af,tr,qa" {
		t.Errorf("submit --to af sealed to %s, want pk,af,tr,qa", got)
	}
	// A party not in the agreement: refused before anything is sent.
	_, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--responder", "af", "--to", "zz", "--lat", "1", "--lon", "1")
	if code != ExitUsage || !strings.Contains(stderr, "--to: recipients") || !strings.Contains(stderr, "not every one is a party") {
		t.Errorf("submit --to zz: exit %d, stderr %q; want a usage error", code, stderr)
	}

	// A recipient: list and breaches show both summaries, watch every
	// opened value; no line about headers.
	for _, as := range []string{testenv.Responder, testenv.Mediator} {
		out := mustCLI(t, e.Addr, e.Certs, as, "list")
		for _, want := range []string{"SUMMARY-ALL-5e1", "SUMMARY-NARROW-9d0"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s list:\n%s\nwant %s", as, out, want)
			}
		}
		out = mustCLI(t, e.Addr, e.Certs, as, "breaches", "--as-of", "2099-01-01")
		if !regexp.MustCompile(`(?m)^` + all + ` +af +acknowledge .* SUMMARY-ALL-5e1$`).MatchString(out) {
			t.Errorf("%s breaches:\n%s\nwant the package's summary on its row", as, out)
		}
		out = mustCLI(t, e.Addr, e.Certs, as, "watch", "--count", "4")
		for _, want := range []string{"target package at 1.50000,2.50000: SUMMARY-ALL-5e1", "target package at 3.25000,4.50000: SUMMARY-NARROW-9d0", "acknowledged: NOTE-NARROW-77a"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s watch:\n%s\nwant %q", as, out, want)
			}
		}
		if strings.Contains(out, "sealed:") {
			t.Errorf("%s watch says something is sealed:\n%s", as, out)
		}
	}

	// ir, not a recipient of the narrow package, reads the log (the
	// server's package reads are scoped to a package's parties, who are
	// all recipients): the narrow package's entries show their headers
	// only, why is said once, in one line; the other package opens.
	notRecipient := "sealed: headers only: not a recipient of this package: package " + narrow + " is sealed to parties [pk af tr qa], not ir: only its header is readable"
	out := mustCLI(t, e.Addr, e.Certs, secondResponder, "watch", "--count", "4")
	if strings.Contains(out, "NARROW-") || !strings.Contains(out, "SUMMARY-ALL-5e1") ||
		strings.Count(out, "[sealed: header only]") != 2 || strings.Count(out, "sealed: headers only") != 1 || !strings.Contains(out, notRecipient) {
		t.Errorf("ir watch:\n%s\nwant the narrow package's two entries marked, one line why", out)
	}

	// Without any key: headers only everywhere, and why.
	if err := os.Remove(filepath.Join(e.Certs, devpki.SealKeyFile("tr"))); err != nil {
		t.Fatal(err)
	}
	noKey := "sealed: headers only: no decryption key for this package: party tr has no decryption key here"
	for _, args := range [][]string{{"list"}, {"breaches", "--as-of", "2099-01-01"}, {"watch", "--count", "4"}} {
		out = mustCLI(t, e.Addr, e.Certs, testenv.Mediator, args...)
		if strings.Contains(out, "-NARROW-") || strings.Contains(out, "-ALL-") || strings.Count(out, "sealed: headers only") != 1 || !strings.Contains(out, noKey) {
			t.Errorf("tr %v without its key:\n%s\nwant headers only and one line %q", args, out, noKey)
		}
	}
}

// TestKeyRotation: a party rotates its encryption key by amendment
// (amend propose --new-encryption-key); packages sealed before open with
// the old key, those after with the new one, and --key takes both (files
// or a directory): the keyring picks the key by the wrapped key's id.
func TestKeyRotation(t *testing.T) {
	e := testenv.NewPKI(t, devpki.Options{SealedBodies: true})
	old := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "1", "--lon", "2", "--summary", "SUMMARY-OLD-1a"))[0]

	keys := t.TempDir()
	newKey := filepath.Join(keys, "seal-af-2.key")
	proposal := filepath.Join(t.TempDir(), "rotate.env")
	out := mustCLI(t, e.Addr, e.Certs, testenv.Responder, "amend", "propose", "--out", proposal, "--new-encryption-key", newKey)
	if !strings.Contains(out, "! party af encryption key: ") || !strings.Contains(out, "new decryption key ") {
		t.Errorf("amend propose --new-encryption-key:\n%s", out)
	}
	// A key file is never overwritten.
	if _, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Responder, "amend", "propose", "--out", proposal+"2", "--new-encryption-key", newKey); code == ExitOK || !strings.Contains(stderr, "never overwritten") {
		t.Errorf("a second propose onto the same key file: exit %d, %s", code, stderr)
	}
	for _, as := range []string{testenv.Submitter, testenv.Mediator, testenv.Mediator2} {
		mustCLI(t, e.Addr, e.Certs, as, "amend", "sign", proposal, "--yes")
	}
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "amend", "submit", proposal)
	rotated := strings.Fields(mustCLI(t, e.Addr, e.Certs, testenv.Submitter, "submit", "--lat", "3", "--lon", "4", "--summary", "SUMMARY-NEW-2b"))[0]

	// The old key alone (the default file): the old package opens, the
	// new one is sealed to a key af's reader does not hold, and it is told
	// which.
	oldFile := filepath.Join(e.Certs, devpki.SealKeyFile("af"))
	if out := mustCLI(t, e.Addr, e.Certs, testenv.Responder, "show", old); !strings.Contains(out, "summary: SUMMARY-OLD-1a") {
		t.Errorf("show of the old package with the old key:\n%s", out)
	}
	out = mustCLI(t, e.Addr, e.Certs, testenv.Responder, "show", rotated)
	if strings.Contains(out, "SUMMARY-NEW") || !strings.Contains(out, "no decryption key for this package: package "+rotated+" was sealed to party af's key ") {
		t.Errorf("show of the new package with the old key:\n%s", out)
	}
	// The new key alone: the reverse.
	if out := mustCLI(t, e.Addr, e.Certs, testenv.Responder, "show", rotated, "--key", newKey); !strings.Contains(out, "summary: SUMMARY-NEW-2b") {
		t.Errorf("show of the new package with the new key:\n%s", out)
	}
	if out := mustCLI(t, e.Addr, e.Certs, testenv.Responder, "show", old, "--key", newKey); strings.Contains(out, "SUMMARY-OLD") || !strings.Contains(out, "no decryption key for this package") {
		t.Errorf("show of the old package with the new key only:\n%s", out)
	}
	// Both, as files or as a directory: every package opens, in every read.
	if err := os.WriteFile(filepath.Join(keys, "seal-af-1.key"), mustRead(t, oldFile), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--key", oldFile, "--key", newKey}, {"--key", keys}} {
		out := mustCLI(t, e.Addr, e.Certs, testenv.Responder, append([]string{"list"}, args...)...)
		if !strings.Contains(out, "SUMMARY-OLD-1a") || !strings.Contains(out, "SUMMARY-NEW-2b") || strings.Contains(out, "sealed:") {
			t.Errorf("list %v:\n%s", args, out)
		}
		out = mustCLI(t, e.Addr, e.Certs, testenv.Responder, append([]string{"audit", "--no-cosign"}, args...)...)
		if !strings.Contains(out, "sealed bodies: 2 sealed entries, 2 opened and valid with party af's key") {
			t.Errorf("audit %v:\n%s", args, out)
		}
	}
	// The responder seals its acknowledgement of the old package with the
	// old key's package key, found by id among the keys given.
	mustCLI(t, e.Addr, e.Certs, testenv.Responder, "ack", old, "--note", "NOTE-OLD-3c", "--key", keys)
	if out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "show", old); !strings.Contains(out, "note: NOTE-OLD-3c") {
		t.Errorf("tr show after af's ack:\n%s", out)
	}
	// A directory with no decryption key in it is a mistake, said as such.
	if _, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Responder, "show", old, "--key", t.TempDir()); code == ExitOK || !strings.Contains(stderr, "holds no decryption key file") {
		t.Errorf("show --key EMPTYDIR: exit %d, %s", code, stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWrongWrap: a submitter who wraps a party's package key to another
// key than the party's in the agreement, under the party's key id (the
// server sees key ids only), has the package logged; show and audit --key
// name that entry as its author's fault for that party, list and watch
// show its header only and say why, and the other recipients read it.
func TestWrongWrap(t *testing.T) {
	wrongWrapCase(t, func(t *testing.T, pub *seal.PublicKey, key seal.PackageKey, c seal.WrapContext) []byte {
		to := pub
		if c.Party == "tr" {
			stranger, err := seal.GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			to = stranger.Public() // the wrong key, under tr's key id
		}
		w, err := seal.Wrap(to, key, c)
		if err != nil {
			t.Fatal(err)
		}
		return w
	})
}

// TestWrongInnerWrap: a submitter whose wrap for tr carries tr's genuine
// channel wrap but an inner wrap made under another channel key (as a
// party copying another sender's channel wrap would have to) is caught as
// in TestWrongWrap; the other parties' channel wraps open.
func TestWrongInnerWrap(t *testing.T) {
	channels := seal.NewChannels()
	wrongWrapCase(t, func(t *testing.T, pub *seal.PublicKey, key seal.PackageKey, c seal.WrapContext) []byte {
		w, err := channels.Wrap(pub, key, c)
		if err != nil {
			t.Fatal(err)
		}
		if c.Party == "tr" {
			other, err := seal.NewChannels().Wrap(pub, key, c)
			if err != nil {
				t.Fatal(err)
			}
			n := 1 + 16 + seal.WrappedKeySize // version, channel id, channel wrap
			w = append(w[:n:n], other[n:]...)
		}
		return w
	})
}

// wrongWrapCase logs a package whose keys are wrapped by wrap (wrong for
// party tr only) and checks what tr and af read and audit.
func wrongWrapCase(t *testing.T, wrap func(t *testing.T, pub *seal.PublicKey, key seal.PackageKey, c seal.WrapContext) []byte) {
	e := testenv.NewPKI(t, devpki.Options{SealedBodies: true})
	gen := genesisProto(t, e.Certs)
	origin := gen.LogOrigin
	tp := &mvmv1.TargetPackage{Header: mvmclient.NewHeader(), Summary: "SUMMARY-WRAP-6f1",
		Locations: []*mvmv1.Location{{Lat: 5, Lon: 6}}, Priority: mvmv1.Priority_PRIORITY_HIGH, Tlp: mvmv1.Tlp_TLP_RED}
	id := tp.Header.MessageId
	key, err := seal.NewPackageKey()
	if err != nil {
		t.Fatal(err)
	}
	header := message.Redact(tp).(*mvmv1.TargetPackage)
	for _, p := range gen.Parties {
		pub, err := seal.ParsePublicKey(p.EncryptionKey)
		if err != nil {
			t.Fatal(err)
		}
		w := wrap(t, pub, key, seal.WrapContext{LogOrigin: origin, PackageID: id, Party: p.Id})
		header.PackageKeys = append(header.PackageKeys, &mvmv1.WrappedKey{Party: p.Id, KeyId: pub.ID(), Wrapped: w})
	}
	aad, _ := proto.Marshal(header)
	pt, _ := proto.Marshal(tp)
	header.SealedBody, err = seal.SealBody(key, seal.BodyContext{LogOrigin: origin, PackageID: id, PayloadType: message.TypeTargetPackage, MessageID: id}, aad, pt)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.Client(testenv.Submitter).Append(ctxT(t), header)
	if err != nil {
		t.Fatalf("the server refused what it cannot tell from a good package: %v", err)
	}
	index := resp.Receipt.Index

	fault := fmt.Sprintf("sealed: entry %d is a fault of its author pk/pk-liaison: ", index)
	out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, "show", id)
	if !strings.Contains(out, fault) || !strings.Contains(out, "the package key wrapped for party tr") || strings.Contains(out, "SUMMARY-WRAP") {
		t.Errorf("tr show:\n%s\nwant %q", out, fault)
	}
	if out := mustCLI(t, e.Addr, e.Certs, testenv.Responder, "show", id); !strings.Contains(out, "summary: SUMMARY-WRAP-6f1") {
		t.Errorf("af show:\n%s\nwant the summary opened", out)
	}
	stdout, stderr, code := runCLI(t, e.Addr, e.Certs, testenv.Mediator, "audit", "--no-cosign")
	if code == ExitOK || !strings.Contains(stdout, fmt.Sprintf("sealed: entry %d (mvm.v1.TargetPackage %s): ", index, id)) ||
		!strings.Contains(stderr, "FAILED: 1 sealed bodies are their signed authors' faults") {
		t.Errorf("tr audit: exit %d\n%s\n%s\nwant a failure naming entry %d", code, stdout, stderr, index)
	}
	if _, _, code := runCLI(t, e.Addr, e.Certs, testenv.Responder, "audit", "--no-cosign"); code != ExitOK {
		t.Errorf("af audit: exit %d, want OK (its key opens the package)", code)
	}
	for _, args := range [][]string{{"list"}, {"watch", "--count", "1", "--from", fmt.Sprint(index)}} {
		out := mustCLI(t, e.Addr, e.Certs, testenv.Mediator, args...)
		if strings.Contains(out, "SUMMARY-WRAP") || !strings.Contains(out, "sealed: headers only: sealed by its author in a way its recipients cannot accept: package "+id) {
			t.Errorf("tr %v:\n%s\nwant headers only, the author's fault said", args, out)
		}
	}
}
