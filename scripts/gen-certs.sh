#!/usr/bin/env bash
# Generates the development PKI and dev agreement (see certs/README.md).
#
#   scripts/gen-certs.sh [--force] [--unsealed] [--evidence-by-digest] [--no-node-witnesses] [DIR]    # DIR defaults to certs/ of the repo
#   scripts/gen-certs.sh --issue NAME --party P [DIR]    # one extra client identity
#   scripts/gen-certs.sh --revoke NAME [DIR]             # add DIR/NAME.crt to DIR/crl-<party>.pem
#   scripts/gen-certs.sh --witness NAME VKEY [DIR]       # add an external C2SP witness to the dev agreement
#
# On a DIR that already holds a PKI, the first form writes nothing: it exits
# 0 if the PKI is complete and valid, and 1 naming each missing or invalid
# file otherwise; --force generates a new one over it.
#
# A relative DIR is taken relative to the caller's working directory.
# For development and tests only.
set -euo pipefail

caller=$PWD
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --trust-domain | -trust-domain | --log-origin | -log-origin | --issue | -issue | --party | -party | --revoke | -revoke)
      args+=("$1")
      if [ $# -gt 1 ]; then args+=("$2"); shift; fi
      ;;
    --witness | -witness)
      # NAME and VKEY are not paths.
      args+=("$1")
      if [ $# -gt 1 ]; then args+=("$2"); shift; fi
      if [ $# -gt 1 ]; then args+=("$2"); shift; fi
      ;;
    -*) args+=("$1") ;;
    /*) args+=("$1") ;;
    *) args+=("$caller/$1") ;;
  esac
  shift
done

cd "$(dirname "$0")/.."
exec go run ./internal/devpki/gencerts ${args[@]+"${args[@]}"}
