package witness_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mvm-exchange/mvm/internal/atomicfile"
	"github.com/mvm-exchange/mvm/internal/witness"
)

// stateCheckpoint is a stand-in for a signed checkpoint of size n: the
// state stores bytes, the handler verifies them.
func stateCheckpoint(n int) []byte {
	return fmt.Appendf(nil, "example.org/log\n%d\nroot%d\n\n— example.org/log sig%d\n", n, n, n)
}

// TestFileStateLatest: Load returns what the last Save wrote, across saves
// that alternate between the two slots, and nothing before the first.
func TestFileStateLatest(t *testing.T) {
	st := witness.FileState(filepath.Join(t.TempDir(), "w.state"))
	if b, err := st.Load(); err != nil || b != nil {
		t.Fatalf("a missing file: %q, %v; want nothing", b, err)
	}
	for n := 1; n <= 5; n++ {
		if err := st.Save(stateCheckpoint(n)); err != nil {
			t.Fatal(err)
		}
		b, err := st.Load()
		if err != nil || !bytes.Equal(b, stateCheckpoint(n)) {
			t.Fatalf("after saving %d: loaded %q, %v", n, b, err)
		}
	}
}

// TestFileStateTornSlot: a save cut by a crash (its slot half written)
// leaves the checkpoint of the save before it; damage to both slots is
// an error, not an empty state.
func TestFileStateTornSlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.state")
	st := witness.FileState(path)
	for n := 1; n <= 3; n++ { // 1 in slot 0, 2 in slot 1, 3 in slot 0
		if err := st.Save(stateCheckpoint(n)); err != nil {
			t.Fatal(err)
		}
	}
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(img, stateCheckpoint(3))
	if at < 0 || at >= len(img)/2 {
		t.Fatalf("checkpoint 3 at %d of %d bytes: want it in the first slot", at, len(img))
	}
	torn := bytes.Clone(img)
	copy(torn[at+5:], "XXXX") // the write stopped partway: the old bytes after it
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Load(); err != nil || !bytes.Equal(b, stateCheckpoint(2)) {
		t.Fatalf("slot of 3 torn: loaded %q, %v; want checkpoint 2", b, err)
	}
	// The next save goes over the torn slot, not over 2.
	if err := st.Save(stateCheckpoint(4)); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Load(); err != nil || !bytes.Equal(b, stateCheckpoint(4)) {
		t.Fatalf("saved 4 after a torn slot: loaded %q, %v", b, err)
	}
	img, _ = os.ReadFile(path)
	if !bytes.Contains(img, stateCheckpoint(2)) {
		t.Errorf("saving 4 overwrote 2, the only whole checkpoint then")
	}

	// The first slot's header (4's) torn, its magic too: the second slot
	// still holds a whole checkpoint (2), and a save goes over the torn
	// one, keeping it.
	headless := bytes.Clone(img)
	copy(headless, "XXXXXXXX")
	if err := os.WriteFile(path, headless, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Load(); err != nil || !bytes.Equal(b, stateCheckpoint(2)) {
		t.Fatalf("first slot's header torn: loaded %.80q, %v; want checkpoint 2 from the second", b, err)
	}
	if err := st.Save(stateCheckpoint(5)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, stateCheckpoint(2)) || !bytes.Contains(b, stateCheckpoint(5)) {
		t.Errorf("saving 5 after a torn header replaced the file: 2 is gone")
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range img {
		if img[i] == '\n' {
			img[i] = '|' // both slots damaged
		}
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Load(); err == nil || !strings.Contains(err.Error(), "neither slot") {
		t.Fatalf("both slots damaged: loaded %q, %v; want an error", b, err)
	}
	if err := st.Save(stateCheckpoint(5)); err == nil {
		t.Error("saved over a file whose slots are both damaged")
	}
}

// TestFileStatePlainAndLarge: a file of one plain checkpoint (the earlier
// format) loads as it is and is replaced at the next save; a checkpoint
// larger than a slot is saved whole and loads back.
func TestFileStatePlainAndLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.state")
	st := witness.FileState(path)
	if err := os.WriteFile(path, stateCheckpoint(7), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Load(); err != nil || !bytes.Equal(b, stateCheckpoint(7)) {
		t.Fatalf("plain file: loaded %q, %v", b, err)
	}
	for _, cp := range [][]byte{stateCheckpoint(8), bytes.Repeat([]byte("x"), 5000), stateCheckpoint(9), stateCheckpoint(10)} {
		if err := st.Save(cp); err != nil {
			t.Fatal(err)
		}
		if b, err := st.Load(); err != nil || !bytes.Equal(b, cp) {
			t.Fatalf("saved %d bytes: loaded %d, %v", len(cp), len(b), err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, %v; want mode 0600", fi, err)
	}
}

// BenchmarkFileStateSave: a save as FileState does it (a slot overwritten
// in place, one fdatasync) against the whole file written anew and
// renamed into place (atomicfile: two fsyncs), what it did before.
//
//	go test ./internal/witness -run - -bench FileStateSave -benchtime 200x
func BenchmarkFileStateSave(b *testing.B) {
	cp := stateCheckpoint(123456)
	b.Run("slots", func(b *testing.B) {
		st := witness.FileState(filepath.Join(b.TempDir(), "w.state"))
		for b.Loop() {
			if err := st.Save(cp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rename", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "w.state")
		for b.Loop() {
			if err := atomicfile.WriteFile(path, cp, 0o600); err != nil {
				b.Fatal(err)
			}
		}
	})
}
