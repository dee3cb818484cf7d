package procfs

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func constant(s string) func(Source, int32, int32) ([]byte, error) {
	return func(Source, int32, int32) ([]byte, error) { return []byte(s), nil }
}

func limit(f func(Limits) int) func(Source, int32, int32) ([]byte, error) {
	return func(src Source, _, _ int32) ([]byte, error) {
		return []byte(strconv.Itoa(f(src.Limits())) + "\n"), nil
	}
}

func sysvIPC(kind string) func(Source, int32, int32) ([]byte, error) {
	return func(src Source, _, _ int32) ([]byte, error) { return src.SysvIPC(kind), nil }
}

func writeSysvIPC(kind string) func(Source, int32, int32, []byte) error {
	return func(src Source, _, _ int32, data []byte) error { return src.SetSysvLimit(kind, data) }
}

// genCorePattern renders kernel/core_pattern, newline-terminated.
func genCorePattern(src Source, _, _ int32) ([]byte, error) {
	return []byte(src.CorePattern() + "\n"), nil
}

// writeCorePattern takes a write of kernel/core_pattern (what Linux's
// proc_dostring keeps of it is the Source's to cut).
func writeCorePattern(src Source, _, _ int32, data []byte) error {
	src.SetCorePattern(data)
	return nil
}

// genNsLastPID renders kernel/ns_last_pid: the last pid handed out.
func genNsLastPID(src Source, _, _ int32) ([]byte, error) {
	_, _, _, last := src.Counts()
	return []byte(strconv.Itoa(int(last)) + "\n"), nil
}

// writeNsLastPID takes a write of kernel/ns_last_pid: a number, as
// proc_dointvec_minmax parses it (the bounds are the Source's).
func writeNsLastPID(src Source, _, _ int32, data []byte) error {
	v, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return unix.EINVAL
	}
	return src.SetLastPID(v)
}

// nextIDFile is /proc/sys/kernel/<kind> for a System V IPC next id
// ("msg_next_id", "sem_next_id", "shm_next_id").
func nextIDFile(kind string) fileSpec {
	return fileSpec{mode: 0444, gen: sysvIPC(kind), write: writeSysvIPC(kind),
		openWriteCaps: 1<<unix.CAP_SYS_ADMIN | 1<<unix.CAP_CHECKPOINT_RESTORE}
}

// writeLimit parses a decimal number written to /proc/sys/name (EINVAL if
// it is not one) and sets it.
func writeLimit(name string) func(Source, int32, int32, []byte) error {
	return func(src Source, _, _ int32, data []byte) error {
		v, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			return unix.EINVAL
		}
		return src.SetLimit(name, v)
	}
}

// writeDropCaches takes a write of /proc/sys/vm/drop_caches: a number
// from 1 to 4, as Linux's proc_dointvec_minmax.
func writeDropCaches(_ Source, _, _ int32, data []byte) error {
	v, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || v < 1 || v > 4 {
		return unix.EINVAL
	}
	return nil
}

func machineField(f func(*sentrypb.MachineInfo) string) func(Source, int32, int32) ([]byte, error) {
	return func(src Source, _, _ int32) ([]byte, error) {
		m, err := src.Machine()
		if err != nil {
			return nil, err
		}
		return []byte(f(m) + "\n"), nil
	}
}

