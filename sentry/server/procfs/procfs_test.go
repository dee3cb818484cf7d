package procfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// fakeSource is a Source with fixed answers.
type fakeSource struct {
	machine  *sentrypb.MachineInfo
	procs    map[int32]*Process
	maps     []Mapping
	renamed  map[int32]string
	noClient bool
	// leaseBreakTime is what SetLimit wrote.
	leaseBreakTime int
	// oomScoreAdjMin is process 1's oom_score_adj_min.
	oomScoreAdjMin int32
	// sockets are the sandbox's (Sockets).
	sockets []Socket
	// netStats are NetStats' answer (nil: EIO), hostNet HostNetFile's
	// files.
	netStats *NetStats
	hostNet  map[string][]byte
	// smaps are more smaps lines of the mapping at each start.
	smaps map[uint64]string
}

func (f *fakeSource) Machine() (*sentrypb.MachineInfo, error) {
	if f.noClient {
		return nil, unix.EIO
	}
	return f.machine, nil
}

func (f *fakeSource) Process(pid int32, threads bool) (*Process, error) {
	p, ok := f.procs[pid]
	if !ok {
		return nil, unix.ENOENT
	}
	cp := *p
	if !threads {
		cp.Threads = nil
	}
	return &cp, nil
}

func (f *fakeSource) Counts() (int, int, int, int32) { return 3, 1, 4, 42 }

func (f *fakeSource) Maps(pid int32, smaps bool) ([]Mapping, error) {
	if f.noClient {
		return nil, unix.EIO
	}
	var out []Mapping
	for _, m := range f.maps {
		if smaps {
			m.Smaps = fmt.Sprintf("Size: %d kB\n", (m.End-m.Start)/1024) + f.smaps[m.Start]
		}
		out = append(out, m)
	}
	return out, nil
}

func (f *fakeSource) MountNSIno(int32) uint64 { return 4026531840 }

func (f *fakeSource) Mounts(int32) []Mount {
	return []Mount{
		{ID: 1, Dev: unix.Mkdev(254, 1), Source: "gofer", Target: "/", FSType: "gofer", Options: "rw,relatime", Super: "rw"},
		{ID: 2, ParentID: 1, Dev: unix.Mkdev(0, 14), Source: "proc", Target: "/proc", FSType: "proc", Options: "rw,nosuid", Super: "rw"},
	}
}

func (f *fakeSource) SetComm(pid, tid int32, comm string) error {
	if f.renamed == nil {
		f.renamed = map[int32]string{}
	}
	f.renamed[tid] = comm
	return nil
}

func (f *fakeSource) SetCoredumpFilter(pid int32, mask uint32) error {
	p := f.procs[pid]
	if p == nil || p.State == 'Z' {
		return unix.ESRCH
	}
	p.CoredumpFilter = mask
	return nil
}

func (f *fakeSource) SetOOMScoreAdj(pid, adj int32, legacy, privileged bool) error {
	p := f.procs[pid]
	if p == nil {
		return unix.ESRCH
	}
	var err error
	p.OOMScoreAdj, f.oomScoreAdjMin, err = OOMScoreAdjWrite(p.OOMScoreAdj, f.oomScoreAdjMin, adj, legacy, privileged)
	return err
}

func (f *fakeSource) Limits() Limits {
	return Limits{PIDMax: 4194304, ThreadsMax: 4096, PipeMaxSize: 65536, NrOpen: 1024,
		LeaseBreakTime: f.leaseBreakTime, PipeUserPagesSoft: 16384, PipeUserPagesHard: 0}
}

func (f *fakeSource) SetLastPID(v int) error { return unix.EINVAL }

func (f *fakeSource) SetLimit(name string, v int) error {
	if name != "fs/lease-break-time" || v < 0 {
		return unix.EINVAL
	}
	f.leaseBreakTime = v
	return nil
}

func (f *fakeSource) BootID() [16]byte { return [16]byte{0: 0xab, 15: 0xcd} }

func (f *fakeSource) SysvIPC(kind string) []byte { return []byte("sysvipc " + kind + "\n") }

func (f *fakeSource) SetSysvLimit(kind string, data []byte) error { return nil }
func (f *fakeSource) CorePattern() string                         { return "core" }
func (f *fakeSource) SetCorePattern(data []byte)                  {}

