#!/usr/bin/env bash
# Measures evidence transfer: one file of MVM_EVIDENCE_MB MiB (default
# 1024) uploaded (`client evidence ID --file`, which reads the file once:
# seals it on a sealed exchange, hashes and uploads it in the same pass,
# and logs the submission) and
# downloaded (`client evidence get`, which verifies it, and decrypts it on
# a sealed exchange), against the directory store and against versitygw on
# loopback, on an unsealed and a sealed exchange. Each round first copies
# the same file over a raw mutual-TLS stream (internal/bench/tlscopy: the
# same certificates, 256 KiB pieces, fsync at the end, no gRPC, hashing or
# store) and prints each transfer's MB/s as a ratio of that baseline. It
# prints the server's RSS: idle before the upload, its peak (VmHWM) at the
# end of the upload and at the end of the download. Client and server (and
# versitygw) share the machine, so the figures are the machine's, noisy on
# a shared host: the load average is printed with each line.
#
# Usage: scripts/bench-evidence.sh [dir|s3]...   (default: dir s3)
#        MVM_EVIDENCE_ROUNDS=N repeats the rounds (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
MB=${MVM_EVIDENCE_MB:-1024}
ROUNDS=${MVM_EVIDENCE_ROUNDS:-1}
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(dir s3)

RUN=$(mktemp -d "${TMPDIR:-/tmp}/mvm-bench-evidence.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT

go build -o "$RUN/" ./server ./client ./internal/devpki/gencerts ./internal/bench/tlscopy
"$RUN/gencerts" "$RUN/certs-sealed" >/dev/null
"$RUN/gencerts" --unsealed "$RUN/certs-clear" >/dev/null
client() { "$RUN/client" "$@"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
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

S3=
start_versitygw() {
  [ -z "$S3" ] || return 0
  install_tool versitygw "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  mkdir -p "$RUN/s3/evidence"
  S3=127.0.0.1:$(port)
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
  versitygw --access bench --secret bench-secret --port "$S3" posix "$RUN/s3" >"$RUN/versitygw.log" 2>&1 &
  PIDS+=($!)
  wait_tcp "$S3"
}

# one BACKEND MODE: a fresh server on a fresh log, one package, the file
# uploaded and downloaded; prints MB/s, ratios to $raw_up/$raw_down, RSS.
one() {
  local backend=$1 mode=$2 extra=()
  if [ "$backend" = s3 ]; then
    start_versitygw
    extra=(--evidence-s3 "http://$S3/evidence")
  fi
  export MVM_CERTS=$RUN/certs-$mode
  export MVM_SERVER=127.0.0.1:$(port)
  rm -rf "$RUN/db-$backend-$mode"
  "$RUN/server" --listen "$MVM_SERVER" --db "$RUN/db-$backend-$mode/mvm.db" --certs "$MVM_CERTS" "${extra[@]}" >"$RUN/server-$backend-$mode.log" 2>&1 &
  local srv=$!
  PIDS+=("$srv")
  wait_tcp "$MVM_SERVER"
  local out id idle t0 t1 t2 up_peak peak l0
  out=$(client --as pk-liaison submit --lat 1 --lon 2)
  id=${out%%$'\n'*}
  client --as af-interior ack "$id" >/dev/null
  client --as af-interior report "$id" --outcome raid >/dev/null
  idle=$(kib VmRSS "$srv")
  l0=$(load)
  t0=$(date +%s.%N)
  client --as af-interior evidence "$id" --file "$RUN/film.mp4" >/dev/null
  t1=$(date +%s.%N)
  up_peak=$(kib VmHWM "$srv")
  client --as tr-verifier evidence get "$id" --out "$RUN/got" >/dev/null
  t2=$(date +%s.%N)
  peak=$(kib VmHWM "$srv")
  cmp "$RUN/film.mp4" "$RUN/got/film.mp4"
  awk -v b="$backend" -v m="$mode" -v mb="$MB" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v idle="$idle" -v up="$up_peak" -v peak="$peak" \
    -v ru="$raw_up" -v rd="$raw_down" -v l0="$l0" -v l1="$(load)" 'BEGIN {
    u = mb*1.048576/(t1-t0); d = mb*1.048576/(t2-t1)
    printf "%s %s: %d MiB: upload %.1f MB/s (%.2f s, %.2fx raw), download %.1f MB/s (%.2f s, %.2fx raw); server RSS idle %.1f MB, peak +%.1f MB after the upload, +%.1f MB after the download; load %s -> %s\n",
      b, m, mb, u, t1-t0, u/ru, d, t2-t1, d/rd, idle/1024, (up-idle)/1024, (peak-idle)/1024, l0, l1 }'
  kill "$srv"
  wait "$srv" || true
  rm -rf "$RUN/got" "$RUN/db-$backend-$mode"
  # The next run stores the same clear file again: not 'stored already'.
  if [ "$backend" = s3 ]; then find "$RUN/s3/evidence" -mindepth 1 -delete; fi
}

for round in $(seq "$ROUNDS"); do
  for backend in "${backends[@]}"; do
    for mode in clear sealed; do
      # The baseline before each transfer, so each ratio compares runs a
      # few seconds apart on a host whose load moves.
      l0=$(load)
      raw=$("$RUN/tlscopy" --certs "$RUN/certs-clear" --dir "$RUN" "$RUN/film.mp4")
      raw_up=$(awk '{print $6}' <<<"$raw")
      raw_down=$(awk '{print $11}' <<<"$raw")
      echo "round $round: $raw; load $l0 -> $(load)"
      one "$backend" "$mode"
    done
  done
done
