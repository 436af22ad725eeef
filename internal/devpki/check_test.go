package devpki

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/envelope"
)

func TestFilesAreWhatGenerateWrites(t *testing.T) {
	dir := generate(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := slices.Sorted(slices.Values(Files()))
	if !slices.Equal(got, want) {
		t.Fatalf("Generate wrote\n %q\nFiles lists\n %q", got, want)
	}
	present, err := Present(dir)
	if err != nil || !slices.Equal(present, Files()) {
		t.Fatalf("Present = %q, %v; want every file", present, err)
	}
	if present, err := Present(t.TempDir()); err != nil || len(present) != 0 {
		t.Fatalf("Present(empty dir) = %q, %v", present, err)
	}
}

func TestCheck(t *testing.T) {
	other := generate(t) // a second, unrelated PKI to take files from
	copyFrom := func(src string, names ...string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			for _, n := range names {
				b, err := os.ReadFile(filepath.Join(src, n))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// within copies files of dir onto other names of dir: from[i] → to[i].
	within := func(pairs ...string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			for i := 0; i < len(pairs); i += 2 {
				b, err := os.ReadFile(filepath.Join(dir, pairs[i]))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, pairs[i+1]), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	remove := func(names ...string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			for _, n := range names {
				if err := os.Remove(filepath.Join(dir, n)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, test := range []struct {
		name    string
		break_  func(t *testing.T, dir string)
		at      time.Time
		file    string // a file the error must name
		missing bool
		say     string // in the message
	}{
		{name: "complete"},
		{name: "server key missing", break_: remove("server.key"), file: "server.key", missing: true, say: "missing server.key"},
		{name: "agreement text missing", break_: remove("agreement.txt"), file: "agreement.txt", missing: true},
		{name: "cosigner vkey missing", break_: remove("qa-verifier.cosign.vkey"), file: "qa-verifier.cosign.vkey", missing: true},
		{name: "key of another certificate", break_: within("pk-liaison.key", "af-interior.key"), file: "af-interior.key", say: "is not the key of af-interior.crt"},
		{name: "CA key of another CA", break_: within("ca-af.key", "ca-pk.key"), file: "ca-pk.key"},
		{name: "client from another PKI", break_: copyFrom(other, "pk-liaison.crt", "pk-liaison.key"), file: "pk-liaison.crt", say: "does not chain to ca-pk.crt"},
		{name: "client of another party's CA", break_: within("af-interior.crt", "pk-liaison.crt", "af-interior.key", "pk-liaison.key"), file: "pk-liaison.crt"},
		{name: "client naming another identity", break_: func(t *testing.T, dir string) {
			if err := Issue(dir, "pk-other", "pk", IssueOptions{NotBefore: now.Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			within("pk-other.crt", "pk-liaison.crt", "pk-other.key", "pk-liaison.key")(t, dir)
		}, file: "pk-liaison.crt", say: "names spiffe://mvm.example/party/pk/pk-other, want party pk, name pk-liaison"},
		{name: "server from another PKI", break_: copyFrom(other, "server.crt", "server.key"), file: "server.crt", say: "does not chain to ca-server.crt"},
		{name: "server certificate is a client's", break_: within("tr-verifier.crt", "server.crt", "tr-verifier.key", "server.key"), file: "server.crt"},
		{name: "server CA is not a CA", break_: within("server.crt", "ca-server.crt", "server.key", "ca-server.key"), file: "ca-server.crt", say: "is not a CA certificate"},
		{name: "party CA from another PKI", break_: copyFrom(other, "ca-qa.crt", "ca-qa.key"), file: "agreement.envelope", say: "party qa's CA is not ca-qa.crt"},
		{name: "agreement from another PKI", break_: copyFrom(other, "agreement.envelope"), file: "agreement.envelope", say: "belongs to another PKI"},
		{name: "agreement tampered", break_: flipMiddleByte("agreement.envelope"), file: "agreement.envelope", say: "does not verify"},
		{name: "agreement signature broken", break_: breakSignature, file: "agreement.envelope", say: "does not verify: signature 1"},
		{name: "log key from another PKI", break_: copyFrom(other, "log.key"), file: "log.key", say: "does not sign for log.vkey"},
		{name: "log key pair from another PKI", break_: copyFrom(other, "log.key", "log.vkey"), file: "agreement.envelope", say: "its log key is not log.vkey"},
		{name: "cosigner key from another PKI", break_: copyFrom(other, "tr-verifier.cosign.key"), file: "tr-verifier.cosign.key"},
		{name: "cosigner key pair from another PKI", break_: copyFrom(other, "tr-verifier.cosign.key", "tr-verifier.cosign.vkey"), file: "agreement.envelope", say: "cosigner key is not tr-verifier.cosign.vkey"},
		{name: "garbage verifier key", break_: garbage("log.vkey"), file: "log.vkey", say: "is not a verifier key"},
		{name: "garbage certificate", break_: garbage("qa-verifier.crt"), file: "qa-verifier.crt", say: "no PEM certificate"},
		{name: "expired", at: now.AddDate(3, 0, 0), file: "server.crt", say: "expired"},
		{name: "decryption key missing", break_: remove("seal-af.key"), file: "seal-af.key", missing: true, say: "missing seal-af.key"},
		{name: "decryption key from another PKI", break_: copyFrom(other, "seal-tr.key"), file: "agreement.envelope", say: "party tr's encryption key is not that of seal-tr.key"},
		{name: "decryption key of another party", break_: within("seal-pk.key", "seal-qa.key"), file: "agreement.envelope", say: "party qa's encryption key"},
		{name: "decryption key readable by others", break_: func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "seal-pk.key"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, file: "seal-pk.key", say: "readable by its owner only"},
		{name: "garbage decryption key", break_: garbage("seal-af.key"), file: "seal-af.key", say: "is not a decryption key"},
		{name: "node server certificate missing", break_: remove("qa-node-server.crt"), file: "qa-node-server.crt", missing: true, say: "missing qa-node-server.crt"},
		{name: "node serves with the primary's certificate", break_: within("server.crt", "tr-node-server.crt", "server.key", "tr-node-server.key"),
			file: "tr-node-server.crt", say: "authenticates clients too"},
		{name: "node serves with the primary's key", break_: primaryKeyNode("tr-node"), file: "tr-node-server.key", say: "is the primary's key"},
		{name: "node server certificate is a client's", break_: within("tr-node.crt", "tr-node-server.crt", "tr-node.key", "tr-node-server.key"),
			file: "tr-node-server.crt", say: "does not chain to ca-server.crt"},
		{name: "node server certificate from another PKI", break_: copyFrom(other, "qa-node-server.crt", "qa-node-server.key"),
			file: "qa-node-server.crt", say: "does not chain to ca-server.crt"},
	} {
		t.Run(test.name, func(t *testing.T) {
			dir := generate(t)
			if test.break_ != nil {
				test.break_(t, dir)
			}
			at := test.at
			if at.IsZero() {
				at = now
			}
			err := Check(dir, at)
			if test.file == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("Check = %v, want a *CheckError", err)
			}
			i := slices.IndexFunc(ce.Problems, func(p Problem) bool { return p.File == test.file })
			if i < 0 {
				t.Fatalf("Check: %v\ndoes not name %s", err, test.file)
			}
			if got := errors.Is(ce.Problems[i].Err, fs.ErrNotExist); got != test.missing {
				t.Errorf("problem %v: missing = %v, want %v", ce.Problems[i].Err, got, test.missing)
			}
			if !strings.Contains(err.Error(), test.say) || !strings.Contains(err.Error(), dir) {
				t.Errorf("Check: %v\nwant it to name %s and say %q", err, dir, test.say)
			}
		})
	}
}

func flipMiddleByte(name string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 1
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func garbage(name string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not this\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// breakSignature flips a bit of the second signature of the agreement,
// which still parses.
func breakSignature(t *testing.T, dir string) {
	p := filepath.Join(dir, "agreement.envelope")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	env.Signatures[1].Sig[0] ^= 1
	if b, err = proto.Marshal(env); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
