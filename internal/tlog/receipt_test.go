package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	fproof "github.com/transparency-dev/formats/proof"
)

func TestReceiptRoundTrip(t *testing.T) {
	const n = 21
	f := newFixture(t, n)
	for _, size := range []int{1, 2, 7, 8, n} {
		signed := f.checkpoint(t, size)
		for index := 0; index < size; index++ {
			rb := f.receipt(t, index, size)
			r, err := VerifyReceipt(rb, testOrigin, f.verifier)
			if err != nil {
				t.Fatalf("VerifyReceipt(index %d, size %d): %v", index, size, err)
			}
			wantProof, _ := InclusionProof(f.nodes, uint64(index), uint64(size))
			if r.Index != uint64(index) || !bytes.Equal(r.Leaf, f.leaves[index]) ||
				r.Checkpoint.Origin != testOrigin || r.Checkpoint.Size != uint64(size) ||
				!bytes.Equal(r.Checkpoint.Hash, f.roots[size]) || !bytes.Equal(r.SignedCheckpoint, signed) ||
				!equalHashes(r.Proof, wantProof) {
				t.Errorf("VerifyReceipt(index %d, size %d): got %+v, want index %d leaf %q size %d root %x",
					index, size, r, index, f.leaves[index], size, f.roots[size])
			}
		}
	}
}

func TestReceiptFormat(t *testing.T) {
	f := newFixture(t, 3)
	rb := f.receipt(t, 1, 3)
	p, _ := InclusionProof(f.nodes, 1, 3)
	want := "c2sp.org/tlog-proof@v1\n" +
		"extra " + base64.StdEncoding.EncodeToString(f.leaves[1]) + "\n" +
		"index 1\n" +
		base64.StdEncoding.EncodeToString(p[0]) + "\n" +
		base64.StdEncoding.EncodeToString(p[1]) + "\n" +
		"\n" + string(f.checkpoint(t, 3))
	if got := string(rb); got != want {
		t.Errorf("receipt:\ngot  %q\nwant %q", got, want)
	}
}

// Any change of a single bit, any removed byte and any inserted byte must
// make a receipt fail to verify.
func TestReceiptEveryByteChange(t *testing.T) {
	f := newFixture(t, 5)
	rb := f.receipt(t, 2, 5) // three proof hashes
	if _, err := VerifyReceipt(rb, testOrigin, f.verifier); err != nil {
		t.Fatalf("unmodified receipt: %v", err)
	}
	check := func(what string, mutated []byte) {
		t.Helper()
		if r, err := VerifyReceipt(mutated, testOrigin, f.verifier); err == nil {
			t.Errorf("%s: got receipt for index %d leaf %q, want an error", what, r.Index, r.Leaf)
		}
	}
	for bit := 0; bit < len(rb)*8; bit++ {
		check(fmt.Sprintf("bit %d of byte %d (%q) flipped", bit%8, bit/8, rb[bit/8]), flipBit(rb, bit))
	}
	for i := range rb {
		check(fmt.Sprintf("byte %d (%q) removed", i, rb[i]), append(append([]byte(nil), rb[:i]...), rb[i+1:]...))
		for _, c := range []byte{'\n', '\r', ' ', '=', 'A', '0'} {
			check(fmt.Sprintf("%q inserted at %d", c, i), append(append(append([]byte(nil), rb[:i]...), c), rb[i:]...))
		}
	}
	for _, tail := range []string{"\n", "\r\n", " ", "— x AAAA\n"} {
		check(fmt.Sprintf("%q appended", tail), append(append([]byte(nil), rb...), tail...))
	}
}

