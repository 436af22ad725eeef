package verify

import (
	"runtime"
	"sync"

	"github.com/mvm-exchange/mvm/internal/envelope"
)

// Parallel cuts [0, n) into at most workers contiguous parts (GOMAXPROCS
// if workers ≤ 0), calls fn on each part on its own goroutine, and waits.
func Parallel(workers, n int, fn func(lo, hi int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	per := max(1, (n+workers-1)/workers)
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += per {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, min(n, lo+per))
		}()
	}
	wg.Wait()
}

// VerifyParallel is the one parallel signature verification, of the
// verifier and of dbcheck: for items 0..n-1, on at most workers
// goroutines, prepare(i) does every check of item i but its signatures
// and returns those, and each worker verifies the signatures of its part
// as one batch (envelope.VerifyBatch: the verdicts of one-by-one
// verification at about half the cost). fail(i, err) is called, on the
// worker, for each failing signature of item i. It waits for all.
func VerifyParallel(workers, n int, prepare func(i int) []envelope.Check, fail func(i int, err error)) {
	Parallel(workers, n, func(lo, hi int) {
		var checks []envelope.Check
		var owner []int
		for i := lo; i < hi; i++ {
			for _, c := range prepare(i) {
				checks = append(checks, c)
				owner = append(owner, i)
			}
		}
		for j, err := range envelope.VerifyBatch(checks) {
			if err != nil {
				fail(owner[j], err)
			}
		}
	})
}