func (f *fakeSource) Sockets() []Socket { return f.sockets }

func (f *fakeSource) NetStats() (*NetStats, error) {
	if f.netStats == nil {
		return nil, unix.EIO
	}
	return f.netStats, nil
}

func (f *fakeSource) HostNetFile(name string) ([]byte, bool, error) {
	b, ok := f.hostNet[name]
	return b, ok, nil
}

func (f *fakeSource) NetInterfaces() ([]NetInterface, error) {
	return []NetInterface{
		{Name: "lo", Index: 1, IPv6: []NetAddr6{{IP: [16]byte{15: 1}, PrefixLen: 128, Scope: 0x10}},
			Counters: [16]uint64{1000, 10, 1, 2, 3, 4, 5, 6, 2000, 20, 7, 8, 9, 11, 12, 13}},
		{Name: "eth0", Index: 2, Counters: [16]uint64{12345678901, 9876543, 0, 0, 0, 0, 0, 0, 42, 1, 0, 0, 0, 0, 0, 0}},
	}, nil
}

func newFake() *fakeSource {
	return &fakeSource{
		leaseBreakTime: 45,
		machine: &sentrypb.MachineInfo{MemTotal: 8 << 30, MemFree: 4 << 30, MemAvailable: 6 << 30, AppMemory: 12 << 20,
			Cpus: 2, Cpuinfo: "processor\t: 0\n\nprocessor\t: 1\n\n", UptimeNs: 12_340_000_000,
			Release: "6.1.0", Version: "#1 SMP", Hostname: []byte("box"), Domainname: []byte("(none)")},
		procs: map[int32]*Process{
			1: {PID: 1, PPID: 0, PGID: 1, SID: 1, Comm: "sh", State: 'S', Argv: []string{"sh", "-c", "x"}, Env: []string{"A=b"},
				Threads: []Thread{{TID: 1, Comm: "sh", State: 'S', UTime: 120 * time.Millisecond, STime: 30 * time.Millisecond, Nice: -5,
					SigPending: 1 << 1, SigBlocked: 1<<1 | 1<<40},
					{TID: 5, Comm: "worker", State: 'R', UTime: 2 * time.Second, Policy: 2, RTPriority: 7, CPUs: []uint64{0b1010},
						IO: IOCounts{RChar: 10, WChar: 20, SysCR: 1, SysCW: 2}}}, ExitSignal: 17, FDs: 1024,
				IO:     IOCounts{RChar: 1000, WChar: 2000, SysCR: 30, SysCW: 40},
				VMSize: 8 << 20, RSS: 1 << 20, MaxRSS: 2 << 20, Locked: 512 << 10,
				Limits: fakeLimits(), SigIgnored: 1 << 12, SigCaught: 1<<9 | 1<<33, SigQueued: 3, SigQueueLimit: 100, NrCPUs: 4},
			7: {PID: 7, PPID: 1, PGID: 1, SID: 1, Comm: "dead", State: 'Z', Argv: []string{"dead"}, ExitSignal: 17},
		},
		maps: []Mapping{
			{Start: 0x400000, End: 0x401000, Perms: 5, Offset: 0x1000, Dev: unix.Mkdev(254, 1), Ino: 99, Path: "/bin/prog"},
			{Start: 0x7f0000000000, End: 0x7f0000001000, Perms: 6, Shared: true, Path: "/dev/zero (deleted)"},
			{Start: 0x500000, End: 0x502000, Perms: 6},
		},
	}
}

// fakeLimits are a process's limits: each unlimited but RLIMIT_NOFILE
// (1024, 4096) and RLIMIT_NICE (0, 0).
func fakeLimits() []uint64 {
	l := make([]uint64, 32)
	for i := range l {
		l[i] = ^uint64(0)
	}
	l[14], l[15] = 1024, 4096
	l[26], l[27] = 0, 0
	return l
}

