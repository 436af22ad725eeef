#!/usr/bin/env bash
# One full exchange on the embedded defaults: generates the dev PKI if
# missing, builds, starts the server (bbolt file under data/), walks the
# workflow with the three roles, audits the whole chain as a mediator, and
# stops the server. Exits 0 only if the audit passed and the server stopped
# cleanly; 3 if the server's address was already taken; 1 otherwise.
#
# Environment: MVM_CERTS (certs), MVM_DB (data/mvm.db), MVM_SERVER
# (127.0.0.1:7443), MVM_DEMO_START_TIMEOUT (seconds the server may take to
# start, 60), MVM_DEMO_REPORT (a directory: the mediator writes this
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
SERVER=
# stop_server stops the server started below and waits for it; it returns
# the server's exit status (0 after a clean graceful stop).
stop_server() {
  local pid=$SERVER status=0
  [ -n "$pid" ] || return 0
  SERVER=
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || status=$?
  return "$status"
}
cleanup() {
  stop_server || true
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

# A server already on the address would answer the readiness check below
# in place of ours.
host=${ADDR%:*} port=${ADDR##*:}
host=${host#[} host=${host%]}
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  printf 'demo: something already listens on %s: stop it, or choose another address with MVM_SERVER=127.0.0.1:PORT\n' "$ADDR" >&2
  exit 3
fi

mkdir -p "$(dirname "$DB")"
# The log is named after the database, so that demos with databases in one
# directory do not write one log.
LOG="${DB%.db}.log"
[ "$LOG" != "$DB" ] || LOG="$DB.server.log"
step "starting the server on $ADDR (database $DB, log $LOG)"
"$RUN/server" --listen "$ADDR" --db "$DB" --certs "$CERTS" 2>"$LOG" &
SERVER=$!

# Ready means: our server logged that it serves (so it, not another
# process, holds the address) and a client gets an answer over mutual TLS.
# The wait is bounded by time, not by a number of tries, so that a loaded
# machine gets the same chance as an idle one.
deadline=$((SECONDS + START_TIMEOUT))
until grep -qs 'msg=serving' "$LOG" && client --as tr-verifier list >/dev/null 2>&1; do
  if ! kill -0 "$SERVER" 2>/dev/null; then
    cat "$LOG" >&2
    if grep -qs 'address already in use' "$LOG"; then
      printf 'demo: %s is taken: stop what listens there, or choose another address with MVM_SERVER=127.0.0.1:PORT\n' "$ADDR" >&2
      exit 3
    fi
    fail "the server failed to start (its log is above, and in $LOG)"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    cat "$LOG" >&2
    fail "the server was not ready within ${START_TIMEOUT}s (raise MVM_DEMO_START_TIMEOUT on a slow machine; its log is above, and in $LOG)"
  fi
  sleep 0.2
done

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

step "stopping the server"
stop_server || fail "the server did not stop cleanly (exit status $?; its log: $LOG)"
step "audit passed"
