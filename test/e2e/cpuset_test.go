package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/platform/cpulist"
	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestCPUSetCPUs: `do --cpuset-cpus N` runs the client's threads and the
// application's stub processes on CPU N alone, while the embedded server
// and gofer keep every CPU do had; the command runs as without it.
func TestCPUSetCPUs(t *testing.T) {
	tu.RequireRoot(t)
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	// The last CPU allowed: on a machine of several, not the first, which
	// a default could give by chance.
	cpu := -1
	for c := 0; c < len(all)*64; c++ {
		if all.IsSet(c) {
			cpu = c
		}
	}
	var one unix.CPUSet
	one.Set(cpu)

	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	cmd, out := doIn(t, dir, []string{"--force-overlay=false", "--cpuset-cpus", strconv.Itoa(cpu)},
		fmt.Sprintf("echo started; touch %s; sleep 3; echo done", ready))
	waitForFile(t, cmd, out, ready)
	procs := descendants(cmd.Process.Pid)
	daemons, stubs := 0, 0
	for _, pid := range append([]int{cmd.Process.Pid}, procs...) {
		want := one
		if tu.DaemonVerb(pid) != "" {
			want = all
			daemons++
		} else if pid != cmd.Process.Pid {
			stubs++
		}
		for _, tid := range threadsOf(pid) {
			var got unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &got); err != nil {
				continue // ended meanwhile
			}
			if got != want {
				t.Errorf("process %d (%s) thread %d runs on CPUs %s, want %s", pid, comm(pid), tid, cpulist.Format(got), cpulist.Format(want))
			}
		}
	}
	if daemons != 2 || stubs == 0 {
		t.Errorf("found %d embedded daemons and %d stub processes under do, want 2 and some", daemons, stubs)
	}
	if code := waitExit(t, cmd); code != 0 || out.String() != "started\ndone\n" {
		t.Fatalf("exit %d, output %q; want 0 and started, done", code, out)
	}
}

// TestCPUSetCPUsRefused: a list that does not parse or names a CPU do may
// not use is refused before anything runs, naming what is wrong.
func TestCPUSetCPUsRefused(t *testing.T) {
	tu.RequireRoot(t)
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	foreign := 0
	for all.IsSet(foreign) {
		foreign++
	}
	for _, tc := range []struct {
		list, want string
		code       int
	}{
		{"x", `--cpuset-cpus: CPU list "x": "x" is not a CPU number`, 2},
		{"3-1", `range "3-1" ends before it starts`, 2},
		{strconv.Itoa(foreign), fmt.Sprintf("CPU %d is not among this process's CPUs (%s)", foreign, cpulist.Format(all)), 125},
	} {
		r := tu.Sandbox(t, timeout, t.TempDir(), "", []string{"--cpuset-cpus", tc.list}, tu.Busybox, "echo", "ran")
		if r.ExitCode != tc.code || !strings.Contains(r.Stderr, tc.want) || strings.Contains(r.Stdout, "ran") {
			t.Errorf("--cpuset-cpus %s: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.list, r.ExitCode, r.Stdout, r.Stderr, tc.code, tc.want)
		}
	}
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	var out []int
	for _, child := range tu.ChildPIDs(pid) {
		out = append(append(out, child), descendants(child)...)
	}
	return out
}

// threadsOf lists process pid's threads.
func threadsOf(pid int) []int {
	var tids []int
	ds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, d := range ds {
		if tid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// TestCPUPlacement: with CPU placement (the default), a sandbox of one
// thread that keeps its (embedded) server busy is measured confined to
// one CPU at least once (the client's end-of-run counts); never with
// --cpu-placement=false.
func TestCPUPlacement(t *testing.T) {
	tu.RequireRoot(t)
	src := t.TempDir()
	for i := 0; i < 400; i++ {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), []byte("some bytes\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	archive := filepath.Join(t.TempDir(), "files.tar")
	if r := tu.Run(t, timeout, src, "", tu.Busybox, "tar", "-cf", archive, "."); r.ExitCode != 0 {
		t.Fatalf("tar -cf: %s", r.Stderr)
	}
	for _, tc := range []struct {
		name    string
		flags   []string
		confine bool
	}{
		{"default (on)", nil, true},
		{"off", []string{"--cpu-placement=false"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := forwardedCountersWith(t, dir, tc.flags, tu.Busybox, "sh", "-c",
				"for i in 1 2 3; do mkdir x$i && tar -xf "+archive+" -C x$i; done")
			conf, rel := c["cpu_confinements"], c["cpu_releases"]
			if tc.confine && (conf < 1 || rel < conf-1 || rel > conf) {
				t.Errorf("cpu_confinements=%d cpu_releases=%d; want at least one confinement, each released but perhaps the last", conf, rel)
			}
			if !tc.confine && conf+rel != 0 {
				t.Errorf("cpu_confinements=%d cpu_releases=%d with --cpu-placement=false; want none", conf, rel)
			}
		})
	}
}
