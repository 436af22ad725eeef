package tlog

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzVerifyReceipt: VerifyReceipt never panics, and whatever it accepts is
// exactly what NewReceipt would produce from the parts it returns.
func FuzzVerifyReceipt(f *testing.F) {
	fx := newFixture(f, 5)
	good := fx.receipt(f, 2, 5)
	f.Add(good)
	f.Add(fx.receipt(f, 0, 1))
	f.Add(fx.receipt(f, 4, 5))
	f.Add([]byte(strings.ReplaceAll(string(good), "\n", "\r\n")))
	f.Add(good[:len(good)/2])
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 0\n\n"))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nextra \nindex 18446744073709551615\n\n" + string(fx.checkpoint(f, 5))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := VerifyReceipt(data, testOrigin, fx.verifier)
		if err != nil {
			if r != nil {
				t.Fatalf("VerifyReceipt returned %+v with error %v", r, err)
			}
			return
		}
		again, err := NewReceipt(r.Index, r.Proof, r.SignedCheckpoint, r.Leaf)
		if err != nil {
			t.Fatalf("NewReceipt of an accepted receipt: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted receipt %q re-encodes as %q", data, again)
		}
	})
}

// FuzzOpenCheckpoint: OpenCheckpoint never panics, and whatever it accepts
// is exactly what SignCheckpoint produces for the parsed checkpoint, plus
// signature lines.
func FuzzOpenCheckpoint(f *testing.F) {
	fx := newFixture(f, 5)
	signed := fx.checkpoint(f, 5)
	tr := cosignerFor(f, "tr")
	line, err := Cosign(tr.skey, signed, testOrigin, fx.verifier)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(fx.checkpoint(f, 0))
	f.Add([]byte(string(signed) + line))
	f.Add([]byte(string(signed) + line + line))
	f.Add([]byte(strings.Replace(string(signed), "\n5\n", "\n6\n", 1)))
	f.Add([]byte(testOrigin + "\n5\n\n\n— " + testOrigin + " AAAAAAAA\n"))
	f.Add([]byte{})
	trV := mustCosignVerifier(f, tr.vkey)
	f.Fuzz(func(t *testing.T, data []byte) {
		cp, n, err := OpenCheckpoint(data, testOrigin, fx.verifier, trV)
		if err != nil {
			if cp != nil || n != nil {
				t.Fatalf("OpenCheckpoint returned %+v, %+v with error %v", cp, n, err)
			}
			return
		}
		want, err := SignCheckpoint(fx.signer, cp.Origin, cp.Size, cp.Hash)
		if err != nil {
			t.Fatalf("SignCheckpoint of an accepted checkpoint: %v", err)
		}
		if !bytes.HasPrefix(data, want) {
			t.Fatalf("accepted checkpoint %q does not start with %q", data, want)
		}
		if len(n.Sigs) < 1 || len(n.Sigs) > 2 {
			t.Fatalf("accepted checkpoint has %d verified signatures, want 1 or 2", len(n.Sigs))
		}
	})
}
