package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/store"
)

// describe is a page of checkpoints as "size:note[cosigner=line,...]".
func describe(cps []store.StoredCheckpoint) string {
	var parts []string
	for _, cp := range cps {
		var cs []string
		for _, c := range cp.Cosignatures {
			cs = append(cs, c.Cosigner+"="+c.Line)
		}
		parts = append(parts, fmt.Sprintf("%d:%s[%s]", cp.Size, cp.Note, strings.Join(cs, ",")))
	}
	return strings.Join(parts, " ")
}

// TestCheckpoints: a page holds the checkpoints after a size, up to
// another, with their cosignatures, bounded in count and in bytes (at
// least one); AddCheckpoints writes checkpoints between the batches, and
// refuses one beyond the log or different from the one stored.
func TestCheckpoints(t *testing.T) {
	s, _ := newStore(t)
	commit(t, s, batch(0, 2, ""))
	commit(t, s, batch(2, 3, ""))
	commit(t, s, batch(5, 1, ""))
	// Sizes 2, 5 and 6 from the batches; 1 and 4 added between them.
	if err := s.AddCheckpoints([]store.StoredCheckpoint{
		{Size: 1, Note: []byte("checkpoint 1")},
		{Size: 4, Note: []byte("checkpoint 4"), Cosignatures: []store.Cosignature{{Cosigner: "qa", Line: "q4"}, {Cosigner: "tr", Line: "t4"}}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCosignature(6, "tr", "t6"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		after, atMost      uint64
		maxCount, maxBytes int
		want               string
		more               bool
	}{
		{0, 0, 10, 1 << 20, "1:checkpoint 1[] 2:checkpoint 2[] 4:checkpoint 4[qa=q4,tr=t4] 5:checkpoint 5[] 6:checkpoint 6[tr=t6]", false},
		{0, 0, 2, 1 << 20, "1:checkpoint 1[] 2:checkpoint 2[]", true},
		{2, 0, 10, 1 << 20, "4:checkpoint 4[qa=q4,tr=t4] 5:checkpoint 5[] 6:checkpoint 6[tr=t6]", false},
		{2, 5, 10, 1 << 20, "4:checkpoint 4[qa=q4,tr=t4] 5:checkpoint 5[]", false},
		{3, 0, 10, 16, "4:checkpoint 4[qa=q4,tr=t4]", true}, // over the bytes, and still one
		// Each note (12 bytes) costs 20 with its framing, each line 2 more:
		// 1 and 2 fit in 40, 4 (12 + 8 + 2 × 4 = 28) does not; 39 holds 1 only.
		{0, 0, 10, 40, "1:checkpoint 1[] 2:checkpoint 2[]", true},
		{0, 0, 10, 39, "1:checkpoint 1[]", true},
		{3, 0, 10, 47, "4:checkpoint 4[qa=q4,tr=t4]", true},
		{3, 0, 10, 48, "4:checkpoint 4[qa=q4,tr=t4] 5:checkpoint 5[]", true},
		{6, 0, 10, 1 << 20, "", false},
	} {
		got, more, err := s.Checkpoints(tt.after, tt.atMost, tt.maxCount, tt.maxBytes)
		if err != nil || describe(got) != tt.want || more != tt.more {
			t.Errorf("Checkpoints(%d, %d, %d, %d) = %q, more %v, %v; want %q, more %v",
				tt.after, tt.atMost, tt.maxCount, tt.maxBytes, describe(got), more, err, tt.want, tt.more)
		}
	}
	for _, bad := range []store.StoredCheckpoint{
		{Size: 7, Note: []byte("checkpoint 7")},
		{Size: 4, Note: []byte("another checkpoint 4")},
	} {
		if err := s.AddCheckpoints([]store.StoredCheckpoint{{Size: 3, Note: []byte("checkpoint 3")}, bad}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("AddCheckpoints(%d %q): %v, want %v", bad.Size, bad.Note, err, store.ErrConflict)
		}
	}
	if got, _, _ := s.Checkpoints(2, 3, 10, 1<<20); len(got) != 0 {
		t.Errorf("a refused AddCheckpoints wrote %s", describe(got))
	}
}
