package tlog

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

type cosigner struct{ skey, vkey string }

func newCosigner(t *testing.T, name string) cosigner {
	t.Helper()
	skey, vkey, err := GenerateCosignerKey(name)
	if err != nil {
		t.Fatalf("GenerateCosignerKey(%q): %v", name, err)
	}
	return cosigner{skey, vkey}
}

func (c cosigner) cosign(t *testing.T, f *fixture, signed []byte) string {
	t.Helper()
	line, err := Cosign(c.skey, signed, testOrigin, f.verifier)
	if err != nil {
		t.Fatalf("Cosign: %v", err)
	}
	return line
}

// forgeLine returns a syntactically valid signature line with the name and
// key hash of line but a corrupted signature.
func forgeLine(t *testing.T, line string) string {
	t.Helper()
	name, b64, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(line, "— "), "\n"), " ")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return "— " + name + " " + base64.StdEncoding.EncodeToString(flipBit(raw, len(raw)*8-1)) + "\n"
}

func TestGenerateCosignerKey(t *testing.T) {
	c := newCosigner(t, "tr")
	v, err := fnote.NewVerifierForCosignatureV1(c.vkey)
	if err != nil {
		t.Fatalf("NewVerifierForCosignatureV1(%q): %v", c.vkey, err)
	}
	s, err := fnote.NewSignerForCosignatureV1(c.skey)
	if err != nil {
		t.Fatalf("NewSignerForCosignatureV1: %v", err)
	}
	if v.Name() != "tr" || v.KeyHash() != s.KeyHash() {
		t.Errorf("verifier %s+%08x, want tr+%08x", v.Name(), v.KeyHash(), s.KeyHash())
	}
	parts := strings.SplitN(c.vkey, "+", 3) // name+hash+base64 (which may contain '+')
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		t.Errorf("vkey %q: got algorithm byte %x (len %d), want 04 (len 33)", c.vkey, raw[:1], len(raw))
	}
	for _, name := range []string{"", "a b", "a+b"} {
		if _, _, err := GenerateCosignerKey(name); !errors.Is(err, ErrMalformed) {
			t.Errorf("GenerateCosignerKey(%q): got %v, want %v", name, err, ErrMalformed)
		}
	}
}

