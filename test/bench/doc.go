// Package bench compares, side by side in one run, the cost of system calls,
// whole workloads and a loopback HTTP request loop natively, under runsc-decoupled (remote sentry on a
// Unix socket with systrap, without the replay log, with ptrace, and over
// TCP loopback), and under gVisor's own runsc (in-process sentry, systrap
// and ptrace) as the reference. runsc is built from the gvisor.dev/gvisor
// version in go.mod, once, and cached in $TMPDIR (or taken from
// $RUNSC_BENCH_BINARY). BenchmarkLoaded runs some workloads beside busy
// loops, with and without do's sandbox cgroup. BenchmarkContainer compares container start
// (`run`, and `ctr run` through containerd) of runsc-decoupled, runc and
// runsc.
//
//	go test -run=NONE -bench=. -benchtime=1x ./test/bench/
//
// run.sh repeats that, interleaving rounds, and prints medians with ratios
// to runsc (benchtable). Everything here is a benchmark, so a plain
// go test (CI) of this package runs nothing.
package bench