func TestVerifyReceiptRejects(t *testing.T) {
	f := newFixture(t, 5)
	rb := f.receipt(t, 2, 5)
	signed := f.checkpoint(t, 5)
	p, _ := InclusionProof(f.nodes, 2, 5)
	hashes := make([][32]byte, len(p))
	for i := range p {
		hashes[i] = [32]byte(p[i])
	}
	// marshal builds receipts with formats/proof directly, bypassing
	// NewReceipt's checks.
	marshal := func(index uint64, extra, checkpoint []byte) []byte {
		return fproof.TLogProof{Index: index, Hashes: hashes, Checkpoint: checkpoint, ExtraData: extra}.Marshal()
	}
	extraB64 := base64.StdEncoding.EncodeToString(f.leaves[2])
	_, otherVKey := detKey(t, testOrigin, "another log key")
	// A signature line from a key VerifyReceipt does not know.
	cosSkey, _, err := GenerateCosignerKey("tr")
	if err != nil {
		t.Fatal(err)
	}
	cosLine, err := Cosign(cosSkey, signed, testOrigin, f.verifier)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := AddCosignatures(signed, []string{cosLine})
	if err != nil {
		t.Fatal(err)
	}
	sigLine := string(signed[bytes.LastIndex(signed, []byte("\n\n"))+2:])

	for _, tc := range []struct {
		name    string
		receipt []byte
		origin  string
		wantErr error
	}{
		{"wrong origin", rb, "other.example/log", ErrOriginMismatch},
		{"CRLF line endings", []byte(strings.ReplaceAll(string(rb), "\n", "\r\n")), testOrigin, ErrMalformed},
		{"CRLF outside the checkpoint", []byte(strings.Replace(string(rb), "index 2\n", "index 2\r\n", 1)), testOrigin, ErrMalformed},
		{"missing final newline", rb[:len(rb)-1], testOrigin, ErrMalformed},
		{"extra with non-zero base64 padding bits", []byte(strings.Replace(string(rb), extraB64, loosenBase64(t, extraB64), 1)), testOrigin, ErrMalformed},
		{"proof hash with non-zero base64 padding bits", []byte(strings.Replace(string(rb),
			base64.StdEncoding.EncodeToString(p[0]), loosenBase64(t, base64.StdEncoding.EncodeToString(p[0])), 1)), testOrigin, ErrMalformed},
		{"index with leading zero", []byte(strings.Replace(string(rb), "index 2\n", "index 02\n", 1)), testOrigin, ErrMalformed},
		{"no extra line", marshal(2, nil, signed), testOrigin, ErrMalformed},
		{"other leaf", marshal(2, f.leaves[3], signed), testOrigin, ErrInvalidProof},
		{"other index", marshal(3, f.leaves[2], signed), testOrigin, ErrInvalidProof},
		{"index beyond size", marshal(5, f.leaves[2], signed), testOrigin, ErrOutOfRange},
		{"checkpoint of another size", marshal(2, f.leaves[2], f.checkpoint(t, 4)), testOrigin, ErrInvalidProof},
		{"checkpoint with a cosignature", marshal(2, f.leaves[2], cosigned), testOrigin, ErrMalformed},
		{"checkpoint with a duplicated log signature", marshal(2, f.leaves[2], append(append([]byte(nil), signed...), sigLine...)), testOrigin, ErrMalformed},
		{"empty", nil, testOrigin, ErrMalformed},
		{"header only", []byte("c2sp.org/tlog-proof@v1\n"), testOrigin, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if bytes.Equal(tc.receipt, rb) && tc.origin == testOrigin {
				t.Fatal("test case does not change anything")
			}
			r, err := VerifyReceipt(tc.receipt, tc.origin, f.verifier)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("VerifyReceipt: got %v, want %v", err, tc.wantErr)
			}
			if r != nil {
				t.Errorf("VerifyReceipt returned %+v with an error", r)
			}
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		if _, err := VerifyReceipt(rb, testOrigin, mustVerifier(t, otherVKey)); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("VerifyReceipt: got %v, want %v", err, ErrInvalidSignature)
		}
	})
	t.Run("nil key", func(t *testing.T) {
		if _, err := VerifyReceipt(rb, testOrigin, nil); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("VerifyReceipt: got %v, want %v", err, ErrInvalidKey)
		}
	})
}