// formatUUID formats b as a version 4 UUID.
func formatUUID(b [16]byte) []byte {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return []byte(fmt.Sprintf("%x-%x-%x-%x-%x\n", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

func genBootID(src Source, _, _ int32) ([]byte, error) { return formatUUID(src.BootID()), nil }

// genUUID is a new random UUID at every read, as Linux's.
func genUUID(Source, int32, int32) ([]byte, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("random uuid: %v: %w", err, unix.EIO)
	}
	return formatUUID(b), nil
}

func genCPUInfo(src Source, _, _ int32) ([]byte, error) {
	m, err := src.Machine()
	if err != nil {
		return nil, err
	}
	return []byte(m.Cpuinfo), nil
}

// Filesystems lists the filesystem types the sandbox has.
func genFilesystems(Source, int32, int32) ([]byte, error) {
	return []byte("nodev\tgofer\nnodev\tpipefs\nnodev\tproc\nnodev\ttmpfs\n"), nil
}

func genLoadavg(src Source, _, _ int32) ([]byte, error) {
	_, running, threads, last := src.Counts()
	return []byte(fmt.Sprintf("0.00 0.00 0.00 %d/%d %d\n", running, threads, last)), nil
}

// genMeminfo follows fs/proc/meminfo.c: a 16-column label, an 8-column
// value in kB. Sizes are the client machine's; AnonPages is what the
// application's memory uses there.
// genVmstat follows mm/vmstat.c's /proc/vmstat for what the sandbox
// knows, in pages: free memory and the application's (anonymous) memory
// and shared memory, as meminfo tells them; the event counters (paging,
// swapping, faults) are not kept and show 0.
func genVmstat(src Source, _, _ int32) ([]byte, error) {
	m, err := src.Machine()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, c := range []struct {
		name string
		v    uint64
	}{
		{"nr_free_pages", m.MemFree / pageSize},
		{"nr_inactive_anon", 0},
		{"nr_active_anon", m.AppMemory / pageSize},
		{"nr_inactive_file", 0},
		{"nr_active_file", 0},
		{"nr_unevictable", 0},
		{"nr_mlock", 0},
		{"nr_anon_pages", m.AppMemory / pageSize},
		{"nr_mapped", 0},
		{"nr_file_pages", 0},
		{"nr_dirty", 0},
		{"nr_writeback", 0},
		{"nr_shmem", m.Shared / pageSize},
		{"pgpgin", 0},
		{"pgpgout", 0},
		{"pswpin", 0},
		{"pswpout", 0},
		{"pgfault", 0},
		{"pgmajfault", 0},
	} {
		fmt.Fprintf(&b, "%s %d\n", c.name, c.v)
	}
	return b.Bytes(), nil
}

func genMeminfo(src Source, _, _ int32) ([]byte, error) {
	m, err := src.Machine()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	kb := func(label string, v uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", label+":", v/1024) }
	kb("MemTotal", m.MemTotal)
	kb("MemFree", m.MemFree)
	kb("MemAvailable", m.MemAvailable)
	kb("Buffers", m.Buffers)
	kb("Cached", 0)
	kb("SwapCached", 0)
	kb("Active", m.AppMemory)
	kb("Inactive", 0)
	kb("Active(anon)", m.AppMemory)
	kb("Inactive(anon)", 0)
	kb("Active(file)", 0)
	kb("Inactive(file)", 0)
	kb("Unevictable", 0)
	kb("Mlocked", 0)
	kb("SwapTotal", m.SwapTotal)
	kb("SwapFree", m.SwapFree)
	kb("Dirty", 0)
	kb("Writeback", 0)
	kb("AnonPages", m.AppMemory)
	kb("Mapped", 0)
	kb("Shmem", m.Shared)
	kb("Slab", 0)
	kb("SReclaimable", 0)
	kb("SUnreclaim", 0)
	kb("KernelStack", 0)
	kb("PageTables", 0)
	kb("CommitLimit", m.MemTotal/2+m.SwapTotal)
	kb("Committed_AS", m.AppMemory)
	kb("VmallocTotal", 34359738367*1024)
	kb("VmallocUsed", 0)
	kb("VmallocChunk", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Total:", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Free:", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Rsvd:", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Surp:", 0)
	kb("Hugepagesize", 2048*1024)
	return b.Bytes(), nil
}

// genStat is /proc/stat. CPU times are not tracked (zeros, as gVisor).
func genStat(src Source, _, _ int32) ([]byte, error) {
	m, err := src.Machine()
	if err != nil {
		return nil, err
	}
	procs, running, _, _ := src.Counts()
	var b bytes.Buffer
	const zeros = " 0 0 0 0 0 0 0 0 0 0\n"
	b.WriteString("cpu " + zeros)
	for i := uint32(0); i < m.Cpus; i++ {
		fmt.Fprintf(&b, "cpu%d%s", i, zeros)
	}
	boot := time.Now().Add(-time.Duration(m.UptimeNs)).Unix()
	fmt.Fprintf(&b, "intr 0\nctxt 0\nbtime %d\nprocesses %d\nprocs_running %d\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n", boot, procs, running)
	return b.Bytes(), nil
}

func genUptime(src Source, _, _ int32) ([]byte, error) {
	m, err := src.Machine()
	if err != nil {
		return nil, err
	}
	up := time.Duration(m.UptimeNs).Seconds()
	return []byte(fmt.Sprintf("%.2f %.2f\n", up, 0.0)), nil
}

func genVersion(src Source, _, _ int32) ([]byte, error) {
	m, err := src.Machine()
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("Linux version %s (root@runsc-decoupled) %s\n", m.Release, m.Version)), nil
}

func nulJoin(ss []string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(b, s...)
		b = append(b, 0)
	}
	return b
}

func genCmdline(src Source, pid, _ int32) ([]byte, error) {
	p, err := src.Process(pid, false)
	if err != nil {
		return nil, err
	}
	if p.State == 'Z' {
		return nil, nil
	}
	return nulJoin(p.Argv), nil
}

func genEnviron(src Source, pid, _ int32) ([]byte, error) {
	p, err := src.Process(pid, false)
	if err != nil {
		return nil, err
	}
	if p.State == 'Z' {
		return nil, nil
	}
	return nulJoin(p.Env), nil
}

// thread returns the thread a file of pid (tid == 0: the leader) shows.
func thread(src Source, pid, tid int32) (*Process, Thread, error) {
	p, err := src.Process(pid, true)
	if err != nil {
		return nil, Thread{}, err
	}
	if tid == 0 {
		t := Thread{TID: pid}
		for _, l := range p.Threads {
			if l.TID == pid { // the leader's own facts
				t = l
			}
		}
		// The process's name and state; its CPU times are its threads'
		// (genPidStat sums them).
		t.Comm, t.State, t.UTime, t.STime = p.Comm, p.State, 0, 0
		return p, t, nil
	}
	for _, t := range p.Threads {
		if t.TID == tid {
			return p, t, nil
		}
	}
	return nil, Thread{}, unix.ENOENT
}

func genComm(src Source, pid, tid int32) ([]byte, error) {
	_, t, err := thread(src, pid, tid)
	if err != nil {
		return nil, err
	}
	return []byte(t.Comm + "\n"), nil
}

// writeComm renames a thread, as Linux: at most 15 bytes, up to the
// first newline.
func writeComm(src Source, pid, tid int32, data []byte) error {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	if len(data) > 15 {
		data = data[:15]
	}
	if tid == 0 {
		tid = pid
	}
	return src.SetComm(pid, tid, string(data))
}

// coredumpFilterBits are the mask's bits a write sets
// (MMF_DUMP_FILTER_BITS).
const coredumpFilterBits = 9

func genCoredumpFilter(src Source, pid, _ int32) ([]byte, error) {
	p, err := src.Process(pid, false)
	if err != nil {
		return nil, err
	}
	if p.State == 'Z' {
		return nil, nil // no address space left, as on Linux
	}
	return []byte(fmt.Sprintf("%08x\n", p.CoredumpFilter)), nil
}

// writeCoredumpFilter sets the mask as Linux's
// proc_coredump_filter_write: a number in C's notation (0x hex, 0 octal,
// else decimal, one newline after it at most), of which the low
// coredumpFilterBits count.
func writeCoredumpFilter(src Source, pid, _ int32, data []byte) error {
	s, base := strings.TrimSuffix(string(data), "\n"), 10
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		s, base = s[2:], 16
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	v, err := strconv.ParseUint(s, base, 32)
	if errors.Is(err, strconv.ErrRange) {
		return unix.ERANGE
	}
	if err != nil {
		return unix.EINVAL
	}
	return src.SetCoredumpFilter(pid, uint32(v)&(1<<coredumpFilterBits-1))
}

var stateNames = map[byte]string{'R': "R (running)", 'S': "S (sleeping)", 'T': "T (stopped)", 't': "t (tracing stop)", 'Z': "Z (zombie)"}

const pageSize = 4096

// genStatm follows fs/proc/array.c:proc_pid_statm: sizes in pages; the
// sandbox knows the total and the resident set only.
// genIO follows fs/proc/base.c:do_io_accounting: the process's counts
// (pid/io) or the thread's (task/<tid>/io). The storage layer's bytes
// (read_bytes, write_bytes, cancelled_write_bytes) are the gofer's, on
// the host, for the whole sandbox, not any process's: 0, as Linux shows
// for a process whose I/O stays in the page cache or tmpfs.
func genIO(src Source, pid, tid int32) ([]byte, error) {
	p, t, err := thread(src, pid, tid)
	if err != nil {
		return nil, err
	}
	c := p.IO
	if tid != 0 {
		c = t.IO
	}
	return []byte(fmt.Sprintf("rchar: %d\nwchar: %d\nsyscr: %d\nsyscw: %d\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
		c.RChar, c.WChar, c.SysCR, c.SysCW)), nil
}

func genStatm(src Source, pid, _ int32) ([]byte, error) {
	p, err := src.Process(pid, true)
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("%d %d 0 0 0 0 0\n", p.VMSize/pageSize, p.RSS/pageSize)), nil
}

