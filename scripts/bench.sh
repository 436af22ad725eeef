#!/usr/bin/env bash
# End-to-end append benchmark, as docs/PERFORMANCE.md reports it: builds the
# binaries, makes a dev PKI and an empty log in a scratch directory, starts
# the server on loopback, and runs `client bench` RUNS times against it
# (64 callers, 512-byte payloads, fsync on). For each run it prints the
# bench's figures and the CPU each process spent per append (server from
# /proc, client from time(1)), which varies less between runs than
# throughput does on a shared machine.
#
# The log is fresh, so `client bench` finds only the agreement in it and
# needs no --force. Later runs pass --force: the log then holds only what
# the earlier runs wrote, and re-reading it (bench's check, some µs per
# entry) would be counted in the client's CPU per append.
#
# The client's CPU per append is given twice: the whole process (time(1):
# its start-up too, which reads the log before the clock starts) and, when
# the client reports it, the CPU it spent while the clock ran, which is
# what the load generator takes from the server on a small machine.
#
# Usage: scripts/bench.sh [RUNS] [DURATION] [extra `client bench` flags]
#        scripts/bench.sh --against REV [RUNS] [DURATION] [flags]
# --against builds REV (a commit, e.g. de79954^, from `git archive` into a
# temp dir) beside this tree and runs both, alternated, MVM_BENCH_ROUNDS
# rounds (default 2; the order swaps each round), each round one
# invocation of RUNS runs per build on a fresh log, then prints each
# build's mean appends/s and CPU per append. Both builds use this script's
# measurement, so an older build's own script does not matter (a client
# without --force is run without it).
# Environment: MVM_BENCH_DIR (scratch directory, default a new temp dir,
# removed at exit), MVM_SERVER (default 127.0.0.1:7443), MVM_SERVER_FLAGS
# (more server flags, e.g. --witness NAME=URL; split on spaces),
# MVM_BENCH_BIN (a directory holding the server and client to run instead
# of building this tree's) and MVM_BENCH_SRC (the source tree of those
# binaries, whose scripts/gen-certs.sh makes the PKI and agreement they
# understand; an older build's has no --unsealed, its agreement did not
# seal): both set by --against.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --against ]; then
  [ $# -ge 2 ] || { echo "usage: scripts/bench.sh --against REV [RUNS] [DURATION] [flags]" >&2; exit 2; }
  rev=$2
  shift 2
  base=$(git rev-parse --short "$rev^{commit}")
  head=$(git rev-parse --short HEAD)
  if ! git diff --quiet HEAD; then head="$head+changes"; fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/src" "$work/base" "$work/head"
  git archive "$base" | tar -x -C "$work/src"
  (cd "$work/src" && go build -o "$work/base/" ./server ./client)
  go build -o "$work/head/" ./server ./client
  echo "comparing $base ($rev) with $head; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for round in $(seq "${MVM_BENCH_ROUNDS:-2}"); do
    order=(base head)
    if [ $((round % 2)) -eq 0 ]; then order=(head base); fi
    for b in "${order[@]}"; do
      name=$base
      if [ "$b" = head ]; then name=$head; fi
      echo "== round $round: $name (load average $(cut -d' ' -f1-3 /proc/loadavg))"
      src=.
      if [ "$b" = base ]; then src=$work/src; fi
      MVM_BENCH_BIN="$work/$b" MVM_BENCH_SRC="$src" "$0" "$@" | tee -a "$work/$b.out"
    done
  done
  for b in base head; do
    name=$base
    if [ "$b" = head ]; then name=$head; fi
    awk -v name="$name" '/^run [0-9]+:/ {
        n++; aps += $3
        for (i = 1; i <= NF; i++) {
          if ($i == "server") s += $(i + 1)
          if ($i == "client") c += $(i + 1)
          if ($i == "(" || $i ~ /^\(/) { d += substr($i, 2); nd++ }
        }
      }
      END {
        if (!n) exit
        printf "%s: mean of %d runs: %.0f appends/s, CPU per append: server %.0f µs, client %.0f µs", name, n, aps / n, s / n, c / n
        if (nd) printf " (%.0f µs while the clock ran)", d / nd
        printf "\n"
      }' "$work/$b.out"
  done
  exit 0
fi
RUNS=${1:-3}
DURATION=${2:-10s}
shift $(( $# < 2 ? $# : 2 ))
ADDR=${MVM_SERVER:-127.0.0.1:7443}
DIR=${MVM_BENCH_DIR:-}
if [ -z "$DIR" ]; then
  DIR=$(mktemp -d)
  trap 'rm -rf "$DIR"' EXIT
fi

BIN=${MVM_BENCH_BIN:-}
if [ -z "$BIN" ]; then
  BIN=.bin
  mkdir -p .bin
  go build -o .bin/ ./server ./client
fi
# A client from before --force (an older build under --against) writes
# into any log.
has_force=false
help=$("$BIN/client" bench -h 2>&1 || true)
if grep -e '-force' >/dev/null <<<"$help"; then has_force=true; fi
SRC=${MVM_BENCH_SRC:-.}
unsealed=()
if grep -e '--unsealed' "$SRC/scripts/gen-certs.sh" >/dev/null; then unsealed=(--unsealed); fi
[ -f "$DIR/certs/ca-pk.crt" ] || (cd "$SRC" && scripts/gen-certs.sh ${unsealed[@]+"${unsealed[@]}"} "$DIR/certs" >/dev/null)
rm -rf "$DIR/data"

read -r -a server_flags <<<"${MVM_SERVER_FLAGS:-}"
"$BIN/server" --listen "$ADDR" --db "$DIR/data/mvm.db" --certs "$DIR/certs" ${server_flags[@]+"${server_flags[@]}"} 2>"$DIR/server.log" &
SERVER=$!
stop_server() {
  kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  # An if, not `[ ] && rm`: with MVM_BENCH_DIR set, the test's false
  # would be the script's exit status.
  if [ -z "${MVM_BENCH_DIR:-}" ]; then rm -rf "$DIR"; fi
}
trap stop_server EXIT
for _ in $(seq 100); do
  grep -q 'msg=serving' "$DIR/server.log" 2>/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
  sleep 0.1
done

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
for i in $(seq "$RUNS"); do
  force=()
  if [ "$i" -gt 1 ] && $has_force; then force=(--force); fi
  s0=$(cpu)
  out=$( { /usr/bin/time -f 'client-cpu %U %S' "$BIN/client" --server "$ADDR" --certs "$DIR/certs" \
    bench --duration "$DURATION" --concurrency 64 --json ${force[@]+"${force[@]}"} "$@"; } 2>&1 )
  s1=$(cpu)
  json=$(grep '^{' <<<"$out")
  read -r cu cs < <(sed -n 's/^client-cpu //p' <<<"$out")
  acked=$(sed 's/.*"acked":\([0-9]*\).*/\1/' <<<"$json")
  awk -v j="$json" -v s0="$s0" -v s1="$s1" -v tck="$tck" -v cu="$cu" -v cs="$cs" -v n="$acked" -v i="$i" 'BEGIN {
    match(j, /"appends_per_sec":[0-9.]+/); aps = substr(j, RSTART + 18, RLENGTH - 18)
    match(j, /"p50_ms":[0-9.]+/); p50 = substr(j, RSTART + 9, RLENGTH - 9)
    match(j, /"p99_ms":[0-9.]+/); p99 = substr(j, RSTART + 9, RLENGTH - 9)
    match(j, /"errors":[0-9]+/); errs = substr(j, RSTART + 9, RLENGTH - 9)
    during = ""
    if (match(j, /"client_cpu_us_per_append":[0-9.]+/)) during = sprintf(" (%.0f µs while the clock ran)", substr(j, RSTART + 27, RLENGTH - 27))
    printf "run %d: %.0f appends/s  p50 %.1f ms  p99 %.1f ms  errors %d  CPU per append: server %.0f µs, client %.0f µs%s\n",
      i, aps, p50, p99, errs, (s1 - s0) / tck / n * 1e6, (cu + cs) / n * 1e6, during
  }'
done
