// Package demotest runs the repository's scripts the way a developer and
// CI do, and the packaging's systemd unit; it holds nothing else.
//
// TestDemo runs scripts/demo.sh several times at once, each in its own
// scratch directory with its own loopback port, and requires each to exit 0
// having printed "audit: OK", audited its own log only, written the server
// log it names, stopped its server and removed its build directory. It is
// skipped with -short.
//
// TestLintPipes checks scripts/lint-pipes.sh, the CI lint that keeps
// early-closing readers (`| head`, `| grep -q`) out of the scripts: it
// flags each of them, passes their safe look-alikes, and passes the
// repository's own scripts.
//
// TestUnitHardening and TestUnitStartsServer check the packaged systemd
// unit: it keeps its hardening, and its ExecStart with the flags file's
// flags starts a server that reloads on ExecReload's SIGHUP and stops
// cleanly on SIGTERM (and, where systemd-analyze exists, it verifies).
package demotest