// genPidStat follows fs/proc/array.c:do_task_stat (52 fields); CPU times
// are the client's measure (the thread's, or the live threads' sum for
// the process); children's times and faults are not tracked and show 0,
// of memory sizes only vsize and rss are known.
func genPidStat(src Source, pid, tid int32) ([]byte, error) {
	p, t, err := thread(src, pid, tid)
	if err != nil {
		return nil, err
	}
	n := len(p.Threads)
	if n == 0 {
		n = 1
	}
	id := pid
	if tid != 0 {
		id = tid
	}
	utime, stime := t.UTime, t.STime
	if tid == 0 {
		utime, stime = 0, 0
		for _, th := range p.Threads {
			utime += th.UTime
			stime += th.STime
		}
	}
	const userHZ = 100
	ticks := func(d time.Duration) int64 { return int64(d / (time.Second / userHZ)) }
	var b strings.Builder
	fmt.Fprintf(&b, "%d (%s) %c %d %d %d 0 -1 0 0 0 0 0 %d %d 0 0 %d %d %d 0 0 %d %d 18446744073709551615", id, t.Comm, t.State, p.PPID, p.PGID, p.SID,
		ticks(utime), ticks(stime), statPriority(t), t.Nice, n, p.VMSize, p.RSS/pageSize)
	// Fields 26 (startcode) to 52 (exit_code); 38 is exit_signal, 40
	// rt_priority, 41 policy.
	fields := make([]string, 0, 27)
	for i := 26; i <= 52; i++ {
		switch i {
		case 31, 32, 33, 34:
			// The signal sets, decimal, of the first 31 signals
			// (Linux's do_task_stat): pending for the thread, its
			// mask, ignored and caught.
			set := [...]uint64{t.SigPending, t.SigBlocked, p.SigIgnored, p.SigCaught}[i-31]
			fields = append(fields, strconv.FormatUint(set&0x7fffffff, 10))
		case 38:
			fields = append(fields, strconv.Itoa(int(p.ExitSignal)))
		case 40:
			fields = append(fields, strconv.Itoa(int(t.RTPriority)))
		case 41:
			fields = append(fields, strconv.Itoa(int(t.Policy)))
		default:
			fields = append(fields, "0")
		}
	}
	b.WriteString(" " + strings.Join(fields, " ") + "\n")
	return []byte(b.String()), nil
}

