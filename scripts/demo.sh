#!/usr/bin/env bash
# One full exchange on the embedded defaults: generates the dev PKI if
# missing, builds, starts the server (bbolt file under data/), walks the
# workflow with the three roles, audits the whole chain as a mediator, and
# stops the server. Exits 0 only if the audit passed.
#
# Environment: MVM_CERTS (certs), MVM_DB (data/mvm.db), MVM_SERVER
# (127.0.0.1:7443).
set -euo pipefail
cd "$(dirname "$0")/.."
CERTS=${MVM_CERTS:-certs}
DB=${MVM_DB:-data/mvm.db}
ADDR=${MVM_SERVER:-127.0.0.1:7443}
export MVM_CERTS=$CERTS MVM_SERVER=$ADDR

step() { printf '\n== %s\n' "$*"; }

if [ ! -f "$CERTS/ca-pk.crt" ]; then
  step "generating the dev PKI in $CERTS"
  scripts/gen-certs.sh "$CERTS"
fi

step "building server and client into .bin/"
mkdir -p .bin "$(dirname "$DB")"
go build -o .bin/ ./server ./client
client() { .bin/client "$@"; }

LOG="$(dirname "$DB")/server.log"
step "starting the server on $ADDR (database $DB, log $LOG)"
.bin/server --listen "$ADDR" --db "$DB" --certs "$CERTS" 2>"$LOG" &
SERVER=$!
stop_server() {
  if kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM "$SERVER"
    wait "$SERVER" || true
  fi
}
trap stop_server EXIT
for _ in $(seq 100); do
  if client --as tr-verifier list >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "server failed to start:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 0.1
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

step "the packages as the mediator sees them"
client --as tr-verifier list
client --as tr-verifier show "$P1"

step "tr-verifier audits the whole chain"
if client --as tr-verifier audit; then
  step "audit passed"
else
  step "AUDIT FAILED"
  exit 1
fi
