// Package crashtest holds the crash-safety tests only: TestKillNine builds
// the real server binary, drives it with signed appends, SIGKILLs it at
// random moments and checks on restart that every receipt was durable
// (DESIGN.md invariant 5); TestSyncKillNine does the same under server
// --sync-witnesses 1 and checks that every receipt is on the node that
// cosigned it. It has no non-test code.
package crashtest
