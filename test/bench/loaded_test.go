package bench

import (
	"os/exec"
	"runtime"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// BenchmarkLoaded times some of BenchmarkWorkload's rows on a busy host:
// one busy loop more than there are CPUs runs beside every cell (a
// tenant's CPU-bound work). Its columns: native, do as in sandbox-unix,
// the same without its sandbox cgroup (do --cgroup=false: each of the
// sandbox's host threads scheduled on its own), and runsc on systrap
// (docs/BENCHMARKS.md, History "cgroup59").
func BenchmarkLoaded(b *testing.B) {
	tu.RequireRoot(b)
	dir := b.TempDir()
	rows := map[string]bool{"make": true, "find": true, "findfts": true}
	var ws []workload
	for _, w := range workloads(b, dir) {
		if rows[w.name] {
			ws = append(ws, w)
		}
	}
	var ms []mode
	for _, m := range modes(b, dir) {
		switch m.name {
		case "native", "runsc-systrap":
			ms = append(ms, m)
		case "sandbox-unix":
			ms = append(ms, m, withDoFlags(m, "sandbox-unix-nocgroup", "--cgroup=false"))
		}
	}
	startBusyLoops(b, runtime.NumCPU()+1)
	for _, w := range ws {
		for _, m := range ms {
			b.Run(w.name+"/"+m.name, func(b *testing.B) { runWorkload(b, dir, w, m) })
		}
	}
}

// withDoFlags is the do mode m with flags added to do's.
func withDoFlags(m mode, name string, flags ...string) mode {
	return mode{name: name, skip: m.skip, argv: func(cwd string, prog ...string) []string {
		argv := m.argv(cwd, prog...) // BIN do FLAGS...
		return append(append(append([]string{}, argv[:2]...), flags...), argv[2:]...)
	}}
}

// startBusyLoops runs n shell loops that never make a system call until
// b ends.
func startBusyLoops(b *testing.B, n int) {
	for i := 0; i < n; i++ {
		cmd := exec.Command(tu.Busybox, "sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			b.Fatalf("busy loop: %v", err)
		}
		b.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
}
