#!/usr/bin/env bash
# One full exchange on the embedded defaults: generates the dev PKI if
# missing, builds, starts the server (bbolt file under data/) and both
# mediator nodes (tr-node, qa-node: server --follow, each verifying and
# copying the log and serving the C2SP witness endpoint), restarts the
# server pushing its checkpoints to them (--witness), walks the workflow
# with the three roles, audits the whole chain as a mediator, shows the
# checkpoint witnessed by both nodes, reads and audits a node's copy, and
# stops the nodes and the server. Exits 0 only if every audit passed and
# every server stopped cleanly; 3 if the server's address was already
# taken; 1 otherwise.
#
# The nodes listen on ports the system picks (127.0.0.1:0), read back from
# their logs, so they cannot collide with anything; their databases and
# logs sit beside the server's (data/mvm.tr-node.db, data/mvm.tr-node.log).
#
# Environment: MVM_CERTS (certs), MVM_DB (data/mvm.db), MVM_SERVER
# (127.0.0.1:7443), MVM_DEMO_START_TIMEOUT (seconds a server or node may
# take to start, and the nodes to copy and witness the log, 60),
# MVM_DEMO_REPORT (a directory: the mediator writes this
# month's report there and verifies it; none if unset). Relative paths are
# relative to the repository's root.
#
# Several demos may run at once in one checkout, each with its own
# MVM_SERVER and MVM_DB; they may share MVM_CERTS.
set -euo pipefail
cd "$(dirname "$0")/.."
CERTS=${MVM_CERTS:-certs}
DB=${MVM_DB:-data/mvm.db}
ADDR=${MVM_SERVER:-127.0.0.1:7443}
START_TIMEOUT=${MVM_DEMO_START_TIMEOUT:-60}
export MVM_CERTS=$CERTS MVM_SERVER=$ADDR

step() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'demo: %s\n' "$*" >&2
  exit 1
}

# The binaries go to a directory of this run's own: demos running at once
# in one checkout must not replace a binary another one is executing
# (`go build -o .bin/` rewrites it in place).
RUN=$(mktemp -d "${TMPDIR:-/tmp}/mvm-demo.XXXXXX")
SERVER= NODE_tr= NODE_qa=
# stop PIDVAR stops the process whose id the variable PIDVAR holds (the
# server or a node, started below) and waits for it; it returns its exit
# status (0 after a clean graceful stop).
stop() {
  local pid=${!1} status=0
  [ -n "$pid" ] || return 0
  printf -v "$1" '%s' ''
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || status=$?
  return "$status"
}
cleanup() {
  stop NODE_tr || true
  stop NODE_qa || true
  stop SERVER || true
  rm -rf "$RUN"
}
trap cleanup EXIT

step "building server, client and gencerts into $RUN"
go build -o "$RUN/" ./server ./client ./internal/devpki/gencerts
client() { "$RUN/client" "$@"; }

# gencerts writes a PKI into an empty directory, accepts a complete and
# valid one, and fails naming the file of a broken one. The lock keeps demos
# that share MVM_CERTS from writing two PKIs into one directory at once.
step "the dev PKI in $CERTS"
mkdir -p "$CERTS"
if command -v flock >/dev/null; then
  flock "$CERTS/.gen-certs.lock" "$RUN/gencerts" "$CERTS"
else
  "$RUN/gencerts" "$CERTS"
fi

# The nodes witness only if the agreement lists them (gen-certs does by
# default; a PKI made before it did, or with --no-node-witnesses, does not).
for node in tr-node qa-node; do
  # protojson varies its spacing between builds on purpose: match any.
  grep -Eqs "\"name\":[[:space:]]*\"$node\"" "$CERTS/agreement.txt" ||
    fail "the dev agreement in $CERTS does not list $node as a witness (a PKI made before nodes were witnesses by default, or with --no-node-witnesses): make a new one with scripts/gen-certs.sh --force $CERTS, and delete $DB and the nodes' databases beside it (its log began on the old agreement)"
done

