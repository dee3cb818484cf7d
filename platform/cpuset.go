package platform

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/platform/cpulist"
)

// ConfineCPUs runs this process on the CPUs of set from now on: every
// thread's affinity becomes set (threads the Go runtime starts later
// inherit it from the thread that starts them, and so do the stub
// processes a platform New made afterwards forks), and GOMAXPROCS
// becomes its size, so that systrap's sysmsg threads and fast path
// follow (gVisor turns the fast path off at one). It must run before
// New. set must lie within the CPUs the process may use; the error names
// the first that does not.
//
// Why (docs/BENCHMARKS.md, "cpuplace"): on a small host that also runs
// the remote sentry and its gofer, the application's stub and the task
// goroutine that serves its traps hand off to each other on every system
// call; left to the host's scheduler they sit on different CPUs, and
// each hand-off is a cross-CPU wake-up (an inter-processor interrupt,
// dear in a virtual machine), while systrap's fast path, which spins
// instead, needs a CPU the daemons want too.
func ConfineCPUs(set unix.CPUSet) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return fmt.Errorf("sched_getaffinity: %w", err)
	}
	for cpu := 0; cpu < cpulist.MaxCPU; cpu++ {
		if set.IsSet(cpu) && !allowed.IsSet(cpu) {
			return fmt.Errorf("CPU %d is not among this process's CPUs (%s)", cpu, cpulist.Format(allowed))
		}
	}
	if set.Count() == 0 {
		return errors.New("no CPU to run on")
	}
	return SetCPUs(set, set.Count(), nil)
}

// SetCPUs sets the affinity of every thread of this process and of the
// processes pids (stub processes: those of address spaces made later
// come from systrap's source stub or its pool, with the CPUs they had,
// and are the caller's to set) to set, and GOMAXPROCS to procs. A process that ended
// meanwhile is skipped. Unlike ConfineCPUs it may run while the platform
// runs: systrap's fast path, on when the platform was made on several
// CPUs, spins on one CPU no more than its own measurements let it, and
// is back at full speed once SetCPUs gives the CPUs back.
func SetCPUs(set unix.CPUSet, procs int, pids []int) error {
	// A thread the runtime starts while the loop runs may copy a mask not
	// yet changed: go over the threads until a pass finds none new.
	done := make(map[int]bool)
	for {
		changed, err := setThreadCPUs("self", set, done)
		if err != nil {
			return err
		}
		if !changed {
			break
		}
	}
	if err := SetStubCPUs(pids, set); err != nil {
		return err
	}
	runtime.GOMAXPROCS(procs)
	return nil
}

// SetStubCPUs sets the affinity of every thread of the processes pids
// (stub processes, StubPIDs) to set; one that ended meanwhile is skipped.
func SetStubCPUs(pids []int, set unix.CPUSet) error {
	for _, pid := range pids {
		if _, err := setThreadCPUs(strconv.Itoa(pid), set, nil); err != nil && !errors.Is(err, errNoProcess) {
			return fmt.Errorf("stub %d: %w", pid, err)
		}
	}
	return nil
}

// errNoProcess is setThreadCPUs's error for a process that has ended.
var errNoProcess = errors.New("no such process")

// setThreadCPUs sets the affinity of the threads of process pid ("self":
// this one) that done (nil: none) does not list to set, adds them to
// done, and reports whether there were any. A thread that ended meanwhile
// is skipped; a process that ended is errNoProcess.
func setThreadCPUs(pid string, set unix.CPUSet, done map[int]bool) (bool, error) {
	tids, err := threadIDs(pid)
	if err != nil {
		if pid != "self" {
			return false, errNoProcess
		}
		return false, err
	}
	changed := false
	for _, tid := range tids {
		if done[tid] {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return changed, fmt.Errorf("sched_setaffinity of thread %d: %w", tid, err)
		}
		if done != nil {
			done[tid] = true
		}
		changed = true
	}
	return changed, nil
}

// threadIDs lists the threads of process pid ("self" for this one).
func threadIDs(pid string) ([]int, error) {
	ents, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
