#!/usr/bin/env bash
# A mediator node's catch-up from an empty file, as docs/PERFORMANCE.md
# reports it (issue 16). A primary serves LOG (a file from
# internal/bench/fill, made with the PKI in CERTS); a node (server --follow
# --as tr-node) starts on an empty file and is timed until its `client
# metrics say it holds TARGET entries (mvm_tree_size, asked ten times a
# second by one curl: a `client status` a poll cost ~40 ms of CPU, a
# tenth of a core taken from the node); its CPU, the primary's and the
# machine's are
# read from /proc at that moment (entries/s and µs of CPU an entry), then it
# is stopped with SIGTERM (it saves its verifier's state) and /usr/bin/time
# gives its CPU with the stop, and its peak RSS. BINDIR holds the server and
# client to run (go build -o BINDIR/ ./server ./client), so that two builds
# can be alternated. Node flags after TAG go to the node (e.g. --piece N,
# --cpu-profile FILE).
#
# Usage: scripts/bench-node-catchup.sh BINDIR LOG TARGET TAG [NODE FLAGS...]   (needs curl)
# Environment: CERTS (default certs), MVM_PRIMARY (127.0.0.1:27961),
# MVM_NODE (127.0.0.1:27962), MVM_NODE_METRICS (127.0.0.1:27963),
# MVM_PRIMARY_FLAGS (more flags for the primary, e.g. --cpu-profile FILE).
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
P=${MVM_PRIMARY:-127.0.0.1:27961} N=${MVM_NODE:-127.0.0.1:27962} M=${MVM_NODE_METRICS:-127.0.0.1:27963}
DIR=$(mktemp -d /tmp/catchup.XXXXXX)
PRIMARY= NODE=
cleanup() {
  for pid in $NODE $PRIMARY; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
status() { "$BIN/client" --server "$1" --certs "$CERTS" --as tr-verifier status 2>/dev/null | awk '/^size:/{print $2}' || true; }

"$BIN/server" --listen "$P" --db "$LOG" --certs "$CERTS" ${MVM_PRIMARY_FLAGS:-} >"$DIR/primary.log" 2>&1 &
PRIMARY=$!
for _ in $(seq 100); do [ -n "$(status "$P")" ] && break; sleep 0.2; done
[ -n "$(status "$P")" ] || { echo "the primary did not start:"; cat "$DIR/primary.log"; exit 1; } >&2

# CPU ticks: the primary's (utime+stime) and the machine's busy and idle
# (/proc/stat), so the report says what else took the cores.
pticks() { awk '{print $14 + $15}' "/proc/$PRIMARY/stat"; }
mticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat; }
load0=$(cut -d' ' -f1 /proc/loadavg)
p0=$(pticks); read -r mb0 mi0 < <(mticks)
t0=$(date +%s.%N)
/usr/bin/time -v "$BIN/server" --follow "$P" --as tr-node --listen "$N" --db "$DIR/node.db" --certs "$CERTS" --metrics "$M" "$@" \
  >"$DIR/node.log" 2>"$DIR/node.err" &
NODE=$!
npid=
for _ in $(seq 50); do npid=$(pgrep -P "$NODE" || true); [ -n "$npid" ] && break; sleep 0.1; done
[ -n "$npid" ] || { echo "the node did not start"; exit 1; } >&2
# One curl asks ten times a second and one awk picks the size from its
# answers (a process a poll would take CPU from the node); they are ended
# once the node holds TARGET entries, or by a watcher if the node stops.
# The URL names this run's temporary directory: pkill ends this curl only.
RUN=${DIR##*/}
poll() { pkill -f "$M/metrics[?]run=$RUN&poll" || true; }
( while kill -0 "$npid" 2>/dev/null; do sleep 1; done; poll ) &
WATCH=$!
exec {sizes}< <(curl -sN --rate 10/s "http://$M/metrics?run=$RUN&poll=[1-9000]" 2>/dev/null |
  awk '/^mvm_tree_size /{ printf "%d\n", $2; fflush() }')
s=0
while read -r -u "$sizes" s && [ "$s" -lt "$TARGET" ]; do :; done
poll
exec {sizes}<&-
kill "$WATCH" 2>/dev/null || true
[ "${s:-0}" -ge "$TARGET" ] || { echo "the node stopped or did not catch up in 15 minutes:"; tail "$DIR/node.err"; exit 1; } >&2
t1=$(date +%s.%N)
read -r ut st < <(awk '{print $14, $15}' "/proc/$npid/stat")
p1=$(pticks); read -r mb1 mi1 < <(mticks)
kill -TERM "$npid"
wait "$NODE" || true
NODE=
load1=$(cut -d' ' -f1 /proc/loadavg)
awk -v tag="$TAG" -v s="$s" -v t0="$t0" -v t1="$t1" -v ut="$ut" -v st="$st" -v tk="$(getconf CLK_TCK)" \
  -v l0="$load0" -v l1="$load1" -v pc=$((p1 - p0)) -v mb=$((mb1 - mb0)) -v mi=$((mi1 - mi0)) -F': ' '
  /User time/ {u = $2} /System time/ {sy = $2} /Maximum resident/ {rss = $2}
  END {
    w = t1 - t0; c = (ut + st) / tk
    printf "%s: %d entries in %.2f s = %.0f entries/s; node CPU at catch-up %.2f s (%.1f µs/entry); primary %.2f s (%.1f µs/entry); machine busy %.0f%% (%.2f s, of which %.2f s neither process); with the stop %.2f user + %.2f sys; peak RSS %d MB; load %s -> %s\n",
      tag, s, w, s / w, c, c / s * 1e6, pc / tk, pc / tk / s * 1e6, 100 * mb / (mb + mi), mb / tk, (mb - pc) / tk - c, u, sy, rss / 1024, l0, l1
  }' "$DIR/node.err"
