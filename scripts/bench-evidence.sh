#!/usr/bin/env bash
# Measures evidence transfer: one file of MVM_EVIDENCE_MB MiB (default 256)
# uploaded (`client evidence ID --file`, which hashes the file, uploads it
# and logs the submission) and downloaded (`client evidence get`, which
# verifies it), against the directory store and against versitygw on
# loopback. Prints MB/s for each and the server's RSS: idle before the
# upload, and its peak (VmHWM) during the transfers. Client and server (and
# versitygw) share the machine, so the figures are the machine's, noisy
# on a shared host.
#
# Usage: scripts/bench-evidence.sh [dir|s3]...   (default: dir s3)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
MB=${MVM_EVIDENCE_MB:-256}
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(dir s3)

RUN=$(mktemp -d "${TMPDIR:-/tmp}/mvm-bench-evidence.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT

go build -o "$RUN/" ./server ./client ./internal/devpki/gencerts
"$RUN/gencerts" "$RUN/certs" >/dev/null
export MVM_CERTS=$RUN/certs
client() { "$RUN/client" "$@"; }
port() { echo $((20000 + RANDOM % 20000)); }
kib() { awk -v k="$1" '/^'"$1"':/ {print $2}' "/proc/$2/status"; }
wait_tcp() {
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

head -c "$((MB << 20))" /dev/urandom >"$RUN/film.mp4"

for backend in "${backends[@]}"; do
  extra=()
  if [ "$backend" = s3 ]; then
    install_tool versitygw "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
    mkdir -p "$RUN/s3/evidence"
    S3=127.0.0.1:$(port)
    export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
    versitygw --access bench --secret bench-secret --port "$S3" posix "$RUN/s3" >"$RUN/versitygw.log" 2>&1 &
    PIDS+=($!)
    wait_tcp "$S3"
    extra=(--evidence-s3 "http://$S3/evidence")
  fi
  export MVM_SERVER=127.0.0.1:$(port)
  "$RUN/server" --listen "$MVM_SERVER" --db "$RUN/$backend/mvm.db" --certs "$RUN/certs" "${extra[@]}" >"$RUN/server-$backend.log" 2>&1 &
  srv=$!
  PIDS+=("$srv")
  wait_tcp "$MVM_SERVER"
  out=$(client --as pk-liaison submit --lat 1 --lon 2)
  id=${out%%$'\n'*}
  client --as af-interior ack "$id" >/dev/null
  client --as af-interior report "$id" --outcome raid >/dev/null
  idle=$(kib VmRSS "$srv")
  t0=$(date +%s.%N)
  client --as af-interior evidence "$id" --file "$RUN/film.mp4" >/dev/null
  t1=$(date +%s.%N)
  client --as tr-verifier evidence get "$id" --out "$RUN/got-$backend" >/dev/null
  t2=$(date +%s.%N)
  peak=$(kib VmHWM "$srv")
  cmp "$RUN/film.mp4" "$RUN/got-$backend/film.mp4"
  awk -v b="$backend" -v mb="$MB" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v idle="$idle" -v peak="$peak" 'BEGIN {
    printf "%s: %d MiB: upload %.1f MB/s (%.2f s), download %.1f MB/s (%.2f s); server RSS idle %.1f MB, peak %.1f MB (+%.1f MB)\n",
      b, mb, mb*1.048576/(t1-t0), t1-t0, mb*1.048576/(t2-t1), t2-t1, idle/1024, peak/1024, (peak-idle)/1024 }'
  kill "$srv"
  wait "$srv" || true
  rm -rf "$RUN/got-$backend"
done
