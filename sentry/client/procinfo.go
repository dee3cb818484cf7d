package client

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/cpuid"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/limits"
	"gvisor.dev/gvisor/pkg/sentry/mm"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// This file answers ProcQuery pushes: the facts /proc shows that only the
// client knows (address spaces, what its threads are doing, its machine).

// serverFileDevice is the device number serverFile mappings report to mm,
// so that a MAPS answer can name them by server file id. It is never seen
// by the application (the server replaces it).
const serverFileDevice = 0xfffff

// onProcQuery answers q on a goroutine of its own: reading an address
// space takes mm's locks, which a faulting thread may hold across a
// PageRead whose reply the push's (receiving) goroutine must deliver.
func (c *client) onProcQuery(q *pb.ProcQuery) {
	go func() {
		a := c.answerProcQuery(q)
		a.Id = q.Id
		if err := c.conn.Send(&pb.ClientMessage{Msg: &pb.ClientMessage_ProcAnswer{ProcAnswer: a}}); err != nil {
			c.log.Debug("proc answer not sent", "id", q.Id, "err", err)
		}
	}()
}

// tasksOf returns the live tasks of process pid, by tid.
func (c *client) tasksOf(pid int32) []*task {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ts []*task
	for _, t := range c.tasks {
		if t.proc.pid == pid {
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].tid < ts[j].tid })
	return ts
}

func (c *client) answerProcQuery(q *pb.ProcQuery) *pb.ProcAnswer {
	switch q.Kind {
	case pb.ProcQuery_MACHINE:
		return &pb.ProcAnswer{Machine: c.machineInfo()}
	case pb.ProcQuery_TASKS:
		var a pb.ProcAnswer
		var m *mm.MemoryManager
		var proc *process
		for _, t := range c.tasksOf(q.Pid) {
			u, s := t.cpuTimes()
			cpus := t.affinityMask()
			tio := t.io.counts()
			t.proc.mu.Lock()
			nnp := t.proc.noNewPrivs
			t.proc.mu.Unlock()
			t.mu.Lock()
			a.Tasks = append(a.Tasks, &pb.TaskActivity{Tid: t.tid, Blocked: t.state == stateBlocked, Comm: []byte(t.name),
				UtimeNs: int64(u), StimeNs: int64(s), SeccompMode: uint32(t.seccomp.Load().mode()), NoNewPrivs: nnp,
				SigPending: uint64(t.pendingSetLocked()), SigBlocked: uint64(t.mask), CpusAllowed: cpus, Io: tio[:],
				Syscall: t.waitingSyscallLocked()})
			if m == nil {
				m, proc = t.mm, t.proc
			}
			t.mu.Unlock()
		}
		if m != nil {
			a.VmSize, a.Rss, a.MaxRss = m.VirtualMemorySize(), m.ResidentSetSize(), m.MaxResidentSetSize()
			a.Locked = lockedBytes(m)
			a.Auxv = auxvBytes(m)
		}
		if proc != nil {
			proc.mu.Lock()
			a.Personality = proc.personality
			proc.mu.Unlock()
			a.SigQueued, _ = c.userSignalsQueued(proc)
			a.SigQueueLimit = proc.limits.Get(limits.SignalsPending).Cur
			for r := limits.CPU; r <= limits.Rttime; r++ {
				l := proc.limits.Get(r)
				a.Rlimits = append(a.Rlimits, l.Cur, l.Max)
			}
			io := proc.ioCounts()
			a.Io = io[:]
		}
		a.NrCpuIds = uint32(onlineCPUs())
		if len(a.Tasks) == 0 {
			a.Errno = int32(unix.ESRCH)
		}
		return &a
	case pb.ProcQuery_SET_COMM:
		t := c.lookupTask(q.Tid)
		if t == nil {
			return &pb.ProcAnswer{Errno: int32(unix.ESRCH)}
		}
		name := q.Comm
		if len(name) > 15 {
			name = name[:15]
		}
		t.mu.Lock()
		t.name = string(name)
		t.mu.Unlock()
		return &pb.ProcAnswer{}
	case pb.ProcQuery_MAPS, pb.ProcQuery_SMAPS:
		for _, t := range c.tasksOf(q.Pid) {
			t.mu.Lock()
			m := t.mm
			t.mu.Unlock()
			if m == nil {
				continue
			}
			if q.Kind == pb.ProcQuery_SMAPS {
				return &pb.ProcAnswer{Maps: smapsVMAs(m)}
			}
			var a pb.ProcAnswer
			m.ReadMapsDataInto(context.Background(), func(start, end hostarch.Addr, perms hostarch.AccessType, private string, offset uint64, devMajor, devMinor uint32, inode uint64, path string) {
				v := &pb.VMA{Start: uint64(start), End: uint64(end), Shared: private == "s", Offset: offset, Name: []byte(path)}
				if perms.Read {
					v.Perms |= 4
				}
				if perms.Write {
					v.Perms |= 2
				}
				if perms.Execute {
					v.Perms |= 1
				}
				if uint64(devMajor)<<20|uint64(devMinor) == serverFileDevice {
					v.FileId, v.Name = inode, nil
				}
				a.Maps = append(a.Maps, v)
			})
			return &a
		}
		return &pb.ProcAnswer{Errno: int32(unix.ESRCH)}
	}
	return &pb.ProcAnswer{Errno: int32(unix.EINVAL)}
}

