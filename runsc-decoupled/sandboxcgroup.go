package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gvisor.dev/gvisor/runsc/cgroup"

	"github.com/runsc-decoupled/runsc-decoupled/oci"
)

// The sandbox cgroup: do's host processes (the client sentry, the
// platform's stubs running the application, the embedded server and
// gofer) in a cpu cgroup of their own, a child of do's, as runsc puts its
// sandbox in a cgroup and a container's process joins its cgroupsPath.
//
// Why: on a host whose CPUs other work keeps busy, each system call the
// client forwards is a chain of hand-offs between host threads (the stub,
// the client, the server, the gofer), each a wake-up. Flat, every woken
// thread competes with the busy loops for a CPU; in one cgroup the
// scheduler treats the sandbox as one entity, and a hand-off inside it
// runs while the group holds the CPU (docs/BENCHMARKS.md, History
// "cgroup59").
//
// Only the cpu controller: the others would cost their set-up at every
// start for nothing, and a child of do's own cgroup keeps every limit
// the caller's cgroups set. Under cgroup v2 the child has the cpu
// controller only if do's cgroup can hand it down: do moves into the
// child first, then enables it (a cgroup v2 cgroup that holds processes
// cannot); where another process stays in do's cgroup, that fails and
// the child is a plain group, which the log says at info level.

// sandboxCgroupPrefix names a sandbox cgroup: the prefix, then do's pid
// and start time (clock ticks since boot, as a socket directory's owner
// file has them), "runsc-decoupled-PID-START", so that the sweep does not
// take a process that reused the pid for the do that made it.
const sandboxCgroupPrefix = "runsc-decoupled-"

// sandboxCgroupName is the name of the sandbox cgroup of the do of pid
// pid that started at start.
func sandboxCgroupName(pid int, start uint64) string {
	return sandboxCgroupPrefix + strconv.Itoa(pid) + "-" + strconv.FormatUint(start, 10)
}

// sandboxCgroup is the cgroup do made and joined.
type sandboxCgroup struct {
	// dir is the cgroup's directory (v1: in the cpu hierarchy).
	dir string
	// enabledCPU says do enabled the v2 cpu controller in the parent's
	// cgroup.subtree_control, which it must undo before it can move back.
	enabledCPU bool
	// left has the outcome of the move back to the parent once leave
	// started it; set by leave, called by do's goroutine only.
	left chan error
}

// joinSandboxCgroup makes the sandbox cgroup under do's own and moves do
// (all its threads) into it, so that everything it starts afterwards is
// inside. It first removes the empty sandbox cgroups left there by do
// processes that died without removing theirs (kill -9). noCPU, when set,
// says why the cgroup does not have the cpu controller.
func joinSandboxCgroup() (s *sandboxCgroup, noCPU error, err error) {
	pid := os.Getpid()
	start, err := oci.ProcStart(pid)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox cgroup: %w", err)
	}
	name := sandboxCgroupName(pid, start)
	cg, err := cgroup.NewFromPath(name, false)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox cgroup %q: %w", name, err)
	}
	if cgroup.IsOnlyV2() {
		return joinCgroupAt(cg.MakePath(""), true)
	}
	return joinCgroupAt(cg.MakePath("cpu"), false)
}

// joinCgroupAt makes the cgroup dir (in the cpu controller's hierarchy,
// or in the unified one when v2) and moves this process into it, after
// removing its stale sibling sandbox cgroups.
func joinCgroupAt(dir string, v2 bool) (s *sandboxCgroup, noCPU error, err error) {
	s = &sandboxCgroup{dir: dir}
	parent := filepath.Dir(s.dir)
	removeStaleSandboxCgroups(parent)
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("sandbox cgroup: %w", err)
	}
	if err := moveSelf(s.dir); err != nil {
		syscall.Rmdir(s.dir)
		return nil, nil, fmt.Errorf("sandbox cgroup: join %s: %w", s.dir, err)
	}
	if v2 && !hasController(s.dir, "cpu") {
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+cpu"), 0); err != nil {
			noCPU = fmt.Errorf("enable the cpu controller in %s (another process in it?): %w", parent, err)
		} else {
			s.enabledCPU = true
		}
	}
	return s, noCPU, nil
}

