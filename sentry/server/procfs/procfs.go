package procfs

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ptrace"
)

// Source is what /proc shows, as the server sees it. Methods return
// errors wrapping a unix.Errno.
type Source interface {
	// Machine describes the client machine (asked of the client).
	Machine() (*sentrypb.MachineInfo, error)
	// Process describes process pid, zombies included; with threads, it
	// also fills Process.Threads and the states (asking the client).
	Process(pid int32, threads bool) (*Process, error)
	// Counts returns the number of processes, of runnable threads and of
	// threads, and the last PID handed out.
	Counts() (procs, running, threads int, lastPID int32)
	// Maps returns process pid's mappings (asked of the client), with
	// their smaps lines if smaps.
	Maps(pid int32, smaps bool) ([]Mapping, error)
	// Mounts returns the mounts of process pid's mount namespace.
	Mounts(pid int32) []Mount
	// MountNSIno returns the inode number of process pid's mount
	// namespace (/proc/<pid>/ns/mnt).
	MountNSIno(pid int32) uint64
	// SetComm renames thread tid of process pid.
	SetComm(pid, tid int32, comm string) error
	// SetCoredumpFilter sets process pid's coredump_filter mask.
	SetCoredumpFilter(pid int32, mask uint32) error
	// SetOOMScoreAdj sets process pid's oom_score_adj to adj (checked to
	// be in -1000..1000) as Linux's __set_oom_adj: a writer without
	// CAP_SYS_RESOURCE (privileged false) may not lower it below
	// oom_score_adj_min (legacy false: oom_score_adj) or below its
	// current value (legacy: oom_adj), EACCES; a privileged write of
	// oom_score_adj also sets oom_score_adj_min to adj.
	SetOOMScoreAdj(pid, adj int32, legacy, privileged bool) error
	// Limits gives the numbers /proc/sys shows.
	Limits() Limits
	// SetLastPID sets kernel/ns_last_pid, the last pid handed out.
	SetLastPID(v int) error
	// SetLimit sets a writable /proc/sys number (by its path under
	// /proc/sys, such as "fs/lease-break-time").
	SetLimit(name string, value int) error
	// BootID is the sandbox's boot id: 16 bytes, stable for its life.
	BootID() [16]byte
	// SysvIPC renders /proc/sysvipc/<kind> ("msg", "sem", "shm") or
	// the limit /proc/sys/kernel/<kind> ("msgmni", "shmmni", "shmmax",
	// "shmall") or next id ("msg_next_id", "sem_next_id",
	// "shm_next_id").
	SysvIPC(kind string) []byte
	// SetSysvLimit writes /proc/sys/kernel/<kind> (the limits and next
	// ids above).
	SetSysvLimit(kind string, data []byte) error
	// CorePattern is /proc/sys/kernel/core_pattern; SetCorePattern
	// takes a write of it.
	CorePattern() string
	SetCorePattern(data []byte)
	// NetInterfaces lists the sandbox's network interfaces (/proc/net).
	NetInterfaces() ([]NetInterface, error)
	// Sockets lists the sandbox's open sockets, in a stable order
	// (/proc/net/tcp, udp, unix).
	Sockets() []Socket
	// NetStats counts the sandbox's network's sockets and packets
	// (/proc/net/sockstat, snmp, netstat and their IPv6 twins).
	NetStats() (*NetStats, error)
	// HostNetFile is the server machine's /proc/net/<name> when the
	// sandbox uses the machine's network (ok true), shown as it is.
	HostNetFile(name string) (data []byte, ok bool, err error)
}

// NetInterface is a network interface as /proc/net/dev and if_inet6
// show it.
type NetInterface struct {
	Name  string
	Index int32
	IPv6  []NetAddr6
	// Counters are /proc/net/dev's columns, in its order: received
	// bytes, packets, errs, drop, fifo, frame, compressed, multicast;
	// sent bytes, packets, errs, drop, fifo, colls, carrier, compressed.
	Counters [16]uint64
}

