#!/usr/bin/env bash
# Regenerates the Go code in proto/ from the .proto sources with pinned,
# locally installed buf and plugins (no remote plugins).
set -euo pipefail
source "$(dirname "$0")/tools.sh"
install_tool buf "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
install_tool protoc-gen-go "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
install_tool protoc-gen-go-grpc "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
cd "$ROOT"
buf lint
buf generate