// leave starts moving do back to its cgroup, once the application has
// ended: the move may wait for an RCU grace period (milliseconds), which
// then passes while do stops its daemons.
func (s *sandboxCgroup) leave() {
	if s.left != nil {
		return
	}
	left := make(chan error, 1)
	s.left = left
	go func() {
		parent := filepath.Dir(s.dir)
		if s.enabledCPU {
			// A v2 cgroup with a controller enabled for its children takes
			// no process.
			if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("-cpu"), 0); err != nil {
				left <- fmt.Errorf("sandbox cgroup: disable the cpu controller in %s: %w", parent, err)
				return
			}
		}
		if err := moveSelf(parent); err != nil {
			left <- fmt.Errorf("sandbox cgroup: move back to %s: %w", parent, err)
			return
		}
		left <- nil
	}()
}

// remove moves do back to its cgroup (if leave has not), kills what is
// left in the sandbox cgroup (the platform's stubs: the embedded daemons
// have stopped) and removes it. The ptrace platform's stubs are do's own
// tracees: they are not killed here but die with do (the platform sets
// PTRACE_O_EXITKILL), and the cgroup, left with them, is removed by the
// next do's sweep (removeStaleSandboxCgroups). A SIGKILL from here could
// find one of do's threads waiting for its stub's next stop, and gVisor's
// ptrace platform then kills do itself, taking a stub killed so for the
// OOM killer's work (exit 137 for an application that exited 0); the
// killed stubs stayed in their exit stop besides, which held do 2 s.
func (s *sandboxCgroup) remove() error {
	s.leave()
	if err := <-s.left; err != nil {
		return err
	}
	tracees, err := emptyCgroup(filepath.Join(s.dir, "cgroup.procs"), 2*time.Second, tracedByThisProcess)
	if err != nil {
		return err
	}
	if tracees > 0 {
		return nil
	}
	if err := syscall.Rmdir(s.dir); err != nil {
		return fmt.Errorf("sandbox cgroup: remove %s: %w", s.dir, err)
	}
	return nil
}

// moveSelf moves this process, all its threads, into the cgroup at dir.
func moveSelf(dir string) error {
	// "0" names the writer's own process (cgroups(7)).
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("0"), 0)
}

// hasController says whether the v2 cgroup at dir has controller.
func hasController(dir, controller string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return false
	}
	for _, c := range strings.Fields(string(b)) {
		if c == controller {
			return true
		}
	}
	return false
}

// emptyCgroup kills every process listed in procs but those spare says
// to leave (and this one), and waits, up to timeout, until only those
// are listed (a killed process leaves its cgroup as it exits, before it
// is reaped); it returns how many were spared.
func emptyCgroup(procs string, timeout time.Duration, spare func(pid int) bool) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		pids, err := cgroupPids(procs)
		if err != nil {
			return 0, err
		}
		var kill []int
		for _, pid := range pids {
			if pid != os.Getpid() && !spare(pid) {
				kill = append(kill, pid)
			}
		}
		if len(kill) == 0 {
			return len(pids), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: %d processes left after SIGKILL (%v)", procs, len(kill), kill)
		}
		for _, pid := range kill {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// tracedByThisProcess says whether process pid is ptrace-attached to a
// thread of this process (its TracerPid is one of ours): a stub of the
// ptrace platform.
func tracedByThisProcess(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "TracerPid:"); ok {
			tracer, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || tracer == 0 {
				return false
			}
			_, err = os.Stat(fmt.Sprintf("/proc/self/task/%d", tracer))
			return err == nil
		}
	}
	return false
}

// cgroupPids reads a cgroup.procs file.
func cgroupPids(procs string) ([]int, error) {
	b, err := os.ReadFile(procs)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a pid", procs, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// removeStaleSandboxCgroups removes the sandbox cgroups in parent whose
// do process is gone (oci.Alive, as sweepStaleTempDirs asks of its
// socket directories' owners: a live pid with another start time is
// another process) and that hold no process. One whose do lives stays,
// as does one named by pid alone (made by an earlier version) whose pid
// lives.
func removeStaleSandboxCgroups(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, start, ok := sandboxCgroupOwner(e.Name())
		if !ok || !e.IsDir() || oci.Alive(pid, start) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if pids, err := cgroupPids(filepath.Join(dir, "cgroup.procs")); err == nil && len(pids) == 0 {
			// Fails harmlessly if a process joined meanwhile.
			syscall.Rmdir(dir)
		}
	}
}

// sandboxCgroupOwner is the pid and start time of the do a sandbox
// cgroup's name carries; start is 0 in a name of pid alone.
func sandboxCgroupOwner(name string) (pid int, start uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, sandboxCgroupPrefix)
	if !ok {
		return 0, 0, false
	}
	p, st, withStart := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 || strings.HasPrefix(p, "+") {
		return 0, 0, false
	}
	if withStart {
		if start, err = strconv.ParseUint(st, 10, 64); err != nil || start == 0 {
			return 0, 0, false
		}
	}
	return pid, start, true
}
