package seal

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// ReportSaltSize is the size of a package's report salt.
const ReportSaltSize = 32

// ReportSalt returns the salt a monthly report carries next to a sealed
// package's opened coordinates: HKDF-SHA256 of the package key, with no
// salt of its own, over the log origin and package id (a label apart from
// the body keys'). It is deterministic, so every holder of the package key
// (its author and recipients) computes the same one, and two mediators
// computing the same report write the same bytes and publish the same
// digest; whoever lacks the key cannot compute it, so a published digest
// is no test of guessed coordinates.
func ReportSalt(key PackageKey, logOrigin, packageID string) ([]byte, error) {
	salt, err := hkdf.Key(sha256.New, key[:], nil, string(context("mvm-seal/v1 report-salt", logOrigin, packageID)), ReportSaltSize)
	if err != nil {
		return nil, fmt.Errorf("seal: deriving the report salt of package %s: %w", packageID, err)
	}
	return salt, nil
}
