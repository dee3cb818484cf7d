package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
