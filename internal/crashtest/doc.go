// Package crashtest holds the crash-safety test only: TestKillNine builds
// the real server binary, drives it with signed appends, SIGKILLs it at
// random moments and checks on restart that every receipt was durable
// (DESIGN.md invariant 5). It has no non-test code.
package crashtest
