package kernel

import (
	"crypto/sha256"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
)

// procSource is procfs.Source over a client's kernel state.
type procSource struct{ k *Kernel }

var _ procfs.Source = procSource{}

// NetInterfaces lists the sandbox's interfaces for /proc/net.
func (s procSource) NetInterfaces() ([]procfs.NetInterface, error) {
	ifs, err := s.k.Interfaces()
	if err != nil {
		return nil, err
	}
	stats, err := s.k.DevStats()
	if err != nil {
		return nil, err
	}
	out := make([]procfs.NetInterface, 0, len(ifs))
	for _, ifc := range ifs {
		ni := procfs.NetInterface{Name: ifc.Name, Index: ifc.Index, Counters: stats[ifc.Index].Columns()}
		for _, a := range ifc.Addrs {
			if len(a.IP) != net.IPv6len {
				continue
			}
			na := procfs.NetAddr6{PrefixLen: a.PrefixLen}
			copy(na.IP[:], a.IP)
			switch {
			case a.IP.IsLoopback():
				na.Scope = 0x10 // IFA_HOST
			case a.IP.IsLinkLocalUnicast():
				na.Scope = 0x20 // IFA_LINK
			}
			ni.IPv6 = append(ni.IPv6, na)
		}
		out = append(out, ni)
	}
	return out, nil
}

func (s procSource) Machine() (*sentrypb.MachineInfo, error) {
	a, err := s.k.Out.Ask(&sentrypb.ProcQuery{Kind: sentrypb.ProcQuery_MACHINE})
	if err != nil {
		return nil, err
	}
	if a.Machine == nil {
		return nil, fmt.Errorf("machine answer without MachineInfo: %w", unix.EIO)
	}
	return a.Machine, nil
}