// NetAddr6 is an IPv6 address of an interface; Scope is Linux's
// IFA_HOST (0x10), IFA_LINK (0x20) or 0 (global).
type NetAddr6 struct {
	IP        [16]byte
	PrefixLen int
	Scope     uint8
}

// Process is one process.
type Process struct {
	PID, PPID, PGID, SID int32
	// TracerPID is the pid of the process tracing the leader (0: none).
	TracerPID int32
	// Comm is the name of the thread group leader.
	Comm string
	// State is the leader's: 'R', 'S', 'T' (stopped), 't' (in a
	// ptrace-stop) or 'Z'.
	State byte
	// Threads are the live threads (when asked for), by TID.
	Threads []Thread
	// UID and GID: real, effective, saved, filesystem.
	UID, GID [4]uint32
	// Groups are the supplementary groups.
	Groups []uint32
	// CapInh, CapPrm, CapEff, CapBnd and CapAmb are the capability sets
	// (bit n is capability n).
	CapInh, CapPrm, CapEff, CapBnd, CapAmb uint64
	Argv, Env                              []string
	Umask                                  uint32
	// CoredumpFilter is its coredump_filter mask.
	CoredumpFilter uint32
	// OOMScoreAdj is its oom_score_adj.
	OOMScoreAdj int32
	FDs         int
	ExitSignal  int32
	// VMSize, RSS and MaxRSS are the address space's size and resident
	// set, current and peak, in bytes (known when threads were asked for).
	VMSize, RSS, MaxRSS uint64
	// Locked is the resident part of its mlocked mappings (VmLck).
	Locked uint64
	// Personality is its personality(2) value, Auxv its last exec's
	// auxiliary vector as /proc/<pid>/auxv shows it (known when threads
	// were asked for).
	Personality uint32
	Auxv        []byte
	// SigIgnored and SigCaught are the signals its dispositions ignore
	// and catch (bit n-1 for signal n: SigIgn, SigCgt).
	SigIgnored, SigCaught uint64
	// SigQueued is the signals queued for its real user, SigQueueLimit
	// its RLIMIT_SIGPENDING (SigQ; known when threads were asked for).
	SigQueued, SigQueueLimit uint64
	// NrCPUs is the client machine's CPU count, the width of the
	// threads' CPUs (known when threads were asked for).
	NrCPUs int
	// Limits are its resource limits, soft and hard of each in Linux's
	// order (known when threads were asked for).
	Limits []uint64
	// IO is its read and write accounting: its threads', live and
	// exited, and its reaped children's (known when threads were asked
	// for).
	IO IOCounts
}

// IOCounts are the read and write counts the client keeps (Linux's
// task_io_accounting less the storage layer's).
type IOCounts struct {
	// RChar and WChar are the bytes read and written by read- and
	// write-family calls, SysCR and SysCW the calls.
	RChar, WChar, SysCR, SysCW uint64
}

// Thread is one thread.
type Thread struct {
	TID   int32
	Comm  string
	State byte
	// UTime and STime are its CPU times (measured by the client).
	UTime, STime time.Duration
	// Seccomp is its seccomp mode (0, 1 strict, 2 filter) and
	// NoNewPrivs its no_new_privs bit (kept by the client).
	Seccomp    uint32
	NoNewPrivs bool
	// Nice, Policy and RTPriority are its scheduling attributes.
	Nice               int32
	Policy, RTPriority uint32
	// TimerSlack is its timer slack in nanoseconds.
	TimerSlack uint64
	// SigPending and SigBlocked are its pending signals and its signal
	// mask (kept by the client: SigPnd, SigBlk).
	SigPending, SigBlocked uint64
	// CPUs is its CPU affinity, 64 CPUs a word, lowest first (nil: not
	// known, every CPU).
	CPUs []uint64
	// IO is its read and write accounting (kept by the client).
	IO IOCounts
	// Syscall is the system call it waits in: number, six arguments,
	// stack and instruction pointers (nil: running; from the client).
	Syscall []uint64
}

