# Sourced by the other scripts: pinned tool versions, installed into .bin/.
# Bump a version here and nowhere else.
BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
STATICCHECK_VERSION=v0.8.2
NFPM_VERSION=v2.45.2
GRPC_HEALTH_PROBE_VERSION=v0.4.63
# filippo.io/torchwood: litewitness and witnessctl, the third-party C2SP
# witness of the interop test (internal/witness).
TORCHWOOD_VERSION=v0.6.1
# The S3 engine the evidence tests run against (Apache-2.0).
VERSITYGW_VERSION=v1.8.0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/.bin"
export PATH="$BIN:$PATH"

# install_tool NAME PACKAGE@VERSION: go install into .bin/ unless the pinned
# version is already there.
install_tool() {
  local name=$1 pkg=$2 stamp="$BIN/.$1.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg" ]; then
    return 0
  fi
  mkdir -p "$BIN"
  echo "installing $pkg" >&2
  GOBIN="$BIN" go install "$pkg"
  echo "$pkg" >"$stamp"
}
