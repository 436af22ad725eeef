// Package crashtest holds the crash-safety tests only: TestKillNine builds
// the real server binary, drives it with signed appends, SIGKILLs it at
// random moments and checks on restart that every receipt was durable
// (DESIGN.md invariant 5); TestSyncKillNine does the same under server
// --sync-witnesses 1 with the same binary run as the witnessing node
// (server --follow --witness-listen) and checks that every receipt's
// entry is on the node when the receipt comes back, and stays there. It
// has no non-test code.
package crashtest
