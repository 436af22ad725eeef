package audit

import "github.com/mvm-exchange/mvm/internal/workflow"

// SetBoundedForTest makes bounded runs keep at most cache states in
// memory and give seen every final package state. Not for parallel tests.
func SetBoundedForTest(cache int, seen func(*workflow.Package)) (restore func()) {
	oldCache, oldSeen := boundedCache, boundedSeen
	boundedCache, boundedSeen = cache, seen
	return func() { boundedCache, boundedSeen = oldCache, oldSeen }
}
