package tlog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

func TestGenerateLogKey(t *testing.T) {
	skey, vkey, err := GenerateLogKey(testOrigin)
	if err != nil {
		t.Fatalf("GenerateLogKey: %v", err)
	}
	s, v := mustSigner(t, skey), mustVerifier(t, vkey)
	if got, want := s.Name(), testOrigin; got != want {
		t.Errorf("signer name = %q, want %q", got, want)
	}
	if got, want := v.KeyHash(), s.KeyHash(); got != want {
		t.Errorf("verifier key hash = %08x, want %08x", got, want)
	}
	_, vkey2, err := GenerateLogKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if vkey2 == vkey {
		t.Errorf("two GenerateLogKey calls returned the same key %q", vkey)
	}
	for _, origin := range []string{"", "has space", "a+b", "tab\there", "ctl\x01", "nl\n", "\xff"} {
		if _, _, err := GenerateLogKey(origin); !errors.Is(err, ErrMalformed) {
			t.Errorf("GenerateLogKey(%q): got %v, want %v", origin, err, ErrMalformed)
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	f := newFixture(t, 9)
	for _, size := range []int{0, 1, 8, 9} {
		signed := f.checkpoint(t, size)
		cp, n, err := OpenCheckpoint(signed, testOrigin, f.verifier)
		if err != nil {
			t.Fatalf("OpenCheckpoint(size %d): %v", size, err)
		}
		if cp.Origin != testOrigin || cp.Size != uint64(size) || !bytes.Equal(cp.Hash, f.roots[size]) {
			t.Errorf("OpenCheckpoint: got %s/%d/%x, want %s/%d/%x", cp.Origin, cp.Size, cp.Hash, testOrigin, size, f.roots[size])
		}
		want := log.Checkpoint{Origin: testOrigin, Size: uint64(size), Hash: f.roots[size]}.Marshal()
		if got := n.Text; got != string(want) {
			t.Errorf("note text: got %q, want %q", got, want)
		}
		if got, want := len(n.Sigs), 1; got != want {
			t.Errorf("len(note.Sigs) = %d, want %d", got, want)
		}
	}
}

// signRaw signs an arbitrary note text with the fixture's log key,
// bypassing SignCheckpoint's checks.
func signRaw(t *testing.T, s note.Signer, text string) []byte {
	t.Helper()
	b, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatalf("note.Sign: %v", err)
	}
	return b
}

func TestOpenCheckpointRejects(t *testing.T) {
	f := newFixture(t, 5)
	signed := f.checkpoint(t, 5)
	body := string(log.Checkpoint{Origin: testOrigin, Size: 5, Hash: f.roots[5]}.Marshal())
	b64root := base64.StdEncoding.EncodeToString(f.roots[5])
	otherKeySameName, _ := detKey(t, testOrigin, "another log key")
	_, otherVKey := detKey(t, testOrigin, "another log key")
	_, otherNameVKey := detKey(t, "other.example/log", "log key")

	text, sig, _ := strings.Cut(string(signed), "\n\n")
	sigName, sigB64, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(sig, "— "), "\n"), " ")
	rawSig, _ := base64.StdEncoding.DecodeString(sigB64)
	badSig := text + "\n\n— " + sigName + " " + base64.StdEncoding.EncodeToString(flipBit(rawSig, 100)) + "\n"
	// Non-zero padding bits: decodes to the same signature bytes.
	loose := loosenBase64(t, sigB64)
	looseSig := text + "\n\n— " + sigName + " " + string(loose) + "\n"

	for _, tc := range []struct {
		name    string
		signed  []byte
		origin  string
		key     note.Verifier
		wantErr error
	}{
		{"wrong origin", signed, "other.example/log", f.verifier, ErrOriginMismatch},
		{"wrong key, same name", signed, testOrigin, mustVerifier(t, otherVKey), ErrInvalidSignature},
		{"wrong key, other name", signed, testOrigin, mustVerifier(t, otherNameVKey), ErrInvalidSignature},
		{"signed by another key", signRaw(t, mustSigner(t, otherKeySameName), body), testOrigin, f.verifier, ErrInvalidSignature},
		{"size changed", []byte(strings.Replace(string(signed), "\n5\n", "\n6\n", 1)), testOrigin, f.verifier, ErrInvalidSignature},
		{"root changed", []byte(strings.Replace(string(signed), b64root, base64.StdEncoding.EncodeToString(f.roots[4]), 1)), testOrigin, f.verifier, ErrInvalidSignature},
		{"origin line changed", []byte(strings.Replace(string(signed), testOrigin+"\n", "mvm.example/lo\n", 1)), "mvm.example/lo", f.verifier, ErrInvalidSignature},
		{"signature bit flipped", []byte(badSig), testOrigin, f.verifier, ErrInvalidSignature},
		{"signature with non-zero base64 padding bits", []byte(looseSig), testOrigin, f.verifier, ErrMalformed},
		{"no signature", []byte(body), testOrigin, f.verifier, ErrMalformed},
		{"empty", nil, testOrigin, f.verifier, ErrMalformed},
		{"truncated", signed[:len(signed)-1], testOrigin, f.verifier, ErrMalformed},
		{"CRLF", []byte(strings.ReplaceAll(string(signed), "\n", "\r\n")), testOrigin, f.verifier, ErrMalformed},
		{"extension line", signRaw(t, f.signer, body+"extension\n"), testOrigin, f.verifier, ErrMalformed},
		{"size with leading zero", signRaw(t, f.signer, strings.Replace(body, "\n5\n", "\n05\n", 1)), testOrigin, f.verifier, ErrMalformed},
		{"short root hash", signRaw(t, f.signer, testOrigin+"\n5\n"+base64.StdEncoding.EncodeToString(f.roots[5][:31])+"\n"), testOrigin, f.verifier, ErrMalformed},
		{"two-line body", signRaw(t, f.signer, testOrigin+"\n5\n"), testOrigin, f.verifier, ErrMalformed},
		{"nil verifier", signed, testOrigin, nil, ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp, _, err := OpenCheckpoint(tc.signed, tc.origin, tc.key)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("OpenCheckpoint: got %v, want %v", err, tc.wantErr)
			}
			if cp != nil {
				t.Errorf("OpenCheckpoint returned checkpoint %+v with error", cp)
			}
		})
	}
}

