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
	// ps first: a process it lists was made before cgroup.procs is read
	// (the sandbox keeps starting stub processes).
	var ps []int
	json.Unmarshal([]byte(r.must("ps", "--format", "json", "cg")), &ps)
	b, err := os.ReadFile(filepath.Join(pidsDir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	var procs []int
	for _, f := range strings.Fields(string(b)) {
		p, _ := strconv.Atoi(f)
		procs = append(procs, p)
	}
	for _, p := range append([]int{c.pid, execPid}, ps...) {
		if !slices.Contains(procs, p) && unix.Kill(p, 0) == nil {
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

// TestOCIPauseUpdateEvents checks the verbs that act on the container's
// cgroup: pause freezes the whole sandbox and resume thaws it (the
// application stops and goes on), update changes a limit from flags or
// from a resources JSON on stdin (as the shim calls it), events --stats
// reports usage, and a paused container is killed by delete --force;
// without a cgroup each names what it needs.
func TestOCIPauseUpdateEvents(t *testing.T) {
	r := newOCIRuntime(t)
	cgPath := fmt.Sprintf("/rd-oci-pause-%d", os.Getpid())
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); sleep 0.05; done"}
		s.Linux.CgroupsPath = cgPath
	})
	c, msg, code := r.create("p", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", "p")
	waitFor(t, func() bool { return strings.Count(c.out(t), "\n") > 3 })

	r.must("pause", "p")
	if st := r.state("p"); st.Status != "paused" {
		t.Fatalf("state after pause: %s", st.Status)
	}
	before := c.out(t)
	time.Sleep(500 * time.Millisecond)
	if after := c.out(t); after != before {
		t.Errorf("the application ran while paused: %d lines then %d", strings.Count(before, "\n"), strings.Count(after, "\n"))
	}
	if _, code := r.run(nil, "kill", "p", "TERM"); code == 0 || !strings.Contains(r.lastError(), "paused") {
		t.Errorf("kill TERM of a paused container: exit %d, %q", code, r.lastError())
	}
	if _, code := r.run(nil, "pause", "p"); code == 0 {
		t.Errorf("pause of a paused container succeeded")
	}
	r.must("resume", "p")
	if st := r.state("p"); st.Status != specs.StateRunning {
		t.Fatalf("state after resume: %s", st.Status)
	}
	n := strings.Count(c.out(t), "\n")
	waitFor(t, func() bool { return strings.Count(c.out(t), "\n") > n+3 })

	pidsMax := filepath.Join("/sys/fs/cgroup/pids", cgPath, "pids.max")
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		pidsMax = filepath.Join("/sys/fs/cgroup", cgPath, "pids.max")
	}
	readMax := func() string { b, _ := os.ReadFile(pidsMax); return strings.TrimSpace(string(b)) }
	r.must("update", "--pids-limit", "77", "p")
	if got := readMax(); got != "77" {
		t.Errorf("pids.max after update --pids-limit 77: %q", got)
	}
	in := filepath.Join(r.dir, "resources.json")
	os.WriteFile(in, []byte(`{"pids":{"limit":88}}`), 0o644)
	inf, _ := os.Open(in)
	outf, _ := os.Create(filepath.Join(r.dir, "update.out"))
	_, code = r.run(&[3]*os.File{inf, outf, outf}, "update", "--resources", "-", "p")
	inf.Close()
	outf.Close()
	if got := readMax(); code != 0 || got != "88" {
		t.Errorf("update --resources -: exit %d (%s), pids.max %q, want 88", code, r.lastError(), got)
	}
	var ev struct {
		Type string
		ID   string
		Data struct {
			CPU  struct{ Usage struct{ Total uint64 } }
			Pids struct{ Current, Limit uint64 }
		}
	}
	if err := json.Unmarshal([]byte(r.must("events", "--stats", "p")), &ev); err != nil || ev.Type != "stats" || ev.ID != "p" || ev.Data.Pids.Limit != 88 || ev.Data.Pids.Current == 0 || ev.Data.CPU.Usage.Total == 0 {
		t.Errorf("events --stats: %+v %v", ev, err)
	}

	r.must("pause", "p")
	r.must("delete", "--force", "p")
	if exit := c.wait(t); exit != 128+9 {
		t.Errorf("paused container after delete --force: exit %d, want 137", exit)
	}
	if _, err := os.Stat(filepath.Dir(pidsMax)); !os.IsNotExist(err) {
		t.Errorf("cgroup after delete: %v", err)
	}

	// Without a cgroup of its own.
	plain := busyboxBundle(t, r, sh("exec sleep 1000"))
	if _, msg, code := r.create("n", plain); code != 0 {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", "n")
	for _, verb := range []string{"pause", "update", "events"} {
		if _, code := r.run(nil, verb, "n"); code == 0 || !strings.Contains(r.lastError(), "linux.cgroupsPath") {
			t.Errorf("%s without a cgroup: exit %d, %q", verb, code, r.lastError())
		}
	}
}

// TestOCIExecIgnoresLaterConfigChanges checks that exec takes the
// container's hostname and base process as create read them: changes to
// config.json after create must not affect the container.
func TestOCIExecIgnoresLaterConfigChanges(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "echo ready; exec sleep 1000"}
		s.Process.Env = append(s.Process.Env, "X=at-create")
		s.Hostname = "h-create"
	})
	c, msg, code := r.create("u", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", "u")
	waitFor(t, func() bool { return strings.Contains(c.out(t), "ready") })
	cfg := filepath.Join(bundle, "config.json")
	var s specs.Spec
	b, _ := os.ReadFile(cfg)
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Hostname = "h-later"
	s.Process.Env = append(s.Process.Env, "X=later")
	b, _ = json.Marshal(&s)
	os.WriteFile(cfg, b, 0o644)
	if out, code := r.run(nil, "exec", "u", "sh", "-c", "hostname; echo $X"); code != 0 || out != "h-create\nat-create\n" {
		t.Errorf("exec after config.json changed: exit %d output %q, want the values at create", code, out)
	}
	r.must("delete", "--force", "u")
	c.wait(t)
}