// genTimerSlack is the process's (its leader's) timer slack.
func genTimerSlack(src Source, pid, _ int32) ([]byte, error) {
	_, t, err := thread(src, pid, 0)
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("%d\n", t.TimerSlack)), nil
}

// statPriority is /proc/[pid]/stat's priority field (Linux's task_prio):
// 20 plus the nice value in the fair class, -1 minus the real-time
// priority under SCHED_FIFO and SCHED_RR, -101 under SCHED_DEADLINE.
func statPriority(t Thread) int32 {
	switch t.Policy {
	case unix.SCHED_FIFO, unix.SCHED_RR:
		return -1 - int32(t.RTPriority)
	case unix.SCHED_DEADLINE:
		return -101
	}
	return 20 + t.Nice
}

// genStatus follows fs/proc/array.c:proc_pid_status, for the fields the
// sandbox knows.
func genStatus(src Source, pid, tid int32) ([]byte, error) {
	p, t, err := thread(src, pid, tid)
	if err != nil {
		return nil, err
	}
	id := pid
	if tid != 0 {
		id = tid
	}
	n := len(p.Threads)
	if n == 0 {
		n = 1
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Name:\t%s\n", t.Comm)
	fmt.Fprintf(&b, "Umask:\t%04o\n", p.Umask)
	fmt.Fprintf(&b, "State:\t%s\n", stateNames[t.State])
	fmt.Fprintf(&b, "Tgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t%d\n", pid, id, p.PPID, p.TracerPID)
	fmt.Fprintf(&b, "Uid:\t%d\t%d\t%d\t%d\n", p.UID[0], p.UID[1], p.UID[2], p.UID[3])
	fmt.Fprintf(&b, "Gid:\t%d\t%d\t%d\t%d\n", p.GID[0], p.GID[1], p.GID[2], p.GID[3])
	// Each group and a space after the last (Linux's task_state).
	fmt.Fprintf(&b, "FDSize:\t%d\nGroups:\t", p.FDs)
	for i, g := range p.Groups {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d", g)
	}
	b.WriteString(" \n")
	fmt.Fprintf(&b, "NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", pid, id, p.PGID, p.SID)
	if p.State != 'Z' {
		fmt.Fprintf(&b, "VmSize:\t%8d kB\nVmLck:\t%8d kB\nVmHWM:\t%8d kB\nVmRSS:\t%8d kB\nVmSwap:\t%8d kB\n",
			p.VMSize/1024, p.Locked/1024, p.MaxRSS/1024, p.RSS/1024, 0)
	}
	fmt.Fprintf(&b, "Threads:\t%d\n", n)
	// A signal sent to the process is queued for one of its threads
	// when it is sent (the server picks it), so nothing stays pending
	// for the process as a whole: ShdPnd is empty, SigPnd has it.
	fmt.Fprintf(&b, "SigQ:\t%d/%d\nSigPnd:\t%016x\nShdPnd:\t%016x\nSigBlk:\t%016x\nSigIgn:\t%016x\nSigCgt:\t%016x\n",
		p.SigQueued, p.SigQueueLimit, t.SigPending, 0, t.SigBlocked, p.SigIgnored, p.SigCaught)
	fmt.Fprintf(&b, "CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\n",
		p.CapInh, p.CapPrm, p.CapEff, p.CapBnd, p.CapAmb)
	nnp := 0
	if t.NoNewPrivs {
		nnp = 1
	}
	fmt.Fprintf(&b, "NoNewPrivs:\t%d\nSeccomp:\t%d\n", nnp, t.Seccomp)
	if p.NrCPUs > 0 {
		cpus := t.CPUs
		if cpus == nil {
			cpus = allOf(p.NrCPUs)
		}
		fmt.Fprintf(&b, "Cpus_allowed:\t%s\nCpus_allowed_list:\t%s\n", bitmapHex(cpus, p.NrCPUs), bitmapList(cpus, p.NrCPUs))
	}
	fmt.Fprintf(&b, "Mems_allowed:\t%s\nMems_allowed_list:\t%s\n", bitmapHex([]uint64{1}, maxNumNodes), bitmapList([]uint64{1}, maxNumNodes))
	b.WriteString("voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n")
	return b.Bytes(), nil
}

// genMaps follows fs/proc/task_mmu.c:show_map_vma: the path starts at
// column 74.
func genMaps(src Source, pid, _ int32) ([]byte, error) { return renderMaps(src, pid, false) }

// genSmaps is maps with each VMA's smaps lines (the client's mm computes
// them).
func genSmaps(src Source, pid, _ int32) ([]byte, error) { return renderMaps(src, pid, true) }

func renderMaps(src Source, pid int32, smaps bool) ([]byte, error) {
	ms, err := src.Maps(pid, smaps)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, m := range ms {
		perm := []byte("---p")
		if m.Perms&4 != 0 {
			perm[0] = 'r'
		}
		if m.Perms&2 != 0 {
			perm[1] = 'w'
		}
		if m.Perms&1 != 0 {
			perm[2] = 'x'
		}
		if m.Shared {
			perm[3] = 's'
		}
		n, _ := fmt.Fprintf(&b, "%08x-%08x %s %08x %02x:%02x %d ", m.Start, m.End, perm, m.Offset, unix.Major(m.Dev), unix.Minor(m.Dev), m.Ino)
		if m.Path != "" {
			for pad := 73 - n; pad > 0; pad-- {
				b.WriteByte(' ')
			}
			b.WriteString(m.Path)
		}
		b.WriteByte('\n')
		if smaps {
			b.WriteString(m.Smaps)
		}
	}
	return b.Bytes(), nil
}

func genMounts(src Source, pid, _ int32) ([]byte, error) {
	var b bytes.Buffer
	for _, m := range src.Mounts(pid) {
		fmt.Fprintf(&b, "%s %s %s %s%s 0 0\n", mangle(m.Source), mangle(m.Target), mangle(m.FSType), m.Options, m.FSOptions)
	}
	return b.Bytes(), nil
}

// genMountinfo follows fs/proc_namespace.c:show_mountinfo.
func genMountinfo(src Source, pid, _ int32) ([]byte, error) {
	var b bytes.Buffer
	for _, m := range src.Mounts(pid) {
		root := m.Root
		if root == "" {
			root = "/"
		}
		fmt.Fprintf(&b, "%d %d %d:%d %s %s %s%s - %s %s %s\n", m.ID, m.ParentID, unix.Major(m.Dev), unix.Minor(m.Dev), mangle(root), mangle(m.Target), m.Options, m.Optional, mangle(m.FSType), mangle(m.Source), m.Super)
	}
	return b.Bytes(), nil
}

// mangle escapes the characters that would break a mounts line as Linux
// does (fs/proc_namespace.c: mangle, seq_escape with " \t\n\\").
func mangle(s string) string {
	if s == "" {
		return "none"
	}
	if !strings.ContainsAny(s, " \t\n\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FDInfo renders /proc/<pid>/fdinfo/<fd>.
func FDInfo(pos int64, flags uint32, mntID int) []byte {
	return []byte(fmt.Sprintf("pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t0\n", pos, flags, mntID))
}

// genNetDev is /proc/net/dev (net/core/net-procfs.c): one line per
// interface with its counters.
func genNetDev(src Source, _, _ int32) ([]byte, error) {
	ifs, err := src.NetInterfaces()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("Inter-|   Receive                                                |  Transmit\n")
	b.WriteString(" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n")
	for _, ifc := range ifs {
		c := ifc.Counters
		fmt.Fprintf(&b, "%6s: %7d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n",
			ifc.Name, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15])
	}
	return []byte(b.String()), nil
}

// genIfInet6 is /proc/net/if_inet6 (net/ipv6/addrconf.c): address,
// index, prefix length, scope and flags (permanent) in hex, and the name.
func genIfInet6(src Source, _, _ int32) ([]byte, error) {
	ifs, err := src.NetInterfaces()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, ifc := range ifs {
		for _, a := range ifc.IPv6 {
			fmt.Fprintf(&b, "%x %02x %02x %02x %02x %8s\n", a.IP[:], ifc.Index, a.PrefixLen, a.Scope, 0x80, ifc.Name)
		}
	}
	return []byte(b.String()), nil
}
