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
# Usage: scripts/bench.sh [RUNS] [DURATION] [extra `client bench` flags]
# Environment: MVM_BENCH_DIR (scratch directory, default a new temp dir,
# removed at exit), MVM_SERVER (default 127.0.0.1:7443), MVM_SERVER_FLAGS
# (more server flags, e.g. --witness NAME=URL; split on spaces).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
DURATION=${2:-10s}
shift $(( $# < 2 ? $# : 2 ))
ADDR=${MVM_SERVER:-127.0.0.1:7443}
DIR=${MVM_BENCH_DIR:-}
if [ -z "$DIR" ]; then
  DIR=$(mktemp -d)
  trap 'rm -rf "$DIR"' EXIT
fi

mkdir -p .bin
go build -o .bin/ ./server ./client
[ -f "$DIR/certs/ca-pk.crt" ] || scripts/gen-certs.sh --unsealed "$DIR/certs" >/dev/null
rm -rf "$DIR/data"

read -r -a server_flags <<<"${MVM_SERVER_FLAGS:-}"
.bin/server --listen "$ADDR" --db "$DIR/data/mvm.db" --certs "$DIR/certs" ${server_flags[@]+"${server_flags[@]}"} 2>"$DIR/server.log" &
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
  if [ "$i" -gt 1 ]; then force=(--force); fi
  s0=$(cpu)
  out=$( { /usr/bin/time -f 'client-cpu %U %S' .bin/client --server "$ADDR" --certs "$DIR/certs" \
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
    printf "run %d: %.0f appends/s  p50 %.1f ms  p99 %.1f ms  errors %d  CPU per append: server %.0f µs, client %.0f µs\n",
      i, aps, p50, p99, errs, (s1 - s0) / tck / n * 1e6, (cu + cs) / n * 1e6
  }'
done
