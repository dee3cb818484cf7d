package client

import (
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/sentry/mm"

	"github.com/runsc-decoupled/runsc-decoupled/platform"
)

// fakeStub is a stub process whose host CPU time the test sets.
type fakeStub struct {
	ns   atomic.Int64
	gone atomic.Bool
}

func (f *fakeStub) read() (int64, bool) { return f.ns.Load(), !f.gone.Load() }

// inApp puts t in the application as if it had entered d ago.
func inApp(t *task, d time.Duration) { t.appSince.Store(cpuNow() - int64(d)) }

// TestCPUTimeCharge checks what a thread is charged for its time in the
// application: the stub's host CPU time, not the wall time it waited for a
// CPU or for a stub thread that ran another thread.
func TestCPUTimeCharge(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name string
		// threads of one process in one address space; run plays them.
		threads int
		noStub  bool
		run     func(ts []*task, stub *fakeStub)
		// want is each thread's user time (±1 ms), then the process's.
		want []time.Duration
	}{
		{
			// The host ran the stub 10 ms of the 100 ms the thread was
			// in the application.
			name: "preempted", threads: 1,
			run: func(ts []*task, stub *fakeStub) {
				inApp(ts[0], 100*ms)
				stub.ns.Add(int64(10 * ms))
				ts[0].leaveApp()
			},
			want: []time.Duration{10 * ms, 10 * ms},
		},
		{
			name: "ran all the time", threads: 1,
			run: func(ts []*task, stub *fakeStub) {
				inApp(ts[0], 100*ms)
				stub.ns.Add(int64(100 * ms))
				ts[0].leaveApp()
			},
			want: []time.Duration{100 * ms, 100 * ms},
		},
		{
			// Never more than the wall time: the stub's own work (say, a
			// syscall the client made in it) is nobody's.
			name: "stub busy outside the application", threads: 1,
			run: func(ts []*task, stub *fakeStub) {
				stub.ns.Add(int64(500 * ms))
				inApp(ts[0], 20*ms)
				ts[0].leaveApp()
			},
			want: []time.Duration{20 * ms, 20 * ms},
		},
		{
			// Still in the application: its time so far, as far as the
			// stub ran.
			name: "switch in progress", threads: 1,
			run: func(ts []*task, stub *fakeStub) {
				inApp(ts[0], 100*ms)
				stub.ns.Add(int64(30 * ms))
			},
			want: []time.Duration{30 * ms, 30 * ms},
		},
		{
			// Thread 0 waited 300 ms for the stub thread that ran thread
			// 1, which left the application every 10 ms.
			name: "queued behind another thread", threads: 2,
			run: func(ts []*task, stub *fakeStub) {
				inApp(ts[0], 300*ms)
				for range 30 {
					inApp(ts[1], 10*ms)
					stub.ns.Add(int64(10 * ms))
					ts[1].leaveApp()
				}
				stub.ns.Add(int64(ms))
				ts[0].leaveApp()
			},
			want: []time.Duration{ms, 300 * ms, 301 * ms},
		},
		{
			name: "no stub (kvm): wall time", threads: 1, noStub: true,
			run: func(ts []*task, stub *fakeStub) {
				inApp(ts[0], 100*ms)
				ts[0].leaveApp()
			},
			want: []time.Duration{100 * ms, 100 * ms},
		},
		{
			name: "stub gone: wall time", threads: 1,
			run: func(ts []*task, stub *fakeStub) {
				inApp(ts[0], 100*ms)
				stub.gone.Store(true)
				ts[0].leaveApp()
			},
			want: []time.Duration{100 * ms, 100 * ms},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stub := &fakeStub{}
			stub.ns.Store(int64(time.Hour)) // a pooled stub's earlier time
			var src *stubCPU
			if !tc.noStub {
				src = newStubCPUFrom(stub.read)
			}
			p := newProcess(1, defaultLimits(), creds{})
			var ts []*task
			for i := range tc.threads {
				th := &task{tid: int32(i + 1), proc: p}
				th.setStub(src)
				p.threads[th.tid] = th
				ts = append(ts, th)
			}
			tc.run(ts, stub)
			near := func(what string, got, want time.Duration) {
				t.Helper()
				if got < want-ms || got > want+ms {
					t.Errorf("%s user time = %v, want %v", what, got, want)
				}
			}
			for i, th := range ts {
				u, _ := th.cpuTimes()
				near("thread "+string(rune('0'+i)), u, tc.want[i])
			}
			u, _ := p.cpuTimes()
			near("process", u, tc.want[len(tc.want)-1])
		})
	}
}

// TestStubCPUClock checks that the platform's stub process is found and
// its CPU clock read (platform.StubPIDs reads gVisor's unexported fields).
func TestStubCPUClock(t *testing.T) {
	forEachPlatform(t, func(t *testing.T, name string) {
		if name == platform.Ptrace {
			// The ptrace platform binds stub threads to the OS thread.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		plat, err := platform.New(name)
		if err != nil {
			t.Fatal(err)
		}
		mf, err := platform.NewMemoryFile()
		if err != nil {
			t.Fatal(err)
		}
		m, err := mm.NewMemoryManager(plat, mf)
		if err != nil {
			t.Fatal(err)
		}
		pids, ok := platform.StubPIDs(m.AddressSpace())
		if !ok || len(pids) == 0 {
			t.Fatalf("StubPIDs(%T) found no stub process", m.AddressSpace())
		}
		for _, pid := range pids {
			if pid == unix.Getpid() || unix.Kill(pid, 0) != nil {
				t.Fatalf("StubPIDs = %v: %d is not a live stub process", pids, pid)
			}
		}
		if newStubCPU(m.AddressSpace()) == nil {
			t.Fatalf("the CPU clock of stubs %v cannot be read", pids)
		}
	})
}

// TestStubClocksLookup checks that the stub processes are looked up once
// every stubPIDsReads reads and again at once when one is gone, and that
// a process found late counts from its start.
func TestStubClocksLookup(t *testing.T) {
	busy := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer busy.Wait()
	defer busy.Process.Kill()
	self, child := unix.Getpid(), busy.Process.Pid
	// Let the child run a while before it is found.
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if ns, ok := processCPUTime(child); ok && ns > int64(20*time.Millisecond) {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the busy child ran no CPU")
		}
	}
	lookups := 0
	pids := []int{self}
	c := &stubClocks{lookup: func() ([]int, bool) { lookups++; return pids, true }, last: make(map[int]int64)}
	read := func(n int) int64 {
		t.Helper()
		var total int64
		for range n {
			var ok bool
			if total, ok = c.read(); !ok {
				t.Fatal("read failed")
			}
		}
		return total
	}
	read(2*stubPIDsReads + 1)
	if lookups != 3 {
		t.Fatalf("%d reads looked the stubs up %d times, want 3", 2*stubPIDsReads+1, lookups)
	}
	// The child becomes a stub process: found at the next lookup, with
	// all the CPU it ran before.
	pids = []int{self, child}
	before := read(1)
	read(stubPIDsReads)
	childNS, _ := processCPUTime(child)
	if got := read(1) - before; got < childNS/2 || lookups != 4 {
		t.Fatalf("after the child was found (lookups %d): total grew %v, the child alone ran %v", lookups, time.Duration(got), time.Duration(childNS))
	}
	// A process gone: the next read looks the stubs up again.
	busy.Process.Kill()
	busy.Wait()
	pids = []int{self}
	read(1) // finds the child gone
	read(1)
	if lookups != 5 {
		t.Fatalf("lookups after a stub process ended: %d, want 5", lookups)
	}
}
