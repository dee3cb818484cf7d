package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/oci"
	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestSandboxCgroup: do puts itself, its embedded daemons and the
// application's stub processes in a cpu cgroup of their own, a child of
// its own cgroup named for its pid, and removes it at exit;
// --cgroup=false leaves them all in do's cgroup.
func TestSandboxCgroup(t *testing.T) {
	tu.RequireRoot(t)
	own, err := cpuCgroupDir(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		own   bool // the sandbox stays in the test's cgroup
	}{
		{"default", nil, false},
		{"off", []string{"--cgroup=false"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ready := filepath.Join(dir, "ready")
			cmd, out := doIn(t, dir, append([]string{"--force-overlay=false"}, tc.flags...),
				fmt.Sprintf("echo started; touch %s; sleep 2; echo done", ready))
			waitForFile(t, cmd, out, ready)
			want := filepath.Join(own, sandboxCgroupName(t, cmd.Process.Pid))
			if tc.own {
				want = own
			}
			procs := append([]int{cmd.Process.Pid}, descendants(cmd.Process.Pid)...)
			daemons := 0
			for _, pid := range procs {
				got, err := cpuCgroupDir(pid)
				if err != nil {
					continue // ended meanwhile
				}
				if tu.DaemonVerb(pid) != "" {
					daemons++
				}
				if got != want {
					t.Errorf("process %d (%s) is in cpu cgroup %s, want %s", pid, comm(pid), got, want)
				}
			}
			if daemons != 2 || len(procs) < 4 {
				t.Errorf("found %d processes under do, %d of them embedded daemons; want do, 2 daemons and stubs", len(procs), daemons)
			}
			if code := waitExit(t, cmd); code != 0 || out.String() != "started\ndone\n" {
				t.Fatalf("exit %d, output %q; want 0 and started, done", code, out)
			}
			if !tc.own {
				if _, err := os.Stat(want); !os.IsNotExist(err) {
					t.Errorf("sandbox cgroup %s after do's exit: %v; want it removed", want, err)
				}
			}
		})
	}
}

// TestSandboxCgroupStale: a do killed with SIGKILL leaves its sandbox
// cgroup; the next do removes it once it is empty and its pid is gone,
// and leaves one whose pid lives.
func TestSandboxCgroupStale(t *testing.T) {
	tu.RequireRoot(t)
	own, err := cpuCgroupDir(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	cmd, out := doIn(t, dir, []string{"--force-overlay=false"}, fmt.Sprintf("touch %s; sleep 100", ready))
	waitForFile(t, cmd, out, ready)
	killed := filepath.Join(own, sandboxCgroupName(t, cmd.Process.Pid))
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(killed); err != nil {
		t.Fatalf("the killed do's cgroup: %v; want it left behind", err)
	}
	// pid 1 lives: its (made up) cgroups stay, the one named by its pid
	// alone (an earlier version's) too; one of pid 1 with another start
	// time is of a process gone, whose pid was reused.
	alive, old, reused := filepath.Join(own, sandboxCgroupName(t, 1)), filepath.Join(own, "runsc-decoupled-1"),
		filepath.Join(own, "runsc-decoupled-1-1")
	for _, d := range []string{alive, old, reused} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(d)
	}
	// The killed do's stubs and daemons die with it (their parent-death
	// signal), not at once.
	waitFor(t, func() bool {
		b, err := os.ReadFile(filepath.Join(killed, "cgroup.procs"))
		return err == nil && len(strings.TrimSpace(string(b))) == 0
	})
	r := tu.Sandbox(t, timeout, dir, "", []string{"--force-overlay=false"}, tu.Busybox, "true")
	if r.ExitCode != 0 {
		t.Fatalf("do: exit %d: %s", r.ExitCode, r.Stderr)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("the killed do's cgroup %s after the next do: %v; want it removed", killed, err)
	}
	for _, d := range []string{alive, old} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("the cgroup of a live pid %s after the next do: %v; want it kept", d, err)
		}
	}
	if _, err := os.Stat(reused); !os.IsNotExist(err) {
		t.Errorf("the cgroup of a reused pid %s after the next do: %v; want it removed", reused, err)
	}
}

// sandboxCgroupName is the name of the sandbox cgroup of the do of pid
// pid: "runsc-decoupled-PID-START", its start time in clock ticks.
func sandboxCgroupName(t *testing.T, pid int) string {
	t.Helper()
	start, err := oci.ProcStart(pid)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("runsc-decoupled-%d-%d", pid, start)
}

// cpuCgroupDir is the directory of the cpu cgroup pid is in (cgroup v1's
// cpu hierarchy, or the unified one when it is the only one).
func cpuCgroupDir(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	unified := ""
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			unified = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == "cpu" {
				return filepath.Join("/sys/fs/cgroup/cpu", f[2]), nil
			}
		}
	}
	if unified == "" {
		return "", fmt.Errorf("/proc/%d/cgroup names no cpu cgroup: %q", pid, b)
	}
	return filepath.Join("/sys/fs/cgroup", unified), nil
}