// Flipping any bit of a log-signed checkpoint makes OpenCheckpoint fail.
func TestOpenCheckpointEveryBitFlip(t *testing.T) {
	f := newFixture(t, 3)
	signed := f.checkpoint(t, 3)
	for bit := 0; bit < len(signed)*8; bit++ {
		mutated := flipBit(signed, bit)
		if cp, _, err := OpenCheckpoint(mutated, testOrigin, f.verifier); err == nil {
			t.Errorf("bit %d (byte %d %q) flipped: got checkpoint %+v, want an error", bit, bit/8, signed[bit/8], cp)
		}
	}
}

func TestSignCheckpointRejects(t *testing.T) {
	f := newFixture(t, 2)
	otherSkey, _ := detKey(t, "other.example/log", "x")
	for _, tc := range []struct {
		name    string
		signer  note.Signer
		origin  string
		root    []byte
		wantErr error
	}{
		{"key name is not the origin", mustSigner(t, otherSkey), testOrigin, f.roots[2], ErrOriginMismatch},
		{"short root", f.signer, testOrigin, f.roots[2][:31], ErrMalformed},
		{"nil root", f.signer, testOrigin, nil, ErrMalformed},
		{"bad origin", f.signer, "bad origin", f.roots[2], ErrMalformed},
		{"nil signer", nil, testOrigin, f.roots[2], ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SignCheckpoint(tc.signer, tc.origin, 2, tc.root); !errors.Is(err, tc.wantErr) {
				t.Errorf("SignCheckpoint: got %v, want %v", err, tc.wantErr)
			}
		})
	}
}