// Process describes pid. Thread states combine the server's view (a
// forwarded call blocked in kernel.Task.Block) with the client's (a thread
// blocked in a call the client serves, such as futex wait or nanosleep);
// if the client does not answer, only the server's view is used.
func (s procSource) Process(pid int32, threads bool) (*procfs.Process, error) {
	k := s.k
	k.Mu.Lock()
	p := k.Procs[pid]
	if p == nil {
		k.Mu.Unlock()
		return nil, unix.ENOENT
	}
	out := &procfs.Process{PID: pid, PGID: p.PGID, SID: p.SID, Comm: p.Comm, Argv: p.Argv, Env: p.Env,
		ExitSignal: int32(p.ExitSignal), State: 'R',
		UID:    [4]uint32{p.Creds.RUID, p.Creds.EUID, p.Creds.SUID, p.Creds.FSUID},
		GID:    [4]uint32{p.Creds.RGID, p.Creds.EGID, p.Creds.SGID, p.Creds.FSGID},
		Groups: append([]uint32(nil), p.Creds.Groups...),
		CapInh: p.Creds.Caps.Inheritable, CapPrm: p.Creds.Caps.Permitted, CapEff: p.Creds.Caps.Effective,
		CapBnd: p.Creds.Caps.Bounding, CapAmb: p.Creds.Caps.Ambient, CoredumpFilter: p.CoredumpFilter,
		OOMScoreAdj: p.OOMScoreAdj}
	if p.Parent != nil {
		out.PPID = p.Parent.PID
	}
	out.TracerPID = TracerPIDLocked(k.Threads[pid])
	if p.FS != nil {
		out.Umask = p.FS.Umask
	}
	if p.FDs != nil {
		out.FDs = p.FDs.Limit()
	}
	if p.Sig != nil {
		out.SigIgnored, out.SigCaught = p.Sig.IgnoredCaught()
	}
	sleeping, traced := map[int32]bool{}, map[int32]bool{}
	for t := range p.Live {
		out.Threads = append(out.Threads, procfs.Thread{TID: t.TID, Comm: p.Comm, State: 'R',
			Nice: t.Sched.Nice, Policy: t.Sched.Policy, RTPriority: t.Sched.RTPriority, TimerSlack: t.TimerSlack.Get()})
		sleeping[t.TID] = t.Sleeping.Load()
		traced[t.TID] = t.Ptrace != nil && t.Ptrace.Stopped
	}
	stopped := p.Stopped
	if p.Zombie {
		out.State = 'Z'
		out.Threads = nil
	}
	k.Mu.Unlock()
	sort.Slice(out.Threads, func(i, j int) bool { return out.Threads[i].TID < out.Threads[j].TID })
	if !threads || out.State == 'Z' {
		if stopped && out.State != 'Z' {
			out.State = 'T'
		}
		return out, nil
	}
	client := map[int32]*sentrypb.TaskActivity{}
	if a, err := k.Out.Ask(&sentrypb.ProcQuery{Kind: sentrypb.ProcQuery_TASKS, Pid: pid}); err == nil {
		for _, ta := range a.Tasks {
			client[ta.Tid] = ta
		}
		out.VMSize, out.RSS, out.MaxRSS, out.Locked = a.VmSize, a.Rss, a.MaxRss, a.Locked
		out.SigQueued, out.SigQueueLimit, out.NrCPUs = a.SigQueued, a.SigQueueLimit, int(a.NrCpuIds)
		out.Limits = a.Rlimits
		out.IO = ioCounts(a.Io)
		out.Personality, out.Auxv = a.Personality, a.Auxv
	} else {
		k.Log.Debug("thread states from the server only", "pid", pid, "err", err)
	}
	for i := range out.Threads {
		t := &out.Threads[i]
		ta := client[t.TID]
		switch {
		case traced[t.TID]:
			t.State = 't'
		case stopped:
			t.State = 'T'
		case sleeping[t.TID] || ta.GetBlocked():
			t.State = 'S'
		}
		if c := string(ta.GetComm()); c != "" {
			t.Comm = c[:min(len(c), 15)] // TASK_COMM_LEN - 1
		}
		t.UTime, t.STime = time.Duration(ta.GetUtimeNs()), time.Duration(ta.GetStimeNs())
		t.Seccomp, t.NoNewPrivs = ta.GetSeccompMode(), ta.GetNoNewPrivs()
		t.SigPending, t.SigBlocked, t.CPUs = ta.GetSigPending(), ta.GetSigBlocked(), ta.GetCpusAllowed()
		t.IO = ioCounts(ta.GetIo())
		t.Syscall = ta.GetSyscall()
	}
	leader := 0
	for i, t := range out.Threads {
		if t.TID == pid {
			leader = i
		}
	}
	if len(out.Threads) > 0 {
		out.State, out.Comm = out.Threads[leader].State, out.Threads[leader].Comm
	}
	return out, nil
}

func (s procSource) Counts() (procs, running, threads int, lastPID int32) {
	k := s.k
	k.Mu.Lock()
	defer k.Mu.Unlock()
	for _, p := range k.Procs {
		if p.Zombie {
			continue
		}
		procs++
		for t := range p.Live {
			threads++
			if !t.Sleeping.Load() {
				running++
			}
		}
	}
	return procs, running, threads, k.LastTID
}