func TestNewReceiptRejects(t *testing.T) {
	f := newFixture(t, 5)
	signed := f.checkpoint(t, 5)
	p, _ := InclusionProof(f.nodes, 2, 5)
	cosSkey, _, _ := GenerateCosignerKey("tr")
	cosLine, err := Cosign(cosSkey, signed, testOrigin, f.verifier)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, _ := AddCosignatures(signed, []string{cosLine})
	for _, tc := range []struct {
		name       string
		index      uint64
		proof      [][]byte
		checkpoint []byte
		leaf       []byte
		wantErr    error
	}{
		{"wrong leaf", 2, p, signed, f.leaves[1], ErrInvalidProof},
		{"wrong index", 3, p, signed, f.leaves[2], ErrInvalidProof},
		{"index beyond size", 5, p, signed, f.leaves[2], ErrOutOfRange},
		{"tampered proof", 2, [][]byte{p[0], flipBit(p[1], 9), p[2]}, signed, f.leaves[2], ErrInvalidProof},
		{"short proof hash", 2, [][]byte{p[0], p[1][:31], p[2]}, signed, f.leaves[2], ErrMalformed},
		{"cosigned checkpoint", 2, p, cosigned, f.leaves[2], ErrMalformed},
		{"unsigned checkpoint", 2, p, []byte(strings.SplitAfter(string(signed), "\n\n")[0]), f.leaves[2], ErrMalformed},
		{"leaf too large", 2, p, signed, make([]byte, MaxReceiptLeafSize+1), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewReceipt(tc.index, tc.proof, tc.checkpoint, tc.leaf); !errors.Is(err, tc.wantErr) {
				t.Errorf("NewReceipt: got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// formats/proof.TLogProof.Unmarshal reads lines with a bufio.Scanner and so
// cannot parse an "extra" line longer than 64 KiB. MaxReceiptLeafSize is
// exactly the largest leaf that fits; if the library lifts the limit this
// test fails and the constant can go.
func TestReceiptLeafSizeLimit(t *testing.T) {
	if got, want := MaxReceiptLeafSize, 49146; got != want {
		t.Errorf("MaxReceiptLeafSize = %d, want %d", got, want)
	}
	for _, tc := range []struct {
		size   int
		wantOK bool
	}{
		{MaxReceiptLeafSize, true},
		{MaxReceiptLeafSize + 1, false},
	} {
		leaf := bytes.Repeat([]byte{0xa5}, tc.size)
		var p fproof.TLogProof
		err := p.Unmarshal(fproof.TLogProof{Index: 0, ExtraData: leaf, Checkpoint: []byte("x\n")}.Marshal())
		if got := err == nil && bytes.Equal(p.ExtraData, leaf); got != tc.wantOK {
			t.Errorf("TLogProof round trip of a %d-byte extra: got ok=%v (err %v), want ok=%v", tc.size, got, err, tc.wantOK)
		}
	}

	// A one-leaf log whose leaf has the maximum size.
	skey, vkey := detKey(t, testOrigin, "log key")
	leaf := bytes.Repeat([]byte{0x5a}, MaxReceiptLeafSize)
	signed, err := SignCheckpoint(mustSigner(t, skey), testOrigin, 1, LeafHash(leaf))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := NewReceipt(0, nil, signed, leaf)
	if err != nil {
		t.Fatalf("NewReceipt with a %d-byte leaf: %v", len(leaf), err)
	}
	r, err := VerifyReceipt(rb, testOrigin, mustVerifier(t, vkey))
	if err != nil {
		t.Fatalf("VerifyReceipt with a %d-byte leaf: %v", len(leaf), err)
	}
	if !bytes.Equal(r.Leaf, leaf) {
		t.Errorf("VerifyReceipt leaf: got %d bytes, want %d", len(r.Leaf), len(leaf))
	}
}

func TestReceiptEmptyLeaf(t *testing.T) {
	skey, vkey := detKey(t, testOrigin, "log key")
	signed, err := SignCheckpoint(mustSigner(t, skey), testOrigin, 1, LeafHash(nil))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := NewReceipt(0, nil, signed, nil)
	if err != nil {
		t.Fatalf("NewReceipt(nil leaf): %v", err)
	}
	if !strings.Contains(string(rb), "\nextra \n") {
		t.Errorf("receipt %q has no empty extra line", rb)
	}
	r, err := VerifyReceipt(rb, testOrigin, mustVerifier(t, vkey))
	if err != nil {
		t.Fatalf("VerifyReceipt: %v", err)
	}
	if got, want := len(r.Leaf), 0; got != want {
		t.Errorf("len(Leaf) = %d, want %d", got, want)
	}
}

// The receipt encoder must write exactly what formats/proof writes, so that
// receipts stay canonical for every C2SP tlog-proof reader.
func TestMarshalTLogProofMatchesFormats(t *testing.T) {
	hash := func(i int) [sha256.Size]byte { return sha256.Sum256([]byte{byte(i)}) }
	for _, tc := range []struct {
		name   string
		index  uint64
		hashes int
		extra  []byte
		cp     []byte
	}{
		{"no extra line", 5, 2, nil, []byte("checkpoint\n")},
		{"empty extra", 0, 0, []byte{}, []byte("cp\n")},
		{"one-byte extra", 1, 1, []byte{0xff}, []byte("cp\n")},
		{"two-byte extra", 7, 3, []byte{1, 2}, nil},
		{"leaf-sized extra", 1 << 40, 40, bytes.Repeat([]byte("leaf bytes "), 120), []byte("origin\n42\nroot\n\n— sig\n")},
		{"largest index", math.MaxUint64, 64, []byte("x"), []byte("cp\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fproof.TLogProof{Index: tc.index, Checkpoint: tc.cp, ExtraData: tc.extra}
			var hashes [][]byte
			for i := range tc.hashes {
				h := hash(i)
				p.Hashes = append(p.Hashes, h)
				hashes = append(hashes, h[:])
			}
			got := marshalTLogProof(tc.index, hashes, tc.cp, tc.extra)
			if want := p.Marshal(); !bytes.Equal(got, want) {
				t.Fatalf("marshalTLogProof =\n%q\nformats/proof =\n%q", got, want)
			}
			if cap(got) != len(got) && cap(got)-len(got) > 20 {
				t.Errorf("buffer sized %d for %d bytes", cap(got), len(got))
			}
		})
	}
}
