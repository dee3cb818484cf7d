package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestDoTempDirAfterSIGKILL checks that a do killed with SIGKILL, which
// cannot clean up, does not leave its temp directory for good: the next
// do removes it, and leaves a live do's directory alone.
func TestDoTempDirAfterSIGKILL(t *testing.T) {
	tu.RequireRoot(t)
	tmp := t.TempDir()
	killed, out := doIn(t, tmp, nil, "echo ready; exec sleep 100")
	waitFor(t, func() bool { return strings.Contains(out.String(), "ready") })
	killed.Process.Signal(syscall.SIGKILL)
	if code := waitExit(t, killed); code != 128+int(syscall.SIGKILL) {
		t.Fatalf("killed do: exit %d", code)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "runsc-decoupled-*"))
	if len(left) != 1 {
		t.Fatalf("after SIGKILL: %v, want do's directory (nothing could remove it yet)", left)
	}

	// A live do's directory survives another do's sweep.
	live, liveOut := doIn(t, tmp, nil, "echo ready; exec sleep 100")
	defer live.Process.Kill()
	waitFor(t, func() bool { return strings.Contains(liveOut.String(), "ready") })
	liveDirs, _ := filepath.Glob(filepath.Join(tmp, "runsc-decoupled-*"))
	if len(liveDirs) != 1 || liveDirs[0] == left[0] {
		t.Fatalf("with a live do: %v, want only the live do's directory (the stale one swept)", liveDirs)
	}
	next, nextOut := doIn(t, tmp, nil, "true")
	if code := waitExit(t, next); code != 0 {
		t.Fatalf("second do: exit %d: %s", code, nextOut)
	}
	if _, err := os.Stat(liveDirs[0]); err != nil {
		t.Fatalf("the live do's directory was swept: %v", err)
	}
	live.Process.Kill()
	waitExit(t, live)
}

// TestOCIExecKillAllAndPs checks that an exec'd process belongs to its
// container for the runtime's verbs: ps lists its host process (the pid
// exec wrote to --pid-file, which the shim matches), kill without --all
// leaves it alone, and kill --all reaches it.
func TestOCIExecKillAllAndPs(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, sh("echo ready; exec sleep 1000"))
	c, msg, code := r.create("x", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", "x")
	waitFor(t, func() bool { return strings.Contains(c.out(t), "ready") })

	execOut := filepath.Join(r.dir, "exec.out")
	f, _ := os.Create(execOut)
	null, _ := os.Open(os.DevNull)
	pidFile := filepath.Join(r.dir, "exec.pid")
	_, code = r.run(&[3]*os.File{null, f, f}, "exec", "--detach", "--pid-file", pidFile, "x", "sh", "-c", "trap 'echo exec got TERM; exit 5' TERM; echo exec ready; while :; do sleep 0.05; done")
	f.Close()
	null.Close()
	if code != 0 {
		t.Fatalf("exec: exit %d: %s", code, r.lastError())
	}
	pb, _ := os.ReadFile(pidFile)
	execPid, _ := strconv.Atoi(string(pb))
	ec := &container{id: "exec", pid: execPid, output: execOut}
	waitFor(t, func() bool { return strings.Contains(ec.out(t), "exec ready") })

	var pids []int
	if err := json.Unmarshal([]byte(r.must("ps", "--format", "json", "x")), &pids); err != nil || !slices.Contains(pids, c.pid) || !slices.Contains(pids, execPid) {
		t.Errorf("ps --format json: %v %v, want the container's pid %d and the exec's %d", pids, err, c.pid, execPid)
	}

	// Without --all only the init is signalled (and, handler-less as a
	// PID namespace's init, ignores TERM).
	r.must("kill", "x", "TERM")
	time.Sleep(300 * time.Millisecond)
	if strings.Contains(ec.out(t), "got TERM") || unix.Kill(execPid, 0) != nil {
		t.Fatalf("kill without --all reached the exec'd process: %q", ec.out(t))
	}
	r.must("kill", "--all", "x", "TERM")
	if exit := ec.wait(t); exit != 5 || !strings.Contains(ec.out(t), "exec got TERM") {
		t.Errorf("exec'd process after kill --all TERM: exit %d output %q, want 5 and its trap's line", exit, ec.out(t))
	}
	r.must("kill", "--all", "x", "KILL")
	if exit := c.wait(t); exit != 128+9 {
		t.Errorf("container: exit %d after kill --all KILL, want 137", exit)
	}
	r.must("delete", "x")
}

// TestOCICgroup checks that linux.cgroupsPath and linux.resources are
// applied to the whole sandbox as runsc does: the container's process and
// everything under it (the application's stub processes, the embedded
// daemons) and its exec processes are in a cgroup with the configured
// limits, and delete removes it.
func TestOCICgroup(t *testing.T) {
	r := newOCIRuntime(t)
	cgPath := fmt.Sprintf("/rd-oci-test-%d", os.Getpid())
	const pidsLimit = 321
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "echo ready; exec sleep 1000"}
		s.Linux.CgroupsPath = cgPath
		s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: pidsLimit}}
	})
	pidsDir := filepath.Join("/sys/fs/cgroup/pids", cgPath)
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		pidsDir = filepath.Join("/sys/fs/cgroup", cgPath) // cgroup v2
	}
	c, msg, code := r.create("cg", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	defer os.Remove(pidsDir)
	if b, err := os.ReadFile(filepath.Join(pidsDir, "pids.max")); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pidsLimit) {
		t.Errorf("pids.max: %q %v, want %d", b, err, pidsLimit)
	}
	r.must("start", "cg")
	waitFor(t, func() bool { return strings.Contains(c.out(t), "ready") })
	_, code = r.run(nil, "exec", "--detach", "--pid-file", filepath.Join(r.dir, "cgexec.pid"), "cg", "sleep", "1000")
	if code != 0 {
		t.Fatalf("exec: exit %d: %s", code, r.lastError())
	}
	pb, _ := os.ReadFile(filepath.Join(r.dir, "cgexec.pid"))
	execPid, _ := strconv.Atoi(string(pb))
	b, err := os.ReadFile(filepath.Join(pidsDir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	var procs []int
	for _, f := range strings.Fields(string(b)) {
		p, _ := strconv.Atoi(f)
		procs = append(procs, p)
	}
	var ps []int
	json.Unmarshal([]byte(r.must("ps", "--format", "json", "cg")), &ps)
	for _, p := range append([]int{c.pid, execPid}, ps...) {
		if !slices.Contains(procs, p) {
			t.Errorf("process %d (%s) of the container is not in its cgroup %v", p, commOf(p), procs)
		}
	}
	r.must("kill", "--all", "cg", "KILL")
	c.wait(t)
	r.must("delete", "cg")
	if _, err := os.Stat(pidsDir); !os.IsNotExist(err) {
		t.Errorf("after delete, %s: %v, want it removed", pidsDir, err)
	}
}

func commOf(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}
