#!/usr/bin/env bash
# Sealed against plaintext appends, as docs/PERFORMANCE.md reports them
# (issue 15): two servers on loopback, one under a sealing dev agreement
# (gen-certs' default), one under the same agreement unsealed
# (gen-certs --unsealed), each on a fresh log, fsync on. Each round runs
# `client bench` on both, alternating which goes first, so that a busy
# spell of the shared host falls on both alike:
#   - messages on existing packages: --mix ack=1,report=1,rfi=2 (the
#     responder's acknowledgement, two requests and the report, on packages
#     submitted before the clock starts, --packages N);
#   - new target packages: --mix package=1 (sealed: wrapped for the four
#     parties on the client, through its channel keys).
# Each line gives appends/s, p50/p99, the CPU per append of the client
# (bench's own getrusage over the timed part) and of the server (/proc,
# per entry logged over the timed part: from the client's "the clock
# starts" for messages, the pool's packages left out; over the whole run
# for packages; it is the cost clients on other machines would meet), and
# the load average when it ended.
#
# Usage: scripts/bench-sealed.sh [ROUNDS] [DURATION] [PACKAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DURATION=${2:-10s}
PACKAGES=${3:-8000}
DIR=$(mktemp -d)
mkdir -p .bin
go build -o .bin/ ./server ./client
scripts/gen-certs.sh "$DIR/sealed/certs" >/dev/null
scripts/gen-certs.sh --unsealed "$DIR/plain/certs" >/dev/null

declare -A ADDR=([sealed]=127.0.0.1:7461 [plain]=127.0.0.1:7462)
declare -A SERVER=()
PIDS=()
cleanup() {
  for p in ${PIDS[@]+"${PIDS[@]}"}; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
for m in sealed plain; do
  .bin/server --listen "${ADDR[$m]}" --db "$DIR/$m/data/mvm.db" --certs "$DIR/$m/certs" 2>"$DIR/$m/server.log" &
  PIDS+=($!)
  SERVER[$m]=$!
  for _ in $(seq 100); do
    grep -q 'msg=serving' "$DIR/$m/server.log" 2>/dev/null && break
    sleep 0.1
  done
done

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
run() { # mode mix [flags]
  local m=$1 mix=$2
  shift 2
  local json s0 s1 pool=0 cpid
  if [ "$mix" != package=1 ]; then pool=$PACKAGES; fi
  s0=$(awk '{print $14 + $15}' "/proc/${SERVER[$m]}/stat")
  .bin/client --server "${ADDR[$m]}" --certs "$DIR/$m/certs" --as pk-liaison bench --force \
    --duration "$DURATION" --concurrency 64 --mix "$mix" --json "$@" >"$DIR/bench.out" 2>"$DIR/bench.err" &
  cpid=$!
  if [ "$pool" -gt 0 ]; then
    # The server's CPU from when the pool is in: what the messages cost it.
    while kill -0 "$cpid" 2>/dev/null && ! grep -q 'the clock starts' "$DIR/bench.err"; do sleep 0.02; done
    if grep -q 'the clock starts' "$DIR/bench.err"; then
      s0=$(awk '{print $14 + $15}' "/proc/${SERVER[$m]}/stat")
      pool=0
    fi
  fi
  wait "$cpid" || { cat "$DIR/bench.err" >&2; return 1; }
  json=$(grep '^{' "$DIR/bench.out")
  s1=$(awk '{print $14 + $15}' "/proc/${SERVER[$m]}/stat")
  awk -v j="$json" -v scpu="$(( s1 - s0 ))" -v tck="$(getconf CLK_TCK)" -v pool="$pool" -v m="$m" -v mix="$mix" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
    match(j, /"appends_per_sec":[0-9.]+/); aps = substr(j, RSTART + 18, RLENGTH - 18)
    match(j, /"p50_ms":[0-9.]+/); p50 = substr(j, RSTART + 9, RLENGTH - 9)
    match(j, /"p99_ms":[0-9.]+/); p99 = substr(j, RSTART + 9, RLENGTH - 9)
    match(j, /"errors":[0-9]+/); errs = substr(j, RSTART + 9, RLENGTH - 9)
    match(j, /"client_cpu_us_per_append":[0-9.]+/); cpu = substr(j, RSTART + 27, RLENGTH - 27)
    match(j, /"acked":[0-9]+/); n = substr(j, RSTART + 8, RLENGTH - 8)
    ex = (j ~ /pool_exhausted/) ? "  POOL EXHAUSTED" : ""
    printf "%-6s %-24s %6.0f appends/s  p50 %6.1f ms  p99 %6.1f ms  errors %s  CPU µs/append: client %4.0f, server %4.0f  load %s%s\n",
      m, mix, aps, p50, p99, errs, cpu, scpu / tck / (n + pool) * 1e6, load, ex
  }'
}
for i in $(seq "$ROUNDS"); do
  order=(plain sealed)
  if [ $((i % 2)) -eq 0 ]; then order=(sealed plain); fi
  for m in "${order[@]}"; do run "$m" ack=1,report=1,rfi=2 --packages "$PACKAGES"; done
  for m in "${order[@]}"; do run "$m" package=1; done
done