// Mapping is one VMA, with the device, inode and path of the file it maps.
type Mapping struct {
	Start, End uint64
	// Perms: 4 read, 2 write, 1 execute.
	Perms    uint32
	Shared   bool
	Offset   uint64
	Dev, Ino uint64
	Path     string
	// Smaps are the smaps lines after the header (when asked for).
	Smaps string
}

// Mount is one mount of the namespace.
type Mount struct {
	ID, ParentID int
	Dev          uint64
	Source       string
	Target       string
	// Root is the path, in its file system, of the mount's root ("" for
	// "/"; a bind mount's source).
	Root   string
	FSType string
	// Options are the per-mount options; Super the filesystem's (with
	// rw or ro first); FSOptions the file system's own options
	// (",size=1024k,mode=755"), which /proc/<pid>/mounts appends to
	// Options.
	Options, Super, FSOptions string
	// Optional are mountinfo's optional fields (" shared:1").
	Optional string
}

// Limits are the numbers /proc/sys shows.
type Limits struct {
	PIDMax, ThreadsMax, PipeMaxSize, NrOpen int
	// CoreUsesPID is kernel/core_uses_pid.
	CoreUsesPID int
	// LeaseBreakTime is fs/lease-break-time (seconds); PipeUserPagesSoft
	// and PipeUserPagesHard are fs/pipe-user-pages-{soft,hard}.
	LeaseBreakTime, PipeUserPagesSoft, PipeUserPagesHard int
	// IPForward is net/ipv4/ip_forward (0 or 1).
	IPForward int
	// MqQueuesMax, MqMsgMax, MqMsgSizeMax, MqMsgDefault and
	// MqMsgSizeDefault are fs/mqueue's queues_max, msg_max, msgsize_max,
	// msg_default and msgsize_default (package mqueue enforces them).
	MqQueuesMax, MqMsgMax, MqMsgSizeMax, MqMsgDefault, MqMsgSizeDefault int
}

// Kind is what a name in /proc is.
type Kind int

const (
	File Kind = iota
	Dir
	Link
)

// Entry is one name in a /proc directory.
type Entry struct {
	Name string
	Kind Kind
	// Mode is the permission bits.
	Mode uint32
	// Target is a Link's text.
	Target string
}

// Scope says which table a path belongs to: the top of /proc, a process
// directory (/proc/<pid>), or a thread directory (/proc/<pid>/task/<tid>).
type Scope int

const (
	Top Scope = iota
	PID
	Task
)

type fileSpec struct {
	kind   Kind
	mode   uint32
	target string
	// gen renders the file; write, when set, accepts a write; readAt,
	// set instead of gen, reads a file too large to render by range.
	gen   func(src Source, pid, tid int32) ([]byte, error)
	write func(src Source, pid, tid int32, data []byte) error
	// capWrite, set instead of write, accepts a write whose effect
	// depends on the writer's capabilities (writerCaps: its effective
	// set), as oom_score_adj's on CAP_SYS_RESOURCE, and which may take
	// less than all of data (it returns how much).
	capWrite func(src Source, pid, tid int32, data []byte, writerCaps uint64) (int, error)
	readAt   func(src Source, pid, tid int32, off int64, n int) ([]byte, error)
	// linkGen, set instead of target, renders a Link's text for
	// process pid (LinkTarget).
	linkGen func(src Source, pid int32) string
	// writeCaps, when not 0, are the capabilities (a mask of 1<<CAP_*)
	// of which the writer needs one at the write, whatever the mode
	// (WriteCaps).
	writeCaps uint64
	// openWriteCaps, when not 0, are the capabilities of which an opener
	// for writing needs one whatever the mode says (EACCES without:
	// OpenWriteCaps).
	openWriteCaps uint64
}

