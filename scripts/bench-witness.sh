#!/usr/bin/env bash
# Appends/s with a C2SP witness configured against without, alternated, as
# docs/PERFORMANCE.md reports them: a dev PKI whose agreement lists a
# litewitness (torchwood, the version scripts/tools.sh pins; its key in an
# ssh-agent of its own, on loopback), then scripts/bench.sh with
# `server --witness` to it, with `--witness` to a witness that never
# answers (a socket that is listened on and never read: python3), and
# without, ROUNDS times. Each run with the witness prints how many
# checkpoints it cosigned meanwhile. Mode sync is `--witness` to the
# litewitness with `--sync-witnesses 1` (each receipt waits for its
# cosignature).
#
# Usage: scripts/bench-witness.sh [ROUNDS] [DURATION]
# Environment: MODES, the runs of a round in order (default
# "witness hung none"; e.g. "sync none").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ROUNDS=${1:-3}
DURATION=${2:-10s}
install_tool litewitness "filippo.io/torchwood/cmd/litewitness@$TORCHWOOD_VERSION"
install_tool witnessctl "filippo.io/torchwood/cmd/witnessctl@$TORCHWOOD_VERSION"

DIR=$(mktemp -d /tmp/bw.XXXXXX)
AGENT=""
LW=""
HUNG=""
cleanup() {
  if [ -n "${KEEP_LOG:-}" ]; then cat "$DIR/run/server.log" "$DIR/lw.log" >&2 || true; fi
  if [ -n "$LW" ]; then kill "$LW" 2>/dev/null; wait "$LW" 2>/dev/null || true; fi
  if [ -n "$HUNG" ]; then kill "$HUNG" 2>/dev/null; wait "$HUNG" 2>/dev/null || true; fi
  if [ -n "$AGENT" ]; then kill "$AGENT" 2>/dev/null; wait "$AGENT" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

NAME=bench.test/litewitness
WADDR=127.0.0.1:$((20000 + RANDOM % 20000))
scripts/gen-certs.sh --unsealed "$DIR/certs" >/dev/null # bench.sh benches unsealed packages
ssh-keygen -q -t ed25519 -N "" -f "$DIR/wkey"
ssh-agent -D -a "$DIR/agent.sock" >/dev/null &
AGENT=$!
for _ in $(seq 50); do [ -S "$DIR/agent.sock" ] && break; sleep 0.1; done
SSH_AUTH_SOCK="$DIR/agent.sock" ssh-add -q "$DIR/wkey"
FP=$(ssh-keygen -l -E sha256 -f "$DIR/wkey.pub" | awk '{print $2}')
ORIGIN=$(sed 's/+.*//' "$DIR/certs/log.vkey")
# start_witness: a litewitness with a database of its own: each bench run
# begins a new log under the same key, which a witness that saw the last
# one would rightly take for a fork.
start_witness() {
  if [ -n "$LW" ]; then kill "$LW" && wait "$LW" 2>/dev/null || true; fi
  rm -f "$DIR"/lw.db*
  witnessctl add-log -db "$DIR/lw.db" -origin "$ORIGIN" 2>/dev/null
  witnessctl add-key -db "$DIR/lw.db" -origin "$ORIGIN" -key "$(cat "$DIR/certs/log.vkey")" 2>/dev/null
  litewitness -name "$NAME" -db "$DIR/lw.db" -ssh-agent "$DIR/agent.sock" -key "$FP" -listen "$WADDR" 2>"$DIR/lw.log" &
  LW=$!
  VKEY=""
  for _ in $(seq 100); do
    VKEY=$(sed -n 's/.*vkey=\([^ ]*\).*/\1/p' "$DIR/lw.log")
    [ -n "$VKEY" ] && break
    sleep 0.1
  done
  [ -n "$VKEY" ] || { cat "$DIR/lw.log" >&2; exit 1; }
  kill -USR1 "$LW" # debug level: one line per request, to count them
}
start_witness
scripts/gen-certs.sh --witness "$NAME" "$VKEY" "$DIR/certs" >/dev/null
mkdir -p "$DIR/run"
cp -r "$DIR/certs" "$DIR/run/certs"

# The hung witness: connections complete in the kernel's backlog, requests
# are never read, so each push waits for the server's 10 s timeout.
HADDR=127.0.0.1:$((20000 + RANDOM % 20000))
python3 -c 'import socket,sys,time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(1e6)' "${HADDR#*:}" &
HUNG=$!

for r in $(seq "$ROUNDS"); do
  for mode in ${MODES:-witness hung none}; do
    flags=""
    if [ "$mode" = witness ] || [ "$mode" = sync ]; then
      start_witness
      flags="--witness $NAME=http://$WADDR"
    fi
    [ "$mode" = sync ] && flags="$flags --sync-witnesses 1"
    [ "$mode" = hung ] && flags="--witness $NAME=http://$HADDR"
    out=$(MVM_BENCH_DIR="$DIR/run" MVM_SERVER_FLAGS="$flags" scripts/bench.sh 1 "$DURATION" | grep '^run ')
    pushes=""
    if [ "$mode" = witness ] || [ "$mode" = sync ]; then
      ok=$(grep 'processed add-checkpoint request' "$DIR/lw.log" | grep -vc 'error=' || true)
      refused=$(grep 'processed add-checkpoint request' "$DIR/lw.log" | grep -c 'error=' || true)
      pushes=", witness: $ok checkpoints cosigned, $refused refused"
    fi
    echo "round $r, $mode: ${out#run 1: }$pushes"
  done
done
