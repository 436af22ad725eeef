package report_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mvm-exchange/mvm/internal/report"
	mvmv1 "github.com/mvm-exchange/mvm/proto/mvm/v1"
)

// sealedStory is story with p3 sealed and opened by the reader (its salt
// given) and p1 sealed to others (its header only, no salt).
func sealedStory(t *testing.T, salt []byte) []report.Entry {
	entries := story(t)
	header := func(i int) *mvmv1.TargetPackage {
		full := entries[i].Payload.(*mvmv1.TargetPackage)
		h := proto.Clone(full).(*mvmv1.TargetPackage)
		h.Locations, h.Summary = nil, ""
		return h
	}
	p3, p1 := 1, 4
	entries[p3].Opened, entries[p3].Payload, entries[p3].Salt = entries[p3].Payload, header(p3), salt
	entries[p1].Payload = header(p1)
	return entries
}

// TestSealedRowSalt: a row whose sealed package the reader opened carries
// the salt it was given, in hex, next to its locations; a row the reader
// could not open carries neither; the JSON round-trips and Diff names a
// salt that differs.
func TestSealedRowSalt(t *testing.T) {
	salt := bytes.Repeat([]byte{0x5a, 0x17}, 16)
	r := build(t, sealedStory(t, salt), "2026-11")
	rows := map[string]report.PackageRow{}
	for _, p := range r.Packages {
		rows[p.ID] = p
	}
	if p := rows["p3"]; p.Salt != hex.EncodeToString(salt) || len(p.Locations) != 1 {
		t.Errorf("p3 (opened): salt %q, %d locations; want %x and 1", p.Salt, len(p.Locations), salt)
	}
	if p := rows["p1"]; p.Salt != "" || len(p.Locations) != 0 {
		t.Errorf("p1 (not opened): salt %q, %d locations; want neither", p.Salt, len(p.Locations))
	}
	b, err := report.JSON(r)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"salt": "`+hex.EncodeToString(salt)+`"`); n != 1 || strings.Count(string(b), `"salt"`) != 1 {
		t.Errorf("JSON holds the salt %d times, want once (p3's row only):\n%s", n, b)
	}
	back, err := report.ParseJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := report.Diff(back, r); len(d) != 0 {
		t.Errorf("Diff after a round trip: %v", d)
	}
	other := build(t, sealedStory(t, bytes.Repeat([]byte{1}, 32)), "2026-11")
	if d := report.Diff(other, r); len(d) != 1 || !strings.Contains(d[0], ".salt: ") {
		t.Errorf("Diff of another salt: %q, want one difference in a salt", d)
	}
}

// TestSaltRefusals: an opened target package without its salt would put
// coordinates in the JSON with nothing to keep a published digest from
// testing guesses of them; a salt without an opened package is a caller's
// mix-up. Both are refused.
func TestSaltRefusals(t *testing.T) {
	for _, test := range []struct {
		name string
		edit func(e *report.Entry)
		want string
	}{
		{"opened without its salt", func(e *report.Entry) { e.Salt = nil }, "is opened without its report salt"},
		{"a salt, not opened", func(e *report.Entry) { e.Opened = nil }, "has a report salt but is not opened"},
	} {
		t.Run(test.name, func(t *testing.T) {
			entries := sealedStory(t, bytes.Repeat([]byte{7}, 32))
			test.edit(&entries[1])
			m, _ := report.ParseMonth("2026-11")
			b := report.NewBuilder(m)
			var err error
			for _, e := range entries {
				if err = b.Add(e); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), test.want) {
				t.Errorf("got %v, want an error containing %q", err, test.want)
			}
		})
	}
}