# A server already on the address would answer the readiness check below
# in place of ours.
host=${ADDR%:*} port=${ADDR##*:}
host=${host#[} host=${host%]}
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  printf 'demo: something already listens on %s: stop it, or choose another address with MVM_SERVER=127.0.0.1:PORT\n' "$ADDR" >&2
  exit 3
fi

mkdir -p "$(dirname "$DB")"
# The logs and the nodes' databases are named after the database, so that
# demos with databases in one directory do not share them.
BASE=${DB%.db}
[ "$BASE" != "$DB" ] || BASE="$DB.server"
LOG="$BASE.log"

# ready NAME PIDVAR LOG PATTERN COUNT [CMD...]: waits until LOG holds COUNT
# lines matching PATTERN (the process, not another one, logged that it
# serves) and CMD, if given, succeeds; bounded by time, not by a number of
# tries, so that a loaded machine gets the same chance as an idle one.
# Exits 3 if the address was taken, 1 if the process died or the time ran
# out, naming the log.
ready() {
  local name=$1 pidvar=$2 log=$3 pattern=$4 count=$5 n
  shift 5
  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    n=$(grep -cs -- "$pattern" "$log" || true)
    if [ "${n:-0}" -ge "$count" ] && { [ $# -eq 0 ] || "$@" >/dev/null 2>&1; }; then
      return 0
    fi
    if ! kill -0 "${!pidvar}" 2>/dev/null; then
      cat "$log" >&2
      if grep -qs 'address already in use' "$log"; then
        printf 'demo: %s: its address is taken: stop what listens there, or choose another address with MVM_SERVER=127.0.0.1:PORT\n' "$name" >&2
        exit 3
      fi
      fail "$name failed to start (its log is above, and in $log)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      cat "$log" >&2
      fail "$name was not ready within ${START_TIMEOUT}s (raise MVM_DEMO_START_TIMEOUT on a slow machine; its log is above, and in $log)"
    fi
    sleep 0.2
  done
}

step "starting the server on $ADDR (database $DB, log $LOG)"
"$RUN/server" --listen "$ADDR" --db "$DB" --certs "$CERTS" 2>"$LOG" &
SERVER=$!
# Ready means: our server logged that it serves (so it, not another
# process, holds the address) and a client gets an answer over mutual TLS.
ready "the server" SERVER "$LOG" 'msg=serving' 1 client --as tr-verifier list

# Each mediator party's node follows the server as the party's node
# identity, on addresses the system picks; its log says which.
# The second node also compares its latest checkpoint with the first's
# (--peer): a split view between the two is proven by either.
peers=()
for party in tr qa; do
  node=$party-node
  step "starting $node: following $ADDR, verifying every entry into ${BASE}.$node.db (log ${BASE}.$node.log)"
  "$RUN/server" --follow "$ADDR" --as "$node" --listen 127.0.0.1:0 --witness-listen 127.0.0.1:0 \
    ${peers[@]+"${peers[@]}"} --db "${BASE}.$node.db" --certs "$CERTS" 2>"${BASE}.$node.log" &
  printf -v "NODE_$party" '%s' "$!"
  ready "$node" "NODE_$party" "${BASE}.$node.log" 'msg=serving' 1
  addr=$(sed -n 's/^.* msg=serving addr=\([^ ]*\) .*$/\1/p' "${BASE}.$node.log")
  waddr=$(sed -n 's/^.* msg="node: witness endpoint serving" addr=\([^ ]*\) .*$/\1/p' "${BASE}.$node.log")
  [ -n "$addr" ] && [ -n "$waddr" ] || fail "$node logged no address (its log: ${BASE}.$node.log)"
  printf -v "ADDR_$party" '%s' "$addr"
  peers+=(--peer "$addr")
  printf -v "WITNESS_$party" '%s' "$waddr"
  printf '%s serves reads on %s and the C2SP witness endpoint on https://%s\n' "$node" "$addr" "$waddr"
  # A node serves with a certificate of its own (certs/<node>-server.crt,
  # server --follow's default), never the primary's server.crt.
  cert=$(sed -n 's/^.* msg=serving .* tls_cert=\([^ ]*\).*$/\1/p' "${BASE}.$node.log")
  case $cert in
    *"$node-server.crt"*) printf '%s serves with its own TLS certificate %s\n' "$node" "$cert" ;;
    *) fail "$node serves with ${cert:-a certificate it did not log}, not its own $node-server.crt (its log: ${BASE}.$node.log)" ;;
  esac
done

# The server pushes every new checkpoint to the witnesses of its command
# line; the nodes' addresses are known only now, so it starts again with
# them (the nodes wait and resume meanwhile).
step "restarting the server, pushing its checkpoints to tr-node and qa-node (--witness NAME=https://...)"
stop SERVER || fail "the server did not stop cleanly (exit status $?; its log: $LOG)"
"$RUN/server" --listen "$ADDR" --db "$DB" --certs "$CERTS" \
  --witness "tr-node=https://$WITNESS_tr" --witness "qa-node=https://$WITNESS_qa" 2>>"$LOG" &
SERVER=$!
ready "the server" SERVER "$LOG" 'msg=serving' 2 client --as tr-verifier list

# submit prints the package id on its first line. The whole output is read
# before its first line is taken: an early-closing reader such as `head`
# would kill the client with SIGPIPE under pipefail.
first_line() { printf '%s\n' "${1%%$'\n'*}"; }
step "pk-liaison submits three target packages"
out=$(client --as pk-liaison submit --lat 34.0151 --lon 71.5249 --precision 50 --priority high \
  --group "TTP cell" --summary "compound reported by two sources")
P1=$(first_line "$out")
out=$(client --as pk-liaison submit --lat 33.9981 --lon 71.4903 --summary "weapons cache")
P2=$(first_line "$out")
out=$(client --as pk-liaison submit --lat 34.1102 --lon 71.1007 --summary "training site")
P3=$(first_line "$out")
printf 'packages: %s %s %s\n' "$P1" "$P2" "$P3"

step "af-interior acknowledges all three"
for p in "$P1" "$P2" "$P3"; do client --as af-interior ack "$p"; done

step "af-interior reports action on two"
client --as af-interior report "$P1" --outcome raid --arrested 3 --note "site searched, three detained"
client --as af-interior report "$P2" --outcome not-found --note "no cache at the coordinates"

# The evidence files go to evidence/ beside the database (server
# --evidence-dir), sealed on the client when the agreement seals bodies (the
# dev one does); the mediator's copy is checked against the logged digest,
# and decrypted and checked against the sealed plaintext digest, before it
# is written.
step "af-interior uploads a film of the raid on $P1 and logs it; tr-verifier downloads it, verified"
printf 'demo film of the raid on %s\n' "$P1" >"$RUN/raid.mp4"
client --as af-interior evidence "$P1" --file "$RUN/raid.mp4" --note "film of the raid"
client --as tr-verifier evidence list "$P1"
client --as tr-verifier evidence get "$P1" --out "$RUN/evidence"
cmp "$RUN/raid.mp4" "$RUN/evidence/raid.mp4" || fail "the downloaded evidence differs from the file uploaded"

step "the packages as the mediator sees them"
client --as tr-verifier list
client --as tr-verifier show "$P1"

step "tr-verifier audits the whole chain and every stored evidence file"
if ! client --as tr-verifier audit --evidence; then
  step "AUDIT FAILED"
  exit 1
fi

if [ -n "${MVM_DEMO_REPORT:-}" ]; then
  step "tr-verifier writes this month's report into $MVM_DEMO_REPORT; qa-verifier checks it"
  mkdir -p "$MVM_DEMO_REPORT"
  out=$(client --as tr-verifier monthly-report --out "$MVM_DEMO_REPORT")
  printf '%s\n' "$out"
  client --as qa-verifier verify-report "$(first_line "$out")"
fi

# The nodes cosign a checkpoint only once they verified and stored every
# entry up to it; the server stores their cosignatures and the nodes copy
# them. Waited for, bounded by time.
# witnessed_by_nodes SERVER: the latest checkpoint SERVER serves is the
# last one logged and carries both nodes' cosignatures, as counted by the
# client under the agreement.
witnessed_by_nodes() {
  local out
  out=$(client --server "$1" --as tr-verifier checkpoint 2>&1) || return 1
  [[ $out == *$'\n'"$SIZE"$'\n'* && $out == *"2/2 mediators, witnessed; cosigners: tr-node, qa-node"* ]]
}
out=$(client --as tr-verifier checkpoint 2>/dev/null)
SIZE=$(sed -n 2p <<<"$out")
step "waiting for both nodes to witness the checkpoint of size $SIZE, on the server and on each node"
for where in "$ADDR" "$ADDR_tr" "$ADDR_qa"; do
  deadline=$((SECONDS + START_TIMEOUT))
  until witnessed_by_nodes "$where"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the checkpoint of size $SIZE served by $where was not witnessed by both nodes within ${START_TIMEOUT}s (logs: $LOG ${BASE}.tr-node.log ${BASE}.qa-node.log)"
    sleep 0.2
  done
done

step "the checkpoint, witnessed by the nodes (their cosignature lines name them)"
client --as tr-verifier checkpoint

step "reads served by tr-node ($ADDR_tr): the packages, and qa-verifier audits qa-node's copy ($ADDR_qa)"
client --server "$ADDR_tr" --as tr-verifier list
if ! client --server "$ADDR_qa" --as qa-verifier audit; then
  step "AUDIT OF THE NODE FAILED"
  exit 1
fi

step "each node's status"
client --server "$ADDR_tr" --as tr-verifier status
client --server "$ADDR_qa" --as qa-verifier status

step "stopping the nodes and the server"
stop NODE_tr || fail "tr-node did not stop cleanly (exit status $?; its log: ${BASE}.tr-node.log)"
stop NODE_qa || fail "qa-node did not stop cleanly (exit status $?; its log: ${BASE}.qa-node.log)"
stop SERVER || fail "the server did not stop cleanly (exit status $?; its log: $LOG)"
step "audit passed"
