#!/bin/sh
# Runs the side-by-side benchmarks (native; runsc-decoupled do with the
# sentry on a Unix socket on systrap, systrap without replay log, ptrace,
# and on TCP loopback; gVisor's runsc on systrap and ptrace) ROUNDS times,
# one sample of every cell per round so that a burst of load from elsewhere
# hits all columns alike, then prints a Markdown table of medians with
# ratios to runsc. Needs root, Go, gcc and busybox-static (test/setup.sh);
# the first run builds runsc (a few minutes, cached in $TMPDIR afterwards).
#
#   ./test/bench/run.sh                         # 5 rounds of everything
#   ROUNDS=3 BENCH='Syscall/getppid' ./test/bench/run.sh
#
# Raw output: test/bench/out/results.txt (benchstat reads it too); table:
# test/bench/out/table.md. Extra arguments go to go test.
set -eu
cd "$(dirname "$0")/../.."
rounds=${ROUNDS:-5}
bench=${BENCH:-.}
out=test/bench/out
mkdir -p "$out"
: >"$out/results.txt"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" >>"$out/results.txt"
i=1
while [ "$i" -le "$rounds" ]; do
	load=$(uptime | sed 's/.*load average/load average/')
	echo "bench: round $i/$rounds, $load" >&2
	echo "# round $i/$rounds start: $load" >>"$out/results.txt"
	go test -run=NONE -bench="$bench" -benchtime=1x -count=1 -timeout=90m "$@" ./test/bench/ | tee -a "$out/results.txt"
	i=$((i + 1))
done
echo "# end: $(uptime | sed 's/.*load average/load average/')" >>"$out/results.txt"
go run ./test/bench/benchtable <"$out/results.txt" | tee "$out/table.md"