func TestCosignAndVerify(t *testing.T) {
	f := newFixture(t, 6)
	signed := f.checkpoint(t, 6)
	tr, qa := newCosigner(t, "tr"), newCosigner(t, "qa")
	before := time.Now().Truncate(time.Second)
	line := tr.cosign(t, f, signed)
	after := time.Now()
	if !strings.HasPrefix(line, "— tr ") || !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("Cosign line = %q, want \"— tr <base64>\\n\"", line)
	}
	ts, err := VerifyCosignature(signed, line, tr.vkey)
	if err != nil {
		t.Fatalf("VerifyCosignature: %v", err)
	}
	if ts.Before(before) || ts.After(after) {
		t.Errorf("cosignature time = %v, want between %v and %v", ts, before, after)
	}
	if _, err := VerifyCosignature(signed, strings.TrimSuffix(line, "\n"), tr.vkey); err != nil {
		t.Errorf("VerifyCosignature without final newline: %v", err)
	}

	other := f.checkpoint(t, 5)
	otherLine := tr.cosign(t, f, other)
	for _, tc := range []struct {
		name    string
		signed  []byte
		line    string
		vkey    string
		wantErr error
	}{
		{"different checkpoint", other, line, tr.vkey, ErrInvalidCosignature},
		{"cosignature of a different checkpoint", signed, otherLine, tr.vkey, ErrInvalidCosignature},
		{"other cosigner's key", signed, line, qa.vkey, ErrInvalidCosignature},
		{"corrupted signature", signed, forgeLine(t, line), tr.vkey, ErrInvalidCosignature},
		{"log signature is not a cosignature", signed, string(signed[strings.LastIndex(string(signed), "\n\n")+2:]), f.vkey, ErrInvalidCosignature},
		{"two lines", signed, line + otherLine, tr.vkey, ErrMalformed},
		{"not a signature line", signed, "tr " + line[len("— tr "):], tr.vkey, ErrMalformed},
		{"non-canonical base64", signed, "— tr " + loosenBase64(t, strings.TrimSuffix(line[len("— tr "):], "\n")) + "\n", tr.vkey, ErrMalformed},
		{"empty line", signed, "", tr.vkey, ErrMalformed},
		{"bad vkey", signed, line, "tr+00000000+AAAA", ErrInvalidKey},
		{"unsigned checkpoint", []byte("x\n"), line, tr.vkey, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := VerifyCosignature(tc.signed, tc.line, tc.vkey); !errors.Is(err, tc.wantErr) {
				t.Errorf("VerifyCosignature: got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestCosignRejects(t *testing.T) {
	f := newFixture(t, 4)
	signed := f.checkpoint(t, 4)
	tr := newCosigner(t, "tr")
	_, otherVKey := detKey(t, testOrigin, "another log key")
	for _, tc := range []struct {
		name    string
		skey    string
		signed  []byte
		origin  string
		logKey  note.Verifier
		wantErr error
	}{
		{"wrong origin", tr.skey, signed, "other.example/log", f.verifier, ErrOriginMismatch},
		{"wrong log key", tr.skey, signed, testOrigin, mustVerifier(t, otherVKey), ErrInvalidSignature},
		{"tampered checkpoint", tr.skey, []byte(strings.Replace(string(signed), "\n4\n", "\n5\n", 1)), testOrigin, f.verifier, ErrInvalidSignature},
		{"bad cosigner key", "PRIVATE+KEY+tr+00000000+AAAA", signed, testOrigin, f.verifier, ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Cosign(tc.skey, tc.signed, tc.origin, tc.logKey); !errors.Is(err, tc.wantErr) {
				t.Errorf("Cosign: got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestAddCosignatures(t *testing.T) {
	f := newFixture(t, 6)
	signed := f.checkpoint(t, 6)
	tr, qa := newCosigner(t, "tr"), newCosigner(t, "qa")
	trLine, qaLine := tr.cosign(t, f, signed), qa.cosign(t, f, signed)
	logLine := string(signed[strings.LastIndex(string(signed), "\n\n")+2:])

	both, err := AddCosignatures(signed, []string{trLine, qaLine})
	if err != nil {
		t.Fatalf("AddCosignatures: %v", err)
	}
	if got, want := string(both), string(signed)+trLine+qaLine; got != want {
		t.Errorf("AddCosignatures:\ngot  %q\nwant %q", got, want)
	}
	for _, tc := range []struct {
		name  string
		base  []byte
		lines []string
		want  string
	}{
		{"same line twice", signed, []string{trLine, trLine}, string(signed) + trLine},
		{"line already present", both, []string{qaLine, trLine}, string(both)},
		{"second line from the same key", signed, []string{trLine, forgeLine(t, trLine)}, string(signed) + trLine},
		{"log key's line again", signed, []string{forgeLine(t, logLine)}, string(signed)},
		{"line without final newline", signed, []string{strings.TrimSuffix(trLine, "\n")}, string(signed) + trLine},
		{"nothing", signed, nil, string(signed)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AddCosignatures(tc.base, tc.lines)
			if err != nil {
				t.Fatalf("AddCosignatures: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("AddCosignatures:\ngot  %q\nwant %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		base  []byte
		lines []string
	}{
		{"malformed line", signed, []string{"— tr !!!\n"}},
		{"two lines in one", signed, []string{trLine + qaLine}},
		{"not a signed note", []byte("x\n"), []string{trLine}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := AddCosignatures(tc.base, tc.lines); !errors.Is(err, ErrMalformed) {
				t.Errorf("AddCosignatures: got %v, want %v", err, ErrMalformed)
			}
		})
	}

	// The cosigned checkpoint still opens with the log key alone, and with
	// the cosigners both cosignatures are verified.
	trV, _ := fnote.NewVerifierForCosignatureV1(tr.vkey)
	qaV, _ := fnote.NewVerifierForCosignatureV1(qa.vkey)
	if _, n, err := OpenCheckpoint(both, testOrigin, f.verifier); err != nil || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 2 {
		t.Errorf("OpenCheckpoint(log key only): got %v, want 1 verified and 2 unverified signatures", err)
	}
	_, n, err := OpenCheckpoint(both, testOrigin, f.verifier, trV, qaV)
	if err != nil {
		t.Fatalf("OpenCheckpoint(with cosigners): %v", err)
	}
	if got, want := len(n.Sigs), 3; got != want {
		t.Errorf("OpenCheckpoint(with cosigners): got %d verified signatures, want %d", got, want)
	}
	// And the library's own parser agrees.
	if _, _, ln, err := log.ParseCheckpoint(both, testOrigin, f.verifier, trV, qaV); err != nil || len(ln.Sigs) != 3 {
		t.Errorf("log.ParseCheckpoint: got %v, want 3 verified signatures", err)
	}
}

func TestAddCosignaturesLimit(t *testing.T) {
	f := newFixture(t, 1)
	signed := f.checkpoint(t, 1)
	var lines []string
	for i := 0; i < maxNoteSignatures; i++ { // plus the log's: one too many
		raw := make([]byte, 4+72)
		raw[3] = byte(i)
		lines = append(lines, "— c"+strings.Repeat("x", i)+" "+base64.StdEncoding.EncodeToString(raw)+"\n")
	}
	if _, err := AddCosignatures(signed, lines); !errors.Is(err, ErrTooManySignatures) {
		t.Errorf("AddCosignatures(%d lines): got %v, want %v", len(lines), err, ErrTooManySignatures)
	}
	if _, err := AddCosignatures(signed, lines[1:]); err != nil {
		t.Errorf("AddCosignatures(%d lines): got %v, want nil", len(lines)-1, err)
	}
}

func TestCountCosigners(t *testing.T) {
	f := newFixture(t, 6)
	signed := f.checkpoint(t, 6)
	other := f.checkpoint(t, 5)
	tr, qa, xx := newCosigner(t, "tr"), newCosigner(t, "qa"), newCosigner(t, "xx")
	tr2 := newCosigner(t, "tr") // a second key with the same name
	trLine, qaLine, xxLine, tr2Line := tr.cosign(t, f, signed), qa.cosign(t, f, signed), xx.cosign(t, f, signed), tr2.cosign(t, f, signed)
	mediators := []string{tr.vkey, qa.vkey}
	for _, tc := range []struct {
		name  string
		lines []string // appended verbatim, bypassing AddCosignatures
		vkeys []string
		want  int
	}{
		{"no cosignatures", nil, mediators, 0},
		{"one", []string{trLine}, mediators, 1},
		{"two", []string{trLine, qaLine}, mediators, 2},
		{"two, reverse order", []string{qaLine, trLine}, mediators, 2},
		{"duplicate line", []string{trLine, trLine}, mediators, 1},
		{"unknown key", []string{trLine, xxLine}, mediators, 1},
		{"only unknown key", []string{xxLine}, mediators, 0},
		{"invalid line from a known key", []string{forgeLine(t, qaLine)}, mediators, 0},
		{"invalid line before a valid one from the same key", []string{forgeLine(t, qaLine), trLine, qaLine}, mediators, 2},
		{"cosignature of another checkpoint", []string{tr.cosign(t, f, other)}, mediators, 0},
		{"two keys with one name", []string{trLine, tr2Line}, []string{tr.vkey, tr2.vkey, qa.vkey}, 1},
		{"duplicate vkeys", []string{trLine}, []string{tr.vkey, tr.vkey}, 1},
		{"no vkeys", []string{trLine, qaLine}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := string(signed) + strings.Join(tc.lines, "")
			got, err := CountCosigners([]byte(cp), testOrigin, f.verifier, tc.vkeys)
			if err != nil {
				t.Fatalf("CountCosigners: %v", err)
			}
			if got != tc.want {
				t.Errorf("CountCosigners: got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("wrong log key", func(t *testing.T) {
		_, otherVKey := detKey(t, testOrigin, "another log key")
		if _, err := CountCosigners([]byte(string(signed)+trLine), testOrigin, mustVerifier(t, otherVKey), mediators); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("CountCosigners: got %v, want %v", err, ErrInvalidSignature)
		}
	})
	t.Run("bad vkey", func(t *testing.T) {
		if _, err := CountCosigners(signed, testOrigin, f.verifier, []string{"nonsense"}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("CountCosigners: got %v, want %v", err, ErrInvalidKey)
		}
	})
}

// specCosignature builds a cosignature/v1 line from the C2SP
// tlog-cosignature text, independently of formats/note: the Ed25519
// signature over "cosignature/v1\ntime <T>\n" + note text, encoded as
// key hash || big-endian T || signature.
func specCosignature(t *testing.T, name, label string, signed []byte, ts uint64) (line, vkey string) {
	t.Helper()
	seed := sha256.Sum256([]byte(label))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := append([]byte{0x04}, priv.Public().(ed25519.PublicKey)...)
	h := sha256.Sum256(append([]byte(name+"\n"), pub...))
	text := string(signed[:strings.LastIndex(string(signed), "\n\n")+1])
	msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text)
	sig := append(h[:4:4], binary.BigEndian.AppendUint64(nil, ts)...)
	sig = append(sig, ed25519.Sign(priv, []byte(msg))...)
	vkey = fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(h[:4]), base64.StdEncoding.EncodeToString(pub))
	return "— " + name + " " + base64.StdEncoding.EncodeToString(sig) + "\n", vkey
}

func TestCosignatureMatchesSpec(t *testing.T) {
	f := newFixture(t, 6)
	signed := f.checkpoint(t, 6)
	const t1, t2 = 1700000000, 1700000060
	line1, vkey := specCosignature(t, "tr", "spec cosigner", signed, t1)
	line2, _ := specCosignature(t, "tr", "spec cosigner", signed, t2)
	if line1 == line2 {
		t.Fatal("test setup: the two cosignatures are identical")
	}
	for _, tc := range []struct {
		line string
		want int64
	}{{line1, t1}, {line2, t2}} {
		ts, err := VerifyCosignature(signed, tc.line, vkey)
		if err != nil {
			t.Fatalf("VerifyCosignature(spec-built line): %v", err)
		}
		if got := ts.Unix(); got != tc.want {
			t.Errorf("cosignature time: got %v, want %v", got, tc.want)
		}
	}
	// Two valid cosignatures by one key count once and verify once.
	both := []byte(string(signed) + line1 + line2)
	_, n, err := OpenCheckpoint(both, testOrigin, f.verifier, mustCosignVerifier(t, vkey))
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	if got, want := len(n.Sigs), 2; got != want {
		t.Errorf("OpenCheckpoint: got %v verified signatures, want %v (log + one per cosigner key)", got, want)
	}
	if got, err := CountCosigners(both, testOrigin, f.verifier, []string{vkey}); err != nil || got != 1 {
		t.Errorf("CountCosigners: got %v (err %v), want %v", got, err, 1)
	}
	// And a cosignature made by Cosign has the same form.
	c := cosignerFor(t, "qa")
	line, err := Cosign(c.skey, signed, testOrigin, f.verifier)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := VerifyCosignature(signed, line, c.vkey)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := specCosignature(t, "qa", "cosigner qa", signed, uint64(ts.Unix()))
	if line != want {
		t.Errorf("Cosign line: got %q, want %q", line, want)
	}
}
