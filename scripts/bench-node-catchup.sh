#!/usr/bin/env bash
# A mediator node's catch-up from an empty file, as docs/PERFORMANCE.md
# reports it (issue 16). A primary serves LOG (a file from
# internal/bench/fill, made with the PKI in CERTS); a node (server --follow
# --as tr-node) starts on an empty file and is timed until its `client
# status` says it holds TARGET entries (polled every 0.25 s); its CPU is
# read from /proc at that moment (entries/s and µs of CPU an entry), then it
# is stopped with SIGTERM (it saves its verifier's state) and /usr/bin/time
# gives its CPU with the stop, and its peak RSS. BINDIR holds the server and
# client to run (go build -o BINDIR/ ./server ./client), so that two builds
# can be alternated. Node flags after TAG go to the node (e.g. --piece N,
# --cpu-profile FILE).
#
# Usage: scripts/bench-node-catchup.sh BINDIR LOG TARGET TAG [NODE FLAGS...]
# Environment: CERTS (default certs), MVM_PRIMARY (127.0.0.1:27961),
# MVM_NODE (127.0.0.1:27962).
#
#   scripts/gen-certs.sh --unsealed /tmp/cu/certs
#   go run ./internal/bench/fill --certs /tmp/cu/certs --db /tmp/cu/log.db --n 200000
#   go build -o /tmp/cu/new/ ./server ./client
#   CERTS=/tmp/cu/certs scripts/bench-node-catchup.sh /tmp/cu/new /tmp/cu/log.db 200001 new
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,/^set/p' "$0" | sed '$d'; exit 2; }
BIN=$1 LOG=$2 TARGET=$3 TAG=$4
shift 4
CERTS=${CERTS:-certs}
P=${MVM_PRIMARY:-127.0.0.1:27961} N=${MVM_NODE:-127.0.0.1:27962}
DIR=$(mktemp -d /tmp/catchup.XXXXXX)
PRIMARY= NODE=
cleanup() {
  for pid in $NODE $PRIMARY; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
status() { "$BIN/client" --server "$1" --certs "$CERTS" --as tr-verifier status 2>/dev/null | awk '/^size:/{print $2}' || true; }

"$BIN/server" --listen "$P" --db "$LOG" --certs "$CERTS" >"$DIR/primary.log" 2>&1 &
PRIMARY=$!
for _ in $(seq 100); do [ -n "$(status "$P")" ] && break; sleep 0.2; done
[ -n "$(status "$P")" ] || { echo "the primary did not start:"; cat "$DIR/primary.log"; exit 1; } >&2

load0=$(cut -d' ' -f1 /proc/loadavg)
t0=$(date +%s.%N)
/usr/bin/time -v "$BIN/server" --follow "$P" --as tr-node --listen "$N" --db "$DIR/node.db" --certs "$CERTS" "$@" \
  >"$DIR/node.log" 2>"$DIR/node.err" &
NODE=$!
npid=
for _ in $(seq 50); do npid=$(pgrep -P "$NODE" || true); [ -n "$npid" ] && break; sleep 0.1; done
[ -n "$npid" ] || { echo "the node did not start"; exit 1; } >&2
while :; do
  s=$(status "$N")
  [ -n "$s" ] && [ "$s" -ge "$TARGET" ] && break
  kill -0 "$npid" 2>/dev/null || { echo "the node stopped:"; tail "$DIR/node.err"; exit 1; } >&2
  sleep 0.25
done
t1=$(date +%s.%N)
read -r ut st < <(awk '{print $14, $15}' "/proc/$npid/stat")
kill -TERM "$npid"
wait "$NODE" || true
NODE=
load1=$(cut -d' ' -f1 /proc/loadavg)
awk -v tag="$TAG" -v s="$s" -v t0="$t0" -v t1="$t1" -v ut="$ut" -v st="$st" -v tk="$(getconf CLK_TCK)" \
  -v l0="$load0" -v l1="$load1" -F': ' '
  /User time/ {u = $2} /System time/ {sy = $2} /Maximum resident/ {rss = $2}
  END {
    w = t1 - t0; c = (ut + st) / tk
    printf "%s: %d entries in %.2f s = %.0f entries/s; node CPU at catch-up %.2f s (%.1f µs/entry); with the stop %.2f user + %.2f sys; peak RSS %d MB; load %s -> %s\n",
      tag, s, w, s / w, c, c / s * 1e6, u, sy, rss / 1024, l0, l1
  }' "$DIR/node.err"