// TestOCIHooks checks the hooks run on the host: prestart and
// createRuntime during create (with the state on stdin: id, pid, status
// creating), poststart after start, poststop after delete, in order; a
// failing create hook fails create and leaves nothing; a failing
// poststart hook is a warning.
func TestOCIHooks(t *testing.T) {
	r := newOCIRuntime(t)
	out := filepath.Join(r.dir, "hooks.out")
	hook := func(name string) specs.Hook {
		// Each hook appends its name and the state's status and pid (a
		// stopped container's state has none, as runc's).
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `read -r s; st=${s#*\"status\":\"}; pid=-; case $s in *\"pid\":*) pid=${s#*\"pid\":}; pid=${pid%%,*};; esac; echo "` + name + ` ${st%%\"*} $pid" >> ` + out}}
	}
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "exec sleep 1000"}
		s.Hooks = &specs.Hooks{
			Prestart:      []specs.Hook{hook("prestart")}, //lint:ignore SA1019 runc still runs prestart hooks
			CreateRuntime: []specs.Hook{hook("createRuntime")},
			Poststart:     []specs.Hook{hook("poststart"), {Path: "/bin/false"}},
			Poststop:      []specs.Hook{hook("poststop")},
		}
	})
	c, msg, code := r.create("h", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", "h")
	r.must("delete", "--force", "h")
	c.wait(t)
	p := strconv.Itoa(c.pid)
	want := "prestart creating " + p + "\ncreateRuntime creating " + p + "\npoststart running " + p + "\npoststop stopped -\n"
	if b, _ := os.ReadFile(out); string(b) != want {
		t.Errorf("hooks ran as\n%s\nwant\n%s", b, want)
	}

	failing := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo no way >&2; exit 3"}}}}
	})
	if _, msg, code := r.create("hf", failing); code == 0 || !strings.Contains(msg, "hooks") || !strings.Contains(msg, "no way") {
		t.Errorf("create with a failing createRuntime hook: exit %d, %q", code, msg)
	}
	if _, err := os.Stat(filepath.Join(r.root, "hf")); !os.IsNotExist(err) {
		t.Errorf("a failed create left its state: %v", err)
	}
}
