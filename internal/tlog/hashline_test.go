package tlog

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestDecodeHash: only the exact padded standard encoding of 32 bytes is a
// hash line; whatever Go's decoder would skip or tolerate is refused.
func TestDecodeHash(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, HashSize))
	for _, tc := range []struct {
		name, line string
		ok         bool
	}{
		{"canonical", good, true},
		{"leading CR", "\r" + good, false},
		{"LF inside", good[:10] + "\n" + good[10:], false},
		{"trailing CR", good + "\r", false},
		{"non-zero padding bits", good[:42] + "B=", false},
		{"unpadded", strings.TrimRight(good, "="), false},
		{"31 bytes", base64.StdEncoding.EncodeToString(make([]byte, 31)), false},
		{"33 bytes", base64.StdEncoding.EncodeToString(make([]byte, 33)), false},
		{"URL alphabet", good[:5] + "-" + good[6:], false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := DecodeHash(tc.line)
			if ok != tc.ok || (ok && len(h) != HashSize) {
				t.Fatalf("DecodeHash(%q) = %x, %v; want ok %v", tc.line, h, ok, tc.ok)
			}
		})
	}
}
