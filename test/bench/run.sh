#!/bin/sh
# Runs the side-by-side benchmarks (native, embedded sentry over a Unix
# socket, external sentry over TCP loopback) and writes the results to
# test/bench/out/results.txt. Needs root. Extra arguments go to go test,
# e.g. ./test/bench/run.sh -bench=Syscall -benchtime=5x
set -eu
cd "$(dirname "$0")/../.."
mkdir -p test/bench/out
go test -run=NONE -bench=. -benchtime=3x -timeout=60m "$@" ./test/bench/ | tee test/bench/out/results.txt