// tables map a path relative to the scope's directory to its file. A
// directory is implied by the paths under it, unless listed (live
// directories such as fd/ and task/ are the server's).
var tables = map[Scope]map[string]fileSpec{
	Top: {
		"config.gz":   {gen: genConfigGz},
		"cpuinfo":     {gen: genCPUInfo},
		"filesystems": {gen: genFilesystems},
		"loadavg":     {gen: genLoadavg},
		"meminfo":     {gen: genMeminfo},
		"vmstat":      {gen: genVmstat},
		"mounts":      {kind: Link, target: "self/mounts"},
		"stat":        {gen: genStat},
		"uptime":      {gen: genUptime},
		"version":     {gen: genVersion},

		"sys/fs/nr_open":              {mode: 0644, gen: limit(func(l Limits) int { return l.NrOpen }), write: writeLimit("fs/nr_open")},
		"sys/fs/pipe-max-size":        {mode: 0644, gen: limit(func(l Limits) int { return l.PipeMaxSize }), write: writeLimit("fs/pipe-max-size")},
		"sys/fs/lease-break-time":     {mode: 0644, gen: limit(func(l Limits) int { return l.LeaseBreakTime }), write: writeLimit("fs/lease-break-time")},
		"sys/fs/pipe-user-pages-soft": {gen: limit(func(l Limits) int { return l.PipeUserPagesSoft })},
		"sys/fs/pipe-user-pages-hard": {gen: limit(func(l Limits) int { return l.PipeUserPagesHard })},
		"sys/net/ipv4/ip_forward":     {mode: 0644, gen: limit(func(l Limits) int { return l.IPForward }), write: writeLimit("net/ipv4/ip_forward")},
		"sys/kernel/core_pattern":     {mode: 0644, gen: genCorePattern, write: writeCorePattern},
		"sys/kernel/core_uses_pid":    {mode: 0644, gen: limit(func(l Limits) int { return l.CoreUsesPID }), write: writeLimit("kernel/core_uses_pid")},
		"sys/kernel/hostname":         {gen: machineField(func(m *sentrypb.MachineInfo) string { return string(m.Hostname) })},
		"sys/kernel/domainname":       {gen: machineField(func(m *sentrypb.MachineInfo) string { return string(m.Domainname) })},
		"sys/kernel/ngroups_max":      {gen: constant("65536\n")},
		"sys/kernel/osrelease":        {gen: machineField(func(m *sentrypb.MachineInfo) string { return m.Release })},
		"sys/kernel/ostype":           {gen: constant("Linux\n")},
		"sys/kernel/pid_max":          {gen: limit(func(l Limits) int { return l.PIDMax })},
		// 0666, the writer's CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE
		// checked at the write (Linux's pid_ns_ctl_handler).
		"sys/kernel/ns_last_pid": {mode: 0666, gen: genNsLastPID, write: writeNsLastPID,
			writeCaps: 1<<unix.CAP_SYS_ADMIN | 1<<unix.CAP_CHECKPOINT_RESTORE},
		"sys/kernel/tainted":           {gen: constant("0\n")},
		"sys/kernel/threads-max":       {gen: limit(func(l Limits) int { return l.ThreadsMax })},
		"sys/kernel/version":           {gen: machineField(func(m *sentrypb.MachineInfo) string { return m.Version })},
		"sys/vm/overcommit_memory":     {gen: constant("0\n")},
		"sys/vm/max_map_count":         {gen: constant("65530\n")},
		"sys/kernel/yama/ptrace_scope": {gen: constant(strconv.Itoa(ptrace.YamaScope) + "\n")},
		"sys/kernel/random/boot_id":    {gen: genBootID},
		"sys/kernel/random/uuid":       {gen: genUUID},
		// POSIX message queue limits (package mqueue enforces them).
		"sys/fs/mqueue/queues_max":      {mode: 0644, gen: limit(func(l Limits) int { return l.MqQueuesMax }), write: writeLimit("fs/mqueue/queues_max")},
		"sys/fs/mqueue/msg_max":         {mode: 0644, gen: limit(func(l Limits) int { return l.MqMsgMax }), write: writeLimit("fs/mqueue/msg_max")},
		"sys/fs/mqueue/msgsize_max":     {mode: 0644, gen: limit(func(l Limits) int { return l.MqMsgSizeMax }), write: writeLimit("fs/mqueue/msgsize_max")},
		"sys/fs/mqueue/msg_default":     {mode: 0644, gen: limit(func(l Limits) int { return l.MqMsgDefault }), write: writeLimit("fs/mqueue/msg_default")},
		"sys/fs/mqueue/msgsize_default": {mode: 0644, gen: limit(func(l Limits) int { return l.MqMsgSizeDefault }), write: writeLimit("fs/mqueue/msgsize_default")},
		// System V IPC limits (package sysvipc enforces them) and objects.
		"sys/kernel/msgmax": {gen: constant("8192\n")},
		"sys/kernel/msgmnb": {gen: constant("16384\n")},
		"sys/kernel/msgmni": {mode: 0644, gen: sysvIPC("msgmni"), write: writeSysvIPC("msgmni")},
		"sys/kernel/sem":    {gen: constant("32000\t1024000000\t500\t32000\n")},
		"sys/kernel/shmall": {mode: 0644, gen: sysvIPC("shmall"), write: writeSysvIPC("shmall")},
		"sys/kernel/shmmax": {mode: 0644, gen: sysvIPC("shmmax"), write: writeSysvIPC("shmmax")},
		"sys/kernel/shmmni": {mode: 0644, gen: sysvIPC("shmmni"), write: writeSysvIPC("shmmni")},
		// The ids the next objects made get (CONFIG_CHECKPOINT_RESTORE):
		// 0444, writable by an opener with CAP_SYS_ADMIN or
		// CAP_CHECKPOINT_RESTORE (Linux's ipc_permissions makes them
		// 0666 for it alone).
		"sys/kernel/msg_next_id": nextIDFile("msg_next_id"),
		"sys/kernel/sem_next_id": nextIDFile("sem_next_id"),
		"sys/kernel/shm_next_id": nextIDFile("shm_next_id"),
		// No huge pages: a write is taken, and reading back says 0.
		"sys/vm/nr_hugepages": {mode: 0644, gen: constant("0\n"), write: func(Source, int32, int32, []byte) error { return nil }},
		// Root's write of 1 to 4 is taken (the caches it names are the
		// host's and the server's, which drop what they need to
		// themselves); write-only, as Linux's.
		"sys/vm/drop_caches": {mode: 0200, write: writeDropCaches},
		"net/dev":            {gen: genNetDev},
		"net/if_inet6":       {gen: genIfInet6},
		"net/tcp":            {gen: genNetInet(unix.AF_INET, netTCP)},
		"net/tcp6":           {gen: genNetInet(unix.AF_INET6, netTCP)},
		"net/udp":            {gen: genNetInet(unix.AF_INET, netUDP)},
		"net/udp6":           {gen: genNetInet(unix.AF_INET6, netUDP)},
		"net/unix":           {gen: genNetUnix},
		"net/sockstat":       {gen: netFile("sockstat", genSockstat)},
		"net/sockstat6":      {gen: netFile("sockstat6", genSockstat6)},
		"net/snmp":           {gen: netFile("snmp", genSnmp)},
		"net/snmp6":          {gen: netFile("snmp6", genSnmp6)},
		"net/netstat":        {gen: netFile("netstat", genNetstat)},
		"sysvipc/msg":        {gen: sysvIPC("msg")},
		"sysvipc/sem":        {gen: sysvIPC("sem")},
		"sysvipc/shm":        {gen: sysvIPC("shm")},
	},
	PID: {
		"cmdline":         {gen: genCmdline},
		"comm":            {mode: 0644, gen: genComm, write: writeComm},
		"coredump_filter": {mode: 0644, gen: genCoredumpFilter, write: writeCoredumpFilter},
		"environ":         {mode: 0400, gen: genEnviron},
		"maps":            {gen: genMaps},
		"smaps":           {gen: genSmaps},
		"mountinfo":       {gen: genMountinfo},
		"mounts":          {gen: genMounts},
		"limits":          {gen: genLimits},
		"io":              {mode: 0400, gen: genIO},
		// The sandbox is its own cgroup namespace's root (cgroup v2).
		"cgroup": {gen: constant("0::/\n")},
		// Per process (Linux's signal_struct), in task/<tid>/ too.
		"oom_adj":       {mode: 0644, gen: genOOMAdj, capWrite: writeOOMAdj},
		"oom_score":     {gen: genOOMScore},
		"oom_score_adj": {mode: 0644, gen: genOOMScoreAdj, capWrite: writeOOMScoreAdj},
		// The one namespace the sandbox has (Linux's ns/ holds each
		// kind; opening them, setns's argument, is not served).
		"ns/mnt":  {kind: Link, linkGen: linkMntNS},
		"pagemap": {mode: 0400, readAt: readPagemap},
		"statm":   {gen: genStatm},
		"stat":    {gen: genPidStat},
		"status":  {gen: genStatus},
		// Read-only here (Linux lets a process with CAP_SYS_NICE set
		// another's; prctl sets one's own).
		"timerslack_ns": {mode: 0444, gen: genTimerSlack},
		"auxv":          {mode: 0400, gen: genAuxv},
		"personality":   {mode: 0400, gen: genPersonality},
		"schedstat":     {gen: genSchedstat},
		"smaps_rollup":  {gen: genSmapsRollup},
		"syscall":       {mode: 0400, gen: genSyscall},
		"wchan":         {gen: genWchan},
	},
	Task: {
		"cmdline":       {gen: genCmdline},
		"comm":          {mode: 0644, gen: genComm, write: writeComm},
		"environ":       {mode: 0400, gen: genEnviron},
		"io":            {mode: 0400, gen: genIO},
		"cgroup":        {gen: constant("0::/\n")},
		"limits":        {gen: genLimits},
		"maps":          {gen: genMaps},
		"oom_adj":       {mode: 0644, gen: genOOMAdj, capWrite: writeOOMAdj},
		"oom_score":     {gen: genOOMScore},
		"oom_score_adj": {mode: 0644, gen: genOOMScoreAdj, capWrite: writeOOMScoreAdj},
		"pagemap":       {mode: 0400, readAt: readPagemap},
		"smaps":         {gen: genSmaps},
		"stat":          {gen: genPidStat},
		"statm":         {gen: genStatm},
		"status":        {gen: genStatus},
		"auxv":          {mode: 0400, gen: genAuxv},
		"personality":   {mode: 0400, gen: genPersonality},
		"schedstat":     {gen: genSchedstat},
		"smaps_rollup":  {gen: genSmapsRollup},
		"syscall":       {mode: 0400, gen: genSyscall},
		"wchan":         {gen: genWchan},
	},
}