// Maps asks the client for pid's VMAs and names the server files they map
// by their current path.
func (s procSource) Maps(pid int32, smaps bool) ([]procfs.Mapping, error) {
	s.k.Mu.Lock()
	p := s.k.Procs[pid]
	zombie := p != nil && p.Zombie
	s.k.Mu.Unlock()
	switch {
	case p == nil:
		return nil, unix.ENOENT
	case zombie:
		return nil, nil // no address space left, as on Linux
	}
	kind := sentrypb.ProcQuery_MAPS
	if smaps {
		kind = sentrypb.ProcQuery_SMAPS
	}
	a, err := s.k.Out.Ask(&sentrypb.ProcQuery{Kind: kind, Pid: pid})
	if err != nil {
		return nil, err
	}
	out := make([]procfs.Mapping, 0, len(a.Maps))
	for _, v := range a.Maps {
		m := procfs.Mapping{Start: v.Start, End: v.End, Perms: v.Perms, Shared: v.Shared, Offset: v.Offset, Path: string(v.Name), Smaps: v.Smaps}
		if v.FileId != 0 {
			if f, dev, ino, ok := s.k.Maps.Lookup(v.FileId); ok {
				m.Dev, m.Ino = dev, ino
				m.Path = s.k.Synth.FilePath(f)
				f.DecRef()
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// Mounts is the mount namespace of process pid (the first if it is
// gone), from the mount table.
func (s procSource) Mounts(pid int32) []procfs.Mount {
	ms := s.k.VFS.Mounts.ListNS(s.k.MountNSOf(pid))
	out := make([]procfs.Mount, len(ms))
	for i := range ms {
		out[i] = ms[i].Proc()
	}
	return out
}

// MountNSIno is the inode number of process pid's mount namespace: the
// first of Linux's dynamic proc inode numbers (PROC_DYNAMIC_FIRST) plus
// the namespace's number.
func (s procSource) MountNSIno(pid int32) uint64 {
	return 0xF0000000 + s.k.MountNSOf(pid)
}

func (s procSource) SetComm(pid, tid int32, comm string) error {
	k := s.k
	k.Mu.Lock()
	t := k.Threads[tid]
	ok := t != nil && t.Proc.PID == pid && !t.Killed
	if ok && tid == pid {
		t.Proc.Comm = comm
	}
	k.Mu.Unlock()
	if !ok {
		return unix.ESRCH
	}
	_, err := k.Out.Ask(&sentrypb.ProcQuery{Kind: sentrypb.ProcQuery_SET_COMM, Pid: pid, Tid: tid, Comm: []byte(comm)})
	return err
}

// SetCoredumpFilter sets pid's coredump_filter; a zombie has none
// (ESRCH, as Linux's process without an mm).
func (s procSource) SetCoredumpFilter(pid int32, mask uint32) error {
	k := s.k
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := k.Procs[pid]
	if p == nil || p.Zombie || p.Exiting {
		return unix.ESRCH
	}
	p.CoredumpFilter = mask
	k.Trk.Changed(p)
	return nil
}

// SetOOMScoreAdj takes a write of pid's oom_score_adj or oom_adj
// (procfs.OOMScoreAdjWrite's rules, under k.Mu as Linux's
// oom_adj_mutex). A zombie's is set as Linux's, whose signal_struct
// outlives the address space. Linux also copies the value to the other
// processes sharing the writer's address space (clone with CLONE_VM but
// neither CLONE_THREAD nor CLONE_VFORK); the sandbox does not.
func (s procSource) SetOOMScoreAdj(pid, adj int32, legacy, privileged bool) error {
	k := s.k
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := k.Procs[pid]
	if p == nil {
		return unix.ESRCH
	}
	v, m, err := procfs.OOMScoreAdjWrite(p.OOMScoreAdj, p.OOMScoreAdjMin, adj, legacy, privileged)
	if err != nil {
		return err
	}
	p.OOMScoreAdj, p.OOMScoreAdjMin = v, m
	k.Trk.Changed(p)
	return nil
}

// BootID derives the boot id from the client's id, which it keeps across
// recoveries, so that it does not change when the server does.
func (s procSource) BootID() [16]byte {
	h := sha256.Sum256([]byte("boot_id\x00" + s.k.ID))
	var b [16]byte
	copy(b[:], h[:])
	return b
}

// SysvIPC renders /proc/sysvipc/<kind> from the client's IPC namespace.
func (s procSource) SysvIPC(kind string) []byte { return s.k.IPC.ProcFile(kind) }

// SetSysvLimit sets an IPC limit of the client's namespace.
func (s procSource) SetSysvLimit(kind string, data []byte) error {
	return s.k.IPC.SetLimit(kind, data)
}

// CorePattern is kernel/core_pattern.
func (s procSource) CorePattern() string {
	p, _ := s.k.Sysctl.CorePattern()
	return p
}

// SetCorePattern takes a write of kernel/core_pattern (Sysctls.SetCorePattern),
// which the sysctl record carries.
func (s procSource) SetCorePattern(data []byte) {
	s.k.Sysctl.SetCorePattern(data)
	s.k.Trk.Changed(SysctlValues{})
}

func (s procSource) Limits() procfs.Limits {
	mq := s.k.MQ.Limits()
	return procfs.Limits{PIDMax: MaxTID, ThreadsMax: MaxThreads, PipeMaxSize: s.k.Sysctl.PipeMaxSize(), NrOpen: s.k.Sysctl.NrOpen.Get(),
		CoreUsesPID:    coreUsesPID(s.k),
		LeaseBreakTime: s.k.Leases.BreakTime(), PipeUserPagesSoft: PipeUserPagesSoft, IPForward: s.k.Sysctl.IPForward(),
		MqQueuesMax: int(mq.QueuesMax), MqMsgMax: int(mq.MsgMax), MqMsgSizeMax: int(mq.MsgSizeMax),
		MqMsgDefault: int(mq.MsgDefault), MqMsgSizeDefault: int(mq.MsgSizeDefault)}
}

// coreUsesPID is kernel/core_uses_pid as a number.
func coreUsesPID(k *Kernel) int {
	if _, on := k.Sysctl.CorePattern(); on {
		return 1
	}
	return 0
}

// SetLastPID sets /proc/sys/kernel/ns_last_pid: the next process or
// thread gets the first free id after v (AllocTIDLocked). v is 0 to
// pid_max, as Linux's pid_ns_ctl_handler (proc_dointvec_minmax); the
// writer's capability was checked (procfs.WriteCaps). It goes with the
// id allocators' replay record, so that a recovery keeps it.
func (s procSource) SetLastPID(v int) error {
	if v < 0 || v > MaxTID {
		return unix.EINVAL
	}
	k := s.k
	k.Mu.Lock()
	k.LastTID = int32(v)
	k.Trk.IDsChanged()
	k.Mu.Unlock()
	return nil
}

// SetLimit sets fs/lease-break-time (seconds, not negative),
// fs/pipe-max-size (rounded up as Linux does; see setPipeMaxSize),
// net/ipv4/ip_forward, fs/nr_open (fdtable.NrOpen.Set) or an fs/mqueue limit (mqueue.Registry.SetLimit). The
// file's mode (0644) already kept others than root out. A value set
// goes with the sysctl record, which a restored server sets again.
func (s procSource) SetLimit(name string, v int) error {
	err := s.setLimit(name, v)
	if err == nil {
		s.k.Trk.Changed(SysctlValues{})
	}
	return err
}

func (s procSource) setLimit(name string, v int) error {
	switch name {
	case "fs/lease-break-time":
		if v < 0 {
			return unix.EINVAL
		}
		s.k.Leases.SetBreakTime(v)
		return nil
	case "fs/pipe-max-size":
		return s.k.Sysctl.SetPipeMaxSize(v)
	case "kernel/core_uses_pid":
		s.k.Sysctl.SetCoreUsesPID(v != 0)
		return nil
	case "net/ipv4/ip_forward":
		return s.k.SetIPForward(v)
	case "fs/nr_open":
		if err := s.k.Sysctl.NrOpen.Set(v); err != nil {
			return err
		}
		// Every process record says where its new fds may fail
		// (ProcessState.fd_room): the client predicts fds by it.
		k := s.k
		k.Mu.Lock()
		for _, p := range k.Procs {
			k.Trk.Changed(p)
		}
		k.Mu.Unlock()
		return nil
	}
	if q, ok := strings.CutPrefix(name, "fs/mqueue/"); ok {
		return s.k.MQ.SetLimit(q, v)
	}
	return unix.EACCES
}

// ioCounts reads the client's rchar, wchar, syscr and syscw (zeros if it
// sent fewer).
func ioCounts(v []uint64) procfs.IOCounts {
	var c [4]uint64
	copy(c[:], v)
	return procfs.IOCounts{RChar: c[0], WChar: c[1], SysCR: c[2], SysCW: c[3]}
}
