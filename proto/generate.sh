#!/bin/sh
# Regenerates the Go code for proto/*.proto into OUT (default: proto/).
# The plugins are the versions pinned by go.mod's tool directives; protoc is
# Debian's protobuf-compiler.
set -eu
cd "$(dirname "$0")/.."
out="${1:-proto}"
gen_go="$(go tool -n protoc-gen-go)"
gen_grpc="$(go tool -n protoc-gen-go-grpc)"
protoc -I proto \
  --plugin=protoc-gen-go="$gen_go" --plugin=protoc-gen-go-grpc="$gen_grpc" \
  --go_out="$out" --go_opt=module=github.com/runsc-decoupled/runsc-decoupled/proto \
  --go-grpc_out="$out" --go-grpc_opt=module=github.com/runsc-decoupled/runsc-decoupled/proto \
  proto/sentry.proto proto/gofer.proto