// Lookup finds name in directory dir ("" for the scope's top) of scope.
func Lookup(scope Scope, dir, name string) (Entry, bool) {
	for _, e := range List(scope, dir) {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// List lists directory dir of scope, sorted by name.
func List(scope Scope, dir string) []Entry {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	seen := map[string]bool{}
	var out []Entry
	for p, spec := range tables[scope] {
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		rest := p[len(prefix):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			if n := rest[:i]; !seen[n] {
				seen[n] = true
				out = append(out, Entry{Name: n, Kind: Dir, Mode: 0555})
			}
			continue
		}
		mode := spec.mode
		switch {
		case spec.kind == Link:
			mode = 0777
		case mode == 0:
			mode = 0444
		}
		out = append(out, Entry{Name: rest, Kind: spec.kind, Mode: mode, Target: spec.target})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LinkTarget returns the text of Link path of scope for process pid when
// it is rendered per process (ns/mnt), and whether it is.
func LinkTarget(src Source, scope Scope, path string, pid int32) (string, bool) {
	spec, ok := tables[scope][path]
	if !ok || spec.linkGen == nil {
		return "", false
	}
	return spec.linkGen(src, pid), true
}

// linkMntNS is /proc/<pid>/ns/mnt's text, as Linux's ns_get_name.
func linkMntNS(src Source, pid int32) string {
	return "mnt:[" + strconv.FormatUint(src.MountNSIno(pid), 10) + "]"
}

// Generate renders file path of scope (for process pid and thread tid in
// the PID and Task scopes; tid is 0 in the PID scope).
func Generate(src Source, scope Scope, path string, pid, tid int32) ([]byte, error) {
	spec, ok := tables[scope][path]
	if !ok || spec.gen == nil {
		return nil, unix.ENOENT
	}
	return spec.gen(src, pid, tid)
}

// Ranged says whether file path of scope is read by range (ReadAt), not
// rendered whole (Generate).
func Ranged(scope Scope, path string) bool {
	return tables[scope][path].readAt != nil
}

// ReadAt reads n bytes at off of file path of scope, one that is Ranged.
func ReadAt(src Source, scope Scope, path string, pid, tid int32, off int64, n int) ([]byte, error) {
	spec, ok := tables[scope][path]
	if !ok || spec.readAt == nil {
		return nil, unix.ENOENT
	}
	return spec.readAt(src, pid, tid, off, n)
}

// Readable says whether file path of scope can be read (opened for
// reading): not a write-only one.
func Readable(scope Scope, path string) bool {
	spec := tables[scope][path]
	return spec.gen != nil || spec.readAt != nil
}

// Writable says whether file path of scope accepts writes.
func Writable(scope Scope, path string) bool {
	spec := tables[scope][path]
	return spec.write != nil || spec.capWrite != nil
}

// OthersMayWrite says file path of scope is writable by others than
// root (mode 0666: kernel/ns_last_pid), as Linux's sysctl test_perm
// reads the mode: the owner's bits for root, the others' for the rest.
func OthersMayWrite(scope Scope, path string) bool {
	spec := tables[scope][path]
	return (spec.write != nil || spec.capWrite != nil) && spec.mode&0002 != 0
}

// WriteCaps are the capabilities (a mask of 1<<CAP_*) of which the
// writer of file path of scope needs one at the write (EPERM without),
// beyond the file's mode; 0 when its mode says it all.
func WriteCaps(scope Scope, path string) uint64 {
	return tables[scope][path].writeCaps
}

// OpenWriteCaps are the capabilities (a mask of 1<<CAP_*) of which the
// opener for writing of file path of scope needs one (EACCES without),
// beyond the file's mode; 0 when its mode says it all.
func OpenWriteCaps(scope Scope, path string) uint64 {
	return tables[scope][path].openWriteCaps
}

// Write writes data to file path of scope for a writer whose effective
// capabilities are writerCaps (a mask of 1<<CAP_*), and returns how
// many bytes it took (all, but for oom_adj and oom_score_adj, which
// take at most 12 as Linux's).
func Write(src Source, scope Scope, path string, pid, tid int32, data []byte, writerCaps uint64) (int, error) {
	spec, ok := tables[scope][path]
	if !ok {
		return 0, unix.ENOENT
	}
	switch {
	case spec.capWrite != nil:
		return spec.capWrite(src, pid, tid, data, writerCaps)
	case spec.write != nil:
		if err := spec.write(src, pid, tid, data); err != nil {
			return 0, err
		}
		return len(data), nil
	}
	return 0, unix.EACCES
}
