package dbcheck_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/mvm-exchange/mvm/internal/dbcheck"
)

func TestTmpRandomFlips(t *testing.T) {
	f := newFixture(t)
	orig, _ := os.ReadFile(f.db)
	clean, bad, errs := 0, 0, 0
	for i := range 400 {
		b := append([]byte(nil), orig...)
		for range 1 + i%3 {
			b[rand.IntN(len(b))] ^= byte(1 << rand.IntN(8))
		}
		p := "/tmp/flipcase.db"; os.Remove(p); _ = filepath.Join
		os.WriteFile(p, b, 0o600)
		rep, err := dbcheck.File(p)
		switch {
		case err != nil:
			errs++
		case rep.OK():
			clean++
		default:
			bad++
		}
	}
	t.Logf("clean %d damaged %d errors %d (file %d bytes)", clean, bad, errs, len(orig))
}
