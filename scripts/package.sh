#!/usr/bin/env bash
# Builds the mvm-exchange .deb (server, client, hardened systemd unit, flags
# file, system user) into dist/, with nfpm at the version pinned in
# scripts/tools.sh, and lists what it holds.
#
#   scripts/package.sh [VERSION]    # default: from `git describe`, else 0.0.0~dev
#
# Environment: GOARCH (the machine's), the architecture to build for.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
install_tool nfpm "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"

# A Debian version starts with a digit; git's v1.2.3-4-gabc becomes
# 1.2.3+4.gabc, and a tree without tags 0.0.0~dev+<commit>.
version=${1:-}
if [ -z "$version" ]; then
  if described=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
    version=${described#v}
    version=${version/-/+}
    version=${version//-/.}
  elif commit=$(git rev-parse --short HEAD 2>/dev/null); then
    version=0.0.0~dev+$commit
  else
    version=0.0.0~dev
  fi
fi
if [[ ! $version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]]; then
  echo "package: version $version must start with a digit and hold only A-Z a-z 0-9 . + ~ -" >&2
  exit 2
fi
export VERSION=$version GOARCH=${GOARCH:-$(go env GOARCH)}

echo "--- building mvm-server and mvm-client $VERSION for linux/$GOARCH"
rm -rf dist/build
mkdir -p dist/build
# Static, reproducible binaries: no cgo, no local paths.
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags '-s -w' -o dist/build/mvm-server ./server
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags '-s -w' -o dist/build/mvm-client ./client

echo "--- nfpm $NFPM_VERSION"
deb=dist/mvm-exchange_${VERSION}_${GOARCH}.deb
rm -f "$deb"
nfpm package --config scripts/packaging/nfpm.yaml --packager deb --target "$deb"

if command -v dpkg-deb >/dev/null; then
  dpkg-deb --info "$deb"
  dpkg-deb --contents "$deb"
fi
if command -v systemd-analyze >/dev/null; then
  # The unit as installed, its ExecStart pointed at the binary just built
  # (verify wants the executables it names to exist).
  echo "--- systemd-analyze verify mvm-server.service"
  unit=$(mktemp -d)/mvm-server.service
  sed "s|/usr/bin/mvm-server|$PWD/dist/build/mvm-server|" scripts/packaging/mvm-server.service >"$unit"
  # It warns about unknown keys and bad values but still exits 0: any
  # output is a failure.
  verify=$(systemd-analyze verify "$unit" 2>&1) || true
  rm -r "$(dirname "$unit")"
  if [ -n "$verify" ]; then
    printf '%s\n' "$verify" >&2
    echo "package: systemd-analyze verify finds fault with scripts/packaging/mvm-server.service" >&2
    exit 1
  fi
fi
echo "wrote $deb"