func TestGenerate(t *testing.T) {
	for _, c := range []struct {
		scope    Scope
		path     string
		pid, tid int32
		// want is a regexp the whole output must match.
		want string
	}{
		{Top, "meminfo", 0, 0, `(?s)^MemTotal:        8388608 kB\nMemFree:         4194304 kB\nMemAvailable:    6291456 kB\n.*AnonPages:         12288 kB\n.*Hugepagesize:       2048 kB\n$`},
		{Top, "cpuinfo", 0, 0, `^processor\t: 0\n\nprocessor\t: 1\n\n$`},
		{Top, "uptime", 0, 0, `^12\.34 0\.00\n$`},
		{Top, "loadavg", 0, 0, `^0\.00 0\.00 0\.00 1/4 42\n$`},
		{Top, "version", 0, 0, `^Linux version 6\.1\.0 \(root@runsc-decoupled\) #1 SMP\n$`},
		{Top, "stat", 0, 0, `(?s)^cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 .*\nbtime \d+\nprocesses 3\nprocs_running 1\n.*`},
		{Top, "filesystems", 0, 0, `(?m)^nodev\tproc$`},
		{Top, "sys/kernel/pid_max", 0, 0, `^4194304\n$`},
		{Top, "net/dev", 0, 0, `^Inter-\|   Receive .*\n face \|bytes .*\n    lo:    1000      10    1    2    3     4          5         6     2000      20    7    8    9    11      12         13\n  eth0: 12345678901 9876543    0    0    0     0          0         0       42       1    0    0    0     0       0          0\n$`},
		{Top, "net/if_inet6", 0, 0, `^00000000000000000000000000000001 01 80 10 80       lo\n$`},
		{Top, "sys/kernel/threads-max", 0, 0, `^4096\n$`},
		{Top, "sys/fs/pipe-max-size", 0, 0, `^65536\n$`},
		{Top, "sys/kernel/osrelease", 0, 0, `^6\.1\.0\n$`},
		{Top, "sys/kernel/hostname", 0, 0, `^box\n$`},
		{Top, "sys/kernel/domainname", 0, 0, `^\(none\)\n$`},
		{Top, "sys/kernel/ostype", 0, 0, `^Linux\n$`},
		{Top, "sys/vm/overcommit_memory", 0, 0, `^0\n$`},
		{Top, "sys/kernel/random/boot_id", 0, 0, `^ab000000-0000-4000-8000-0000000000cd\n$`},
		{Top, "sys/kernel/random/uuid", 0, 0, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$`},
		{PID, "cmdline", 1, 0, "^sh\x00-c\x00x\x00$"},
		{PID, "cmdline", 7, 0, `^$`},
		{PID, "environ", 1, 0, "^A=b\x00$"},
		{PID, "comm", 1, 0, `^sh\n$`},
		{Task, "comm", 1, 5, `^worker\n$`},
		// utime and stime (fields 14, 15) in 1/100 s: the threads' sum, or
		// the thread's.
		// priority and nice (18, 19): the leader's nice -5; rt_priority and
		// policy (40, 41): the worker's SCHED_RR 7.
		{PID, "stat", 1, 0, `^1 \(sh\) S 0 1 1 0 -1 0 0 0 0 0 212 3 0 0 15 -5 2 0 0 8388608 256 18446744073709551615( 0){5} 2 2 4096 512( 0){3} 17( 0){14}\n$`},
		{Task, "stat", 1, 5, `^5 \(worker\) R 0 1 1 0 -1 0 0 0 0 0 200 0 0 0 -8 0 2 0 0 8388608 256 18446744073709551615( 0){5} 0 0 4096 512( 0){3} 17 0 7 2( 0){11}\n$`},
		{PID, "stat", 7, 0, `^7 \(dead\) Z 1 1 1 `},
		{PID, "status", 1, 0, `(?s)^Name:\tsh\nUmask:\t0000\nState:\tS \(sleeping\)\nTgid:\t1\nNgid:\t0\nPid:\t1\nPPid:\t0\n.*Threads:\t2\n`},
		{Task, "status", 1, 5, `(?s)^Name:\tworker\n.*State:\tR \(running\)\nTgid:\t1\nNgid:\t0\nPid:\t5\n`},
		{PID, "status", 7, 0, `(?s)State:\tZ \(zombie\)\n`},
		{PID, "status", 1, 0, `(?s)\nVmSize:\t    8192 kB\nVmLck:\t     512 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n`},
		{PID, "statm", 1, 0, `^2048 256 0 0 0 0 0\n$`},
		{Top, "vmstat", 0, 0, "^nr_free_pages 1048576\nnr_inactive_anon 0\nnr_active_anon 3072\n(.*\n)*nr_anon_pages 3072\n(.*\n)*pgmajfault 0\n$"},
		// The leader's signal sets, the process's dispositions; the
		// worker's CPUs 1 and 3 of 4, the leader's every one.
		{PID, "status", 1, 0, `(?s)\nThreads:\t2\nSigQ:\t3/100\nSigPnd:\t0000000000000002\nShdPnd:\t0000000000000000\nSigBlk:\t0000010000000002\nSigIgn:\t0000000000001000\nSigCgt:\t0000000200000200\n`},
		{PID, "status", 1, 0, `(?s)\nCpus_allowed:\tf\nCpus_allowed_list:\t0-3\nMems_allowed:\t(00000000,){31}00000001\nMems_allowed_list:\t0\n`},
		{Task, "status", 1, 5, `(?s)\nSigPnd:\t0000000000000000\n.*\nSigBlk:\t0000000000000000\n.*\nCpus_allowed:\ta\nCpus_allowed_list:\t1,3\n`},
		// Fields 31-34: pending, blocked (the first 31 signals), ignored,
		// caught.
		{PID, "stat", 1, 0, `^(\S+ ){30}2 2 4096 512 `},
		{PID, "limits", 1, 0, "^Limit                     Soft Limit           Hard Limit           Units     \n" +
			"Max cpu time              unlimited            unlimited            seconds   \n(.*\n){6}" +
			"Max open files            1024                 4096                 files     \n(.*\n){5}" +
			"Max nice priority         0                    0                    \n(.*\n){2}$"},
		{Task, "limits", 1, 5, `(?s)^Limit .*Max realtime timeout      unlimited            unlimited            us        \n$`},
		{PID, "limits", 7, 0, "^Limit                     Soft Limit           Hard Limit           Units     \n$"},
		{PID, "maps", 1, 0, "^00400000-00401000 r-xp 00001000 fe:01 99                                 /bin/prog\n" +
			"7f0000000000-7f0000001000 rw-s 00000000 00:00 0                          /dev/zero \\(deleted\\)\n" +
			"00500000-00502000 rw-p 00000000 00:00 0 \n$"},
		{PID, "smaps", 1, 0, "^00400000-00401000 r-xp 00001000 fe:01 99 +/bin/prog\nSize: 4 kB\n" +
			"7f0000000000-7f0000001000 rw-s 00000000 00:00 0 +/dev/zero \\(deleted\\)\nSize: 4 kB\n" +
			"00500000-00502000 rw-p 00000000 00:00 0 \nSize: 8 kB\n$"},
		{PID, "mounts", 1, 0, "^gofer / gofer rw,relatime 0 0\nproc /proc proc rw,nosuid 0 0\n$"},
		{PID, "mountinfo", 1, 0, "^1 0 254:1 / / rw,relatime - gofer gofer rw\n2 1 0:14 / /proc rw,nosuid - proc proc rw\n$"},
		// The process's counts, a thread's own; the storage layer's 0.
		{PID, "io", 1, 0, "^rchar: 1000\nwchar: 2000\nsyscr: 30\nsyscw: 40\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n$"},
		{Task, "io", 1, 5, "^rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 0\n"},
		{PID, "cgroup", 1, 0, "^0::/\n$"},
		{Task, "cgroup", 1, 5, "^0::/\n$"},
	} {
		t.Run(c.path, func(t *testing.T) {
			b, err := Generate(newFake(), c.scope, c.path, c.pid, c.tid)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if !regexp.MustCompile(c.want).Match(b) {
				t.Errorf("got %q, want match of %q", b, c.want)
			}
		})
	}
}

func TestStatHas52Fields(t *testing.T) {
	b, err := Generate(newFake(), PID, "stat", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(string(b))); n != 52 {
		t.Errorf("stat has %d fields, want 52: %q", n, b)
	}
}

func TestErrors(t *testing.T) {
	f := newFake()
	f.noClient = true
	for _, c := range []struct {
		scope Scope
		path  string
		pid   int32
		want  unix.Errno
	}{
		{Top, "meminfo", 0, unix.EIO},
		{PID, "maps", 1, unix.EIO},
		{PID, "stat", 99, unix.ENOENT},
		{Task, "stat", 1, unix.ENOENT}, // thread 99 (tid below) does not exist
		{Top, "nonexistent", 0, unix.ENOENT},
		{Top, "sys", 0, unix.ENOENT}, // a directory has no content
	} {
		tid := int32(0)
		if c.scope == Task {
			tid = 99
		}
		if _, err := Generate(f, c.scope, c.path, c.pid, tid); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.path, err, c.want)
		}
	}
}

func TestTree(t *testing.T) {
	names := func(es []Entry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.Name)
		}
		return strings.Join(s, " ")
	}
	if got, want := names(List(Top, "sys")), "fs kernel net vm"; got != want {
		t.Errorf("sys lists %q, want %q", got, want)
	}
	if e, ok := Lookup(Top, "", "mounts"); !ok || e.Kind != Link || e.Target != "self/mounts" {
		t.Errorf("mounts = %+v, %v", e, ok)
	}
	if e, ok := Lookup(Top, "sys/kernel", "pid_max"); !ok || e.Kind != File || e.Mode != 0444 {
		t.Errorf("sys/kernel/pid_max = %+v, %v", e, ok)
	}
	if e, ok := Lookup(PID, "", "comm"); !ok || e.Mode != 0644 {
		t.Errorf("comm = %+v, %v", e, ok)
	}
	if _, ok := Lookup(Top, "sys", "nonexistent"); ok {
		t.Error("found sys/nonexistent")
	}
	if _, ok := Lookup(Top, "", "sys/kernel"); ok {
		t.Error("a name with a slash was found")
	}
}

func TestWrite(t *testing.T) {
	f := newFake()
	if _, err := Write(f, PID, "comm", 1, 0, []byte("a-very-long-thread-name\nrest"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(f, Task, "comm", 1, 5, []byte("w2"), 0); err != nil {
		t.Fatal(err)
	}
	if f.renamed[1] != "a-very-long-thr" || f.renamed[5] != "w2" {
		t.Errorf("renamed %v", f.renamed)
	}
	for _, p := range []string{"stat", "sys/kernel/pid_max"} {
		scope := Top
		if p == "stat" {
			scope = PID
		}
		if _, err := Write(f, scope, p, 1, 0, []byte("1"), 0); !errors.Is(err, unix.EACCES) {
			t.Errorf("write %s: %v, want EACCES", p, err)
		}
		if Writable(scope, p) {
			t.Errorf("%s writable", p)
		}
	}
}

// TestCoredumpFilter: /proc/<pid>/coredump_filter reads "%08x\n" and
// takes a number in C's notation, of which 9 bits count, as Linux's
// kstrtouint(..., 0) and proc_coredump_filter_write.
func TestCoredumpFilter(t *testing.T) {
	for _, tc := range []struct {
		data    string
		want    string
		wantErr error
	}{
		{data: "0x7f", want: "0000007f\n"},
		{data: "0X3\n", want: "00000003\n"},
		{data: "51", want: "00000033\n"},
		{data: "017", want: "0000000f\n"},
		{data: "0", want: "00000000\n"},
		{data: "0xfff", want: "000001ff\n"},
		{data: "0x100000000", want: "00000033\n", wantErr: unix.ERANGE},
		{data: " 1", want: "00000033\n", wantErr: unix.EINVAL},
		{data: "1\n\n", want: "00000033\n", wantErr: unix.EINVAL},
		{data: "0x", want: "00000033\n", wantErr: unix.EINVAL},
		{data: "08", want: "00000033\n", wantErr: unix.EINVAL},
		{data: "1_0", want: "00000033\n", wantErr: unix.EINVAL},
		{data: "-1", want: "00000033\n", wantErr: unix.EINVAL},
	} {
		f := newFake()
		f.procs[1].CoredumpFilter = 0x33 // a process's first mask (kernel.DefaultCoredumpFilter)
		if _, err := Write(f, PID, "coredump_filter", 1, 0, []byte(tc.data), 0); !errors.Is(err, tc.wantErr) && err != tc.wantErr {
			t.Errorf("write %q: %v, want %v", tc.data, err, tc.wantErr)
		}
		if got, err := Generate(f, PID, "coredump_filter", 1, 0); err != nil || string(got) != tc.want {
			t.Errorf("after writing %q: %q, %v; want %q", tc.data, got, err, tc.want)
		}
	}
	f := newFake()
	if _, err := Write(f, PID, "coredump_filter", 7, 0, []byte("1"), 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("write of a zombie's: %v, want ESRCH", err)
	}
	if got, err := Generate(f, PID, "coredump_filter", 7, 0); err != nil || len(got) != 0 {
		t.Errorf("a zombie's: %q, %v; want empty", got, err)
	}
	if _, ok := Lookup(Task, "", "coredump_filter"); ok {
		t.Error("task/<tid>/coredump_filter exists (Linux has it per process only)")
	}
}

func TestWriteLimit(t *testing.T) {
	for _, tc := range []struct {
		data    string
		want    int
		wantErr error
	}{
		{data: "30\n", want: 30},
		{data: " 7 ", want: 7},
		{data: "abc", want: 45, wantErr: unix.EINVAL},
		{data: "", want: 45, wantErr: unix.EINVAL},
		{data: "-1", want: 45, wantErr: unix.EINVAL},
	} {
		f := newFake()
		_, err := Write(f, Top, "sys/fs/lease-break-time", 1, 0, []byte(tc.data), 0)
		if !errors.Is(err, tc.wantErr) && err != tc.wantErr {
			t.Errorf("write %q: %v, want %v", tc.data, err, tc.wantErr)
		}
		got, err := Generate(f, Top, "sys/fs/lease-break-time", 1, 0)
		if err != nil || string(got) != strconv.Itoa(tc.want)+"\n" {
			t.Errorf("after writing %q: %q, %v; want %d", tc.data, got, err, tc.want)
		}
	}
	if !Writable(Top, "sys/fs/lease-break-time") || !Writable(Top, "sys/fs/pipe-max-size") {
		t.Error("lease-break-time and pipe-max-size must be writable")
	}
	for _, p := range []string{"sys/fs/pipe-user-pages-soft", "sys/kernel/core_pattern"} {
		if _, err := Generate(newFake(), Top, p, 1, 0); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestPagemap: pagemap's entries by range: present (and PM_FILE for a
// file's or shared pages) inside the mappings, zero outside, Linux's
// EINVAL for a range not in whole entries, nothing past the last address,
// at most maxPagemapRead bytes a read.
func TestPagemap(t *testing.T) {
	f := newFake()
	entry := func(addr uint64) int64 { return int64(addr / pageSize * pagemapEntry) }
	for _, tc := range []struct {
		name    string
		off     int64
		n       int
		want    []uint64
		wantLen int
		wantErr error
	}{
		{name: "around a file page", off: entry(0x3ff000), n: 24, want: []uint64{0, pmPresent | pmFile, 0}},
		{name: "anonymous pages", off: entry(0x500000), n: 24, want: []uint64{pmPresent, pmPresent, 0}},
		{name: "shared anonymous", off: entry(0x7f0000000000), n: 8, want: []uint64{pmPresent | pmFile}},
		{name: "odd offset", off: 4, n: 8, wantErr: unix.EINVAL},
		{name: "odd size", off: 0, n: 12, wantErr: unix.EINVAL},
		{name: "past the end", off: entry(taskSize), n: 8},
		{name: "a large read is cut", off: 0, n: 1 << 30, wantLen: maxPagemapRead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ReadAt(f, PID, "pagemap", 1, 0, tc.off, tc.n)
			if !errors.Is(err, tc.wantErr) && err != tc.wantErr {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if tc.wantLen != 0 {
				if len(b) != tc.wantLen {
					t.Errorf("read %d bytes, want %d", len(b), tc.wantLen)
				}
				return
			}
			var got []uint64
			for i := 0; i+8 <= len(b); i += 8 {
				got = append(got, binary.LittleEndian.Uint64(b[i:]))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("entries %x, want %x", got, tc.want)
			}
		})
	}
	if !Ranged(PID, "pagemap") || !Ranged(Task, "pagemap") || Ranged(PID, "maps") {
		t.Error("pagemap (and only it) is read by range")
	}
}

// TestDropCaches: /proc/sys/vm/drop_caches takes 1 to 4 and cannot be
// read.
func TestDropCaches(t *testing.T) {
	f := newFake()
	for _, tc := range []struct {
		data    string
		wantErr error
	}{
		{"3\n", nil}, {"1", nil}, {"4", nil}, {"0", unix.EINVAL}, {"5", unix.EINVAL}, {"x", unix.EINVAL}, {"", unix.EINVAL},
	} {
		if _, err := Write(f, Top, "sys/vm/drop_caches", 1, 0, []byte(tc.data), 0); !errors.Is(err, tc.wantErr) && err != tc.wantErr {
			t.Errorf("write %q: %v, want %v", tc.data, err, tc.wantErr)
		}
	}
	if Readable(Top, "sys/vm/drop_caches") || !Writable(Top, "sys/vm/drop_caches") {
		t.Error("drop_caches must be write-only")
	}
	if e, ok := Lookup(Top, "sys/vm", "drop_caches"); !ok || e.Mode != 0200 {
		t.Errorf("drop_caches: %+v %v, want mode 0200", e, ok)
	}
}

// TestOOMScoreAdj: oom_score_adj and oom_adj take Linux's kstrtoint of
// at most 12 bytes, bounded as oom_score_adj_write and oom_adj_write,
// under __set_oom_adj's CAP_SYS_RESOURCE rules, and read back as
// oom_adj_read; oom_score weighs the resident set and the adjustment as
// proc_oom_score.
func TestOOMScoreAdj(t *testing.T) {
	const capRes = 1 << unix.CAP_SYS_RESOURCE
	f := newFake()
	for _, tc := range []struct {
		file     string
		data     string
		caps     uint64
		wantN    int
		wantErr  error
		want     string // oom_score_adj after
		wantAdj  string // oom_adj after
		wantMin  int32
		wantScor string // oom_score after
	}{
		{file: "oom_score_adj", data: "500\n", wantN: 4, want: "500\n", wantAdj: "8\n", wantScor: "1000\n"},
		{file: "oom_score_adj", data: "100", wantN: 3, want: "100\n", wantAdj: "1\n", wantScor: "733\n"},
		// Below oom_score_adj_min (0) without CAP_SYS_RESOURCE.
		{file: "oom_score_adj", data: "-1", wantErr: unix.EACCES, want: "100\n", wantAdj: "1\n", wantScor: "733\n"},
		{file: "oom_score_adj", data: "1001", wantErr: unix.EINVAL, want: "100\n", wantAdj: "1\n", wantScor: "733\n"},
		{file: "oom_score_adj", data: "-1001", caps: capRes, wantErr: unix.EINVAL, want: "100\n", wantAdj: "1\n", wantScor: "733\n"},
		{file: "oom_score_adj", data: "1x", wantErr: unix.EINVAL, want: "100\n", wantAdj: "1\n", wantScor: "733\n"},
		{file: "oom_score_adj", data: "", wantErr: unix.EINVAL, want: "100\n", wantAdj: "1\n", wantScor: "733\n"},
		{file: "oom_score_adj", data: "0x", wantErr: unix.EINVAL, want: "100\n", wantAdj: "1\n", wantScor: "733\n"},
		{file: "oom_score_adj", data: "99999999999", wantErr: unix.ERANGE, want: "100\n", wantAdj: "1\n", wantScor: "733\n"},
		// Spaces around, hex, octal, a sign, a NUL ending the text.
		{file: "oom_score_adj", data: " \t0x20 \n", wantN: 8, want: "32\n", wantAdj: "0\n", wantScor: "688\n"},
		{file: "oom_score_adj", data: "+010", wantN: 4, want: "8\n", wantAdj: "0\n", wantScor: "672\n"},
		{file: "oom_score_adj", data: "7\x00junk", wantN: 6, want: "7\n", wantAdj: "0\n", wantScor: "671\n"},
		// Only 12 bytes count, and the write says so.
		{file: "oom_score_adj", data: "0000000000000009", wantN: 12, want: "0\n", wantAdj: "0\n", wantScor: "666\n"},
		// A privileged write sets the minimum, lowering or raising it.
		{file: "oom_score_adj", data: "-500", caps: capRes, wantN: 4, want: "-500\n", wantAdj: "-8\n", wantMin: -500, wantScor: "334\n"},
		{file: "oom_score_adj", data: "-400", wantN: 4, want: "-400\n", wantAdj: "-6\n", wantMin: -500, wantScor: "400\n"},
		{file: "oom_score_adj", data: "-500", wantN: 4, want: "-500\n", wantAdj: "-8\n", wantMin: -500, wantScor: "334\n"},
		{file: "oom_score_adj", data: "200", caps: capRes, wantN: 3, want: "200\n", wantAdj: "3\n", wantMin: 200, wantScor: "800\n"},
		{file: "oom_score_adj", data: "100", wantErr: unix.EACCES, want: "200\n", wantAdj: "3\n", wantMin: 200, wantScor: "800\n"},
		// oom_adj: scaled by 1000/17, 15 to 1000; lowering it below the
		// current value takes CAP_SYS_RESOURCE, and it leaves the
		// minimum alone.
		{file: "oom_adj", data: "15", wantN: 2, want: "1000\n", wantAdj: "15\n", wantMin: 200, wantScor: "1333\n"},
		{file: "oom_adj", data: "14", wantErr: unix.EACCES, want: "1000\n", wantAdj: "15\n", wantMin: 200, wantScor: "1333\n"},
		{file: "oom_adj", data: "16", wantErr: unix.EINVAL, want: "1000\n", wantAdj: "15\n", wantMin: 200, wantScor: "1333\n"},
		{file: "oom_adj", data: "-17", caps: capRes, wantN: 3, want: "-1000\n", wantAdj: "-17\n", wantMin: 200, wantScor: "0\n"},
		{file: "oom_adj", data: "-18", caps: capRes, wantErr: unix.EINVAL, want: "-1000\n", wantAdj: "-17\n", wantMin: 200, wantScor: "0\n"},
		{file: "oom_adj", data: "-16", wantN: 3, want: "-941\n", wantAdj: "-15\n", wantMin: 200, wantScor: "40\n"},
		{file: "oom_adj", data: "3", wantN: 1, want: "176\n", wantAdj: "2\n", wantMin: 200, wantScor: "784\n"},
	} {
		n, err := Write(f, PID, tc.file, 1, 0, []byte(tc.data), tc.caps)
		if !errors.Is(err, tc.wantErr) && err != tc.wantErr || n != tc.wantN {
			t.Errorf("write %s %q: %d, %v; want %d, %v", tc.file, tc.data, n, err, tc.wantN, tc.wantErr)
		}
		for _, r := range []struct{ file, want string }{{"oom_score_adj", tc.want}, {"oom_adj", tc.wantAdj}, {"oom_score", tc.wantScor}} {
			if got, err := Generate(f, PID, r.file, 1, 0); err != nil || string(got) != r.want {
				t.Errorf("after %s %q: %s %q, %v; want %q", tc.file, tc.data, r.file, got, err, r.want)
			}
			if got, err := Generate(f, Task, r.file, 1, 5); err != nil || string(got) != r.want {
				t.Errorf("after %s %q: task/5/%s %q, %v; want %q", tc.file, tc.data, r.file, got, err, r.want)
			}
		}
		if f.oomScoreAdjMin != tc.wantMin {
			t.Errorf("after %s %q: oom_score_adj_min %d, want %d", tc.file, tc.data, f.oomScoreAdjMin, tc.wantMin)
		}
	}
	// A resident set of an eighth of the memory weighs 125 of 1000.
	f = newFake()
	f.procs[1].RSS = 1 << 30
	if got, err := Generate(f, PID, "oom_score", 1, 0); err != nil || string(got) != "750\n" {
		t.Errorf("oom_score with 1 GiB of 8 resident: %q, %v; want 750", got, err)
	}
	// A zombie has no address space to weigh.
	if got, err := Generate(f, PID, "oom_score", 7, 0); err != nil || string(got) != "0\n" {
		t.Errorf("a zombie's oom_score: %q, %v; want 0", got, err)
	}
	for _, name := range []string{"oom_score_adj", "oom_adj"} {
		if e, ok := Lookup(PID, "", name); !ok || e.Mode != 0644 {
			t.Errorf("%s: %+v, %v; want mode 0644", name, e, ok)
		}
	}
	if e, ok := Lookup(Task, "", "oom_score"); !ok || e.Mode != 0444 || Writable(Task, "oom_score") {
		t.Errorf("task oom_score: %+v, %v; want read-only 0444", e, ok)
	}
}