// machineInfo describes this machine (sysinfo(2)) and the application's
// memory on it.
func (c *client) machineInfo() *pb.MachineInfo {
	var si unix.Sysinfo_t
	m := &pb.MachineInfo{Cpus: uint32(runtime.NumCPU()), UptimeNs: int64(time.Since(clientStart))}
	if err := unix.Sysinfo(&si); err == nil {
		unit := uint64(si.Unit)
		if unit == 0 {
			unit = 1
		}
		m.MemTotal = si.Totalram * unit
		m.MemFree = si.Freeram * unit
		m.Buffers = si.Bufferram * unit
		m.Shared = si.Sharedram * unit
		m.SwapTotal = si.Totalswap * unit
		m.SwapFree = si.Freeswap * unit
	}
	m.MemAvailable = hostMemAvailable(m.MemFree + m.Buffers)
	if c.mf != nil {
		if u, err := c.mf.TotalUsage(); err == nil {
			m.AppMemory = u
		}
	}
	m.Cpuinfo = cpuInfo()
	u := c.utsName()
	m.Release = cstr(u.Release[:])
	m.Version = cstr(u.Version[:])
	m.Hostname = []byte(cstr(u.Nodename[:]))
	m.Domainname = []byte(cstr(u.Domainname[:]))
	return m
}

// cpuInfo is /proc/cpuinfo of this machine, as gVisor's cpuid package
// describes its CPUs (computed once: it does not change).
var cpuInfo = sync.OnceValue(func() string {
	var b bytes.Buffer
	n := uint(runtime.NumCPU())
	fs := cpuid.HostFeatureSet()
	for i := uint(0); i < n; i++ {
		fs.WriteCPUInfoTo(i, n, &b)
	}
	return b.String()
})

// hostMemAvailable reads MemAvailable from this machine's /proc/meminfo
// (sysinfo(2) lacks it), or returns fallback.
func hostMemAvailable(fallback uint64) uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return fallback
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) >= 2 && string(f[0]) == "MemAvailable:" {
			var kb uint64
			for _, ch := range f[1] {
				if ch < '0' || ch > '9' {
					return fallback
				}
				kb = kb*10 + uint64(ch-'0')
			}
			return kb * 1024
		}
	}
	return fallback
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// waitingSyscallLocked is the system call t waits in, as
// TaskActivity.syscall holds it: its number, arguments, stack pointer and
// instruction pointer, from the registers its trap left (nil while it
// runs). The task goroutine changes them only after it leaves the wait,
// which it does under mu; in a ptrace-stop the tracer may change them
// without it, so a stopped tracee shows none. t.mu is held.
func (t *task) waitingSyscallLocked() []uint64 {
	if (t.state != stateBlocked && t.state != stateForwarding) || t.trace.stopped || t.ac == nil {
		return nil
	}
	out := []uint64{uint64(t.ac.SyscallNo())}
	for _, a := range t.ac.SyscallArgs() {
		out = append(out, a.Uint64())
	}
	return append(out, uint64(t.ac.Stack()), uint64(t.ac.IP()))
}

// auxvBytes is m's auxiliary vector as Linux's /proc/<pid>/auxv and a
// core dump's NT_AUXV hold it: 64-bit key and value pairs, AT_NULL's
// included.
func auxvBytes(m *mm.MemoryManager) []byte {
	var b []byte
	for _, e := range m.Auxv() {
		b = binary.LittleEndian.AppendUint64(b, e.Key)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Value))
	}
	return append(b, make([]byte, 16)...) // AT_NULL
}

// smapsVMAs reads m's smaps and splits it into VMAs, each with the lines
// that follow its header.
func smapsVMAs(m *mm.MemoryManager) []*pb.VMA {
	var b bytes.Buffer
	m.ReadSmapsDataInto(context.Background(), &b)
	var out []*pb.VMA
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if line == "" {
			continue
		}
		if v := parseMapsLine(line); v != nil {
			out = append(out, v)
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].Smaps += line
		}
	}
	return out
}

// parseMapsLine parses a /proc/<pid>/maps line as mm formats it, or
// returns nil if line is not one.
func parseMapsLine(line string) *pb.VMA {
	var start, end, off, ino uint64
	var perms string
	var major, minor uint32
	n, err := fmt.Sscanf(line, "%x-%x %s %x %x:%x %d", &start, &end, &perms, &off, &major, &minor, &ino)
	if err != nil || n != 7 || len(perms) != 4 {
		return nil
	}
	v := &pb.VMA{Start: start, End: end, Offset: off, Shared: perms[3] == 's'}
	for i, bit := range []uint32{4, 2, 1} {
		if perms[i] != '-' {
			v.Perms |= bit
		}
	}
	if uint64(major)<<20|uint64(minor) == serverFileDevice {
		v.FileId = ino
		return v
	}
	// The path follows the inode, after padding.
	f := strings.SplitN(strings.TrimRight(line, "\n"), " ", 6)
	if len(f) == 6 {
		v.Name = []byte(strings.TrimLeft(f[5], " "))
	}
	return v
}
