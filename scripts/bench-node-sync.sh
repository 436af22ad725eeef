#!/usr/bin/env bash
# Appends/s with `--sync-witnesses 1` against without, with a real mediator
# node as the witness, alternated, as docs/PERFORMANCE.md reports them.
# Each run: a fresh log (unsealed dev PKI, as scripts/bench.sh benches),
# the primary, the node tr-node following it (server --follow, verifying
# and storing every entry, its C2SP witness endpoint on a port the system
# picks), the primary started again pushing to it (--witness
# tr-node=https://...), with `--sync-witnesses 1` in mode sync and without
# in mode none (the node follows and witnesses in both), then `client
# bench` (64 callers, 512-byte payloads, fsync on) for DURATION. It prints
# the bench's figures, the CPU per append of the primary and of the node
# (from /proc), and the node's lag when the bench ended.
#
# Usage: scripts/bench-node-sync.sh [ROUNDS] [DURATION]
# Environment: MODES, the runs of a round in order (default "sync none");
# MVM_SERVER (127.0.0.1:7443); MVM_BIN, a directory holding server and
# client binaries to run instead of building this tree's (to alternate
# an old build with a new one); MVM_PROFILE, a directory where the
# primary and the node of each run write their CPU profiles
# (primary-MODE-ROUND.prof, node-MODE-ROUND.prof).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DURATION=${2:-10s}
ADDR=${MVM_SERVER:-127.0.0.1:7443}
DIR=$(mktemp -d /tmp/bns.XXXXXX)
PRIMARY= NODE=
stop() {
  local pid=${!1}
  [ -n "$pid" ] || return 0
  printf -v "$1" '%s' ''
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop NODE
  stop PRIMARY
  rm -rf "$DIR"
}
trap cleanup EXIT
fail() {
  printf 'bench-node-sync: %s\n' "$*" >&2
  exit 1
}

if [ -n "${MVM_BIN:-}" ]; then
  cp "$MVM_BIN/server" "$MVM_BIN/client" "$DIR/"
else
  go build -o "$DIR/" ./server ./client
fi
PROF=${MVM_PROFILE:-}
[ -z "$PROF" ] || mkdir -p "$PROF"
scripts/gen-certs.sh --unsealed "$DIR/certs" >/dev/null

# ready PIDVAR LOG COUNT: LOG holds COUNT `msg=serving` lines, within 60 s.
ready() {
  local deadline=$((SECONDS + 60)) n
  while :; do
    n=$(grep -cs 'msg=serving' "$2" || true)
    [ "${n:-0}" -ge "$3" ] && return 0
    kill -0 "${!1}" 2>/dev/null || { cat "$2" >&2; fail "$2: the process died"; }
    [ "$SECONDS" -lt "$deadline" ] || { cat "$2" >&2; fail "$2: not serving within 60 s"; }
    sleep 0.1
  done
}
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
for r in $(seq "$ROUNDS"); do
  for mode in ${MODES:-sync none}; do
    rm -rf "$DIR/data" && mkdir -p "$DIR/data"
    "$DIR/server" --listen "$ADDR" --db "$DIR/data/mvm.db" --certs "$DIR/certs" 2>"$DIR/data/primary.log" &
    PRIMARY=$!
    ready PRIMARY "$DIR/data/primary.log" 1
    nprof=() pprof=()
    if [ -n "$PROF" ]; then
      nprof=(--cpu-profile "$PROF/node-$mode-$r.prof")
      pprof=(--cpu-profile "$PROF/primary-$mode-$r.prof")
    fi
    "$DIR/server" --follow "$ADDR" --as tr-node --listen 127.0.0.1:0 --witness-listen 127.0.0.1:0 "${nprof[@]}" \
      --db "$DIR/data/tr-node.db" --certs "$DIR/certs" 2>"$DIR/data/node.log" &
    NODE=$!
    ready NODE "$DIR/data/node.log" 1
    naddr=$(sed -n 's/^.* msg=serving addr=\([^ ]*\) .*$/\1/p' "$DIR/data/node.log")
    waddr=$(sed -n 's/^.* msg="node: witness endpoint serving" addr=\([^ ]*\) .*$/\1/p' "$DIR/data/node.log")
    stop PRIMARY
    flags=(--witness "tr-node=https://$waddr")
    [ "$mode" = sync ] && flags+=(--sync-witnesses 1)
    "$DIR/server" --listen "$ADDR" --db "$DIR/data/mvm.db" --certs "$DIR/certs" "${flags[@]}" "${pprof[@]}" 2>>"$DIR/data/primary.log" &
    PRIMARY=$!
    ready PRIMARY "$DIR/data/primary.log" 2
    p0=$(cpu "$PRIMARY") n0=$(cpu "$NODE")
    json=$("$DIR/client" --server "$ADDR" --certs "$DIR/certs" bench --duration "$DURATION" --concurrency 64 --json | grep '^{')
    p1=$(cpu "$PRIMARY") n1=$(cpu "$NODE")
    status=$("$DIR/client" --server "$naddr" --certs "$DIR/certs" --as tr-verifier status || true)
    lag=$(sed -n 's/^lag: //p' <<<"$status")
    acked=$(sed 's/.*"acked":\([0-9]*\).*/\1/' <<<"$json")
    awk -v j="$json" -v p0="$p0" -v p1="$p1" -v n0="$n0" -v n1="$n1" -v tck="$tck" -v n="$acked" -v r="$r" -v mode="$mode" -v lag="$lag" 'BEGIN {
      match(j, /"appends_per_sec":[0-9.]+/); aps = substr(j, RSTART + 18, RLENGTH - 18)
      match(j, /"p50_ms":[0-9.]+/); p50 = substr(j, RSTART + 9, RLENGTH - 9)
      match(j, /"p99_ms":[0-9.]+/); p99 = substr(j, RSTART + 9, RLENGTH - 9)
      match(j, /"errors":[0-9]+/); errs = substr(j, RSTART + 9, RLENGTH - 9)
      printf "round %d, %s: %.0f appends/s  p50 %.1f ms  p99 %.1f ms  errors %d  CPU per append: primary %.0f µs, node %.0f µs  node lag at the end: %s\n",
        r, mode, aps, p50, p99, errs, (p1 - p0) / tck / n * 1e6, (n1 - n0) / tck / n * 1e6, lag
    }'
    stop NODE
    stop PRIMARY
  done
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
