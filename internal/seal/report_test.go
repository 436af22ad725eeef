package seal_test

import (
	"encoding/hex"
	"testing"

	"github.com/mvm-exchange/mvm/internal/seal"
)

// TestReportSalt: the salt is a function of (package key, log origin,
// package id) alone, so every recipient computes the same one, and it
// changes with each of them, the key above all: whoever lacks the key
// cannot compute it. The vector pins the derivation (checked with an independent HKDF): two client versions
// that derived it differently would publish different digests of the same
// report.
func TestReportSalt(t *testing.T) {
	var fixed seal.PackageKey
	for i := range fixed {
		fixed[i] = byte(i)
	}
	other := mustPackageKey(t)
	const origin, id = "mvm.example/log", "0192c0de-0000-7000-8000-000000000001"
	salt := func(k seal.PackageKey, origin, id string) string {
		t.Helper()
		s, err := seal.ReportSalt(k, origin, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != seal.ReportSaltSize {
			t.Fatalf("report salt of %d bytes, want %d", len(s), seal.ReportSaltSize)
		}
		return hex.EncodeToString(s)
	}
	base := salt(fixed, origin, id)
	// HKDF-SHA256 (RFC 5869), empty salt, info "mvm-seal/v1 report-salt" 0x00
	// then origin and id each prefixed with its length; computed apart.
	const want = "8e0101106b84fcb88c1890665566d8f846e404ff919f237e3a30223d5451d122"
	if base != want {
		t.Errorf("report salt of the vector: %s, want %s", base, want)
	}
	if again := salt(fixed, origin, id); again != base {
		t.Errorf("report salt not deterministic: %s then %s", base, again)
	}
	for _, tc := range []struct {
		name       string
		key        seal.PackageKey
		origin, id string
	}{
		{"another package key", other, origin, id},
		{"another package", fixed, origin, "0192c0de-0000-7000-8000-000000000002"},
		{"another log", fixed, "mvm.example/other", id},
		{"fields moved across the boundary", fixed, origin + id[:1], id[1:]},
		{"the zero key", seal.PackageKey{}, origin, id},
	} {
		if got := salt(tc.key, tc.origin, tc.id); got == base {
			t.Errorf("%s: the same report salt %s", tc.name, got)
		}
	}
}
