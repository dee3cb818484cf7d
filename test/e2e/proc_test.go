package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestProcStates compares C programs with native:
//   - testdata/procstate.c: a mapped file in /proc/self/maps, R/S/Z
//     states (a pipe read blocks in the remote sentry, nanosleep and futex
//     wait in the client sentry), task/, comm, fdinfo, reopening an
//     unlinked file through /proc/self/fd;
//   - testdata/fdlinks.c: the fd links of sockets, eventfd and epoll;
//   - testdata/procsig.c: status's and stat's signal sets, SigQ and
//     Cpus_allowed of a process and its two threads;
//   - testdata/procnet.c: its TCP, UDP and unix sockets in
//     /proc/net/{tcp,tcp6,udp,udp6,unix};
//   - testdata/procgroups.c: status's Groups;
//   - testdata/ssdiag.c: what ss -tanp, -uanp, -xanp and -tlnp list of
//     the same kinds of sockets (over NETLINK_SOCK_DIAG), and that ss
//     prints nothing on stderr;
//   - testdata/procio.c: /proc/self/io's counts across pipe, /dev/null
//     and sendfile calls, a thread's, a reaped child's, and a thread's
//     own task/<tid>/io;
//   - testdata/netstats.c: the shape of what ss -s, netstat -s and
//     nstat -asz print from /proc/net/sockstat, sockstat6, snmp, snmp6
//     and netstat (the sandbox's are Linux 6.1's: native's counters
//     newer than that are taken out, linux61Only);
//   - testdata/proctask.c: auxv (against getauxval), personality
//     (across an exec), wchan, schedstat, smaps_rollup and their modes
//     and task/<tid>/ twins.
func TestProcStates(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	for _, name := range []string{"procstate", "fdlinks", "procsig", "procnet", "procgroups", "ssdiag", "procio", "netstats", "proctask"} {
		prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", name+".c"))
		want := tu.Run(t, timeout, dir, "", prog)
		if name == "netstats" {
			// ss, netstat and nstat each ran natively (a missing
			// one would fail alike in the sandbox).
			if n := strings.Count(want.Stdout, "\nexit 0\n"); n != 3 {
				t.Fatalf("native netstats: %d of the 3 tools ran (test/setup.sh installs iproute2 and net-tools):\n%s", n, want.Stdout)
			}
			want.Stdout = linux61Only(want.Stdout)
		}
		for _, p := range platforms {
			t.Run(name+"/"+p, func(t *testing.T) {
				got := tu.Sandbox(t, timeout, dir, "", []string{"--platform", p}, prog)
				compare(t, want, got)
			})
		}
	}
}

// newerThan61 are the counters of /proc/net/snmp, snmp6 and netstat
// that kernels after 6.1 added, as nstat names them.
var newerThan61 = map[string]bool{
	// 6.2
	"TcpExtTCPPLBRehash": true,
	// 6.3
	"IpOutTransmits": true, "Ip6OutTransmits": true,
	// 6.7
	"TcpExtTCPAORequired": true, "TcpExtTCPAOBad": true, "TcpExtTCPAOKeyNotFound": true, "TcpExtTCPAOGood": true,
	"TcpExtTCPAODroppedIcmps": true,
	// later
	"TcpExtBeyondWindow": true, "TcpExtTSEcrRejected": true, "TcpExtPAWSOldAck": true, "TcpExtPAWSTimewait": true,
}

// linux61Only takes out of netstats.c's native output the counters
// newerThan61, MPTCP's and SCTP's (MPTcpExt, nstat's Sctp from
// /proc/net/sctp/snmp: the sandbox has neither protocol), so that a
// newer host compares with the sandbox's Linux 6.1 files.
func linux61Only(out string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(out, "\n") {
		name := strings.TrimSuffix(l, "\n")
		if newerThan61[name] || strings.HasPrefix(name, "MPTcpExt") || strings.HasPrefix(name, "Sctp") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// TestProcNetStats checks the counts of testdata/netstats.c's sockets
// and packets in the sandbox's /proc/net/sockstat, sockstat6 and snmp,
// where only its sockets are: a listener, a client and its accepted end
// over IPv4 and over IPv6, a bound UDP socket and one connected to a
// closed port (one datagram, one ICMP port unreachable each way); then
// a connection in TIME-WAIT and an orphan in FIN-WAIT-2, both timewait
// sockets as Linux counts them, and a client in CLOSE-WAIT.
func TestProcNetStats(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "netstats.c"))
	want := `udp to a closed port: refused
sockets: used 8
TCP: inuse 3 orphan 0 tw 0 alloc 6 mem 0
UDP: inuse 2 mem 0
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
TCP6: inuse 3
UDP6: inuse 0
UDPLITE6: inuse 0
RAW6: inuse 0
FRAG6: inuse 0 memory 0
Tcp MaxConn -1
Tcp ActiveOpens 2
Tcp PassiveOpens 2
Tcp CurrEstab 4
Udp NoPorts 1
Udp OutDatagrams 1
IcmpMsg InType3 1
IcmpMsg OutType3 1
Icmp InDestUnreachs 1
Icmp OutDestUnreachs 1
Ip Forwarding 2
Ip DefaultTTL 64
after the closes:
sockets: used 9
TCP: inuse 4 orphan 0 tw 2 alloc 7 mem 0
UDP: inuse 2 mem 0
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
`
	for _, p := range platforms {
		t.Run(p, func(t *testing.T) {
			got := tu.Sandbox(t, timeout, dir, "", []string{"--platform", p}, prog, "values")
			if got.Stdout != want || got.ExitCode != 0 {
				t.Errorf("exit %d\n%s\nwant:\n%s\nstderr: %s", got.ExitCode, got.Stdout, want, got.Stderr)
			}
		})
	}
	// With the machine's network the files are the machine's: the
	// tools print what they print natively, newer counters and all.
	t.Run("host", func(t *testing.T) {
		want := tu.Run(t, timeout, dir, "", prog)
		got := tu.Sandbox(t, timeout, dir, "", []string{"--network", "host"}, prog)
		compare(t, want, got)
	})
}

// procShellCases read /proc with busybox; their output must match native.
var procShellCases = []struct{ name, script string }{
	{"meminfo", `for k in MemTotal MemFree MemAvailable Buffers Cached SwapTotal SwapFree; do grep -c "^$k: *[0-9]* kB$" /proc/meminfo; done`},
	{"present", `for f in meminfo cpuinfo stat uptime loadavg version filesystems self/maps self/mounts self/mountinfo self/environ; do [ -n "$(cat /proc/$f)" ] && echo $f; done`},
	{"cpuinfo", `grep -q '^processor' /proc/cpuinfo && grep -q '^model name' /proc/cpuinfo && grep -q '^flags' /proc/cpuinfo && echo ok`},
	{"self stat", `cut -d' ' -f2,3 /proc/self/stat; wc -w < /proc/self/stat`},
	{"status", `grep -E '^(Name|State|Uid|Gid|Threads):' /proc/self/status | cut -f1,2; grep -cE '^(Tgid|Pid|PPid):' /proc/self/status`},
	{"stat and uptime", `grep -c '^cpu ' /proc/stat; grep -c '^btime ' /proc/stat; awk '{print NF}' /proc/uptime; awk '{print NF}' /proc/loadavg; cut -d' ' -f1,2 /proc/version`},
	{"sys", `cat /proc/sys/kernel/ostype; test $(cat /proc/sys/kernel/pid_max) -ge 32768 && echo pid_max; test $(cat /proc/sys/fs/pipe-max-size) -ge 65536 && echo pipe-max-size; wc -w < /proc/sys/kernel/threads-max; cat /proc/sys/vm/overcommit_memory`},
	{"maps", `grep -c '\[stack\]' /proc/self/maps; head -1 /proc/self/maps | grep -c /busybox`},
	{"smaps", `head -1 /proc/self/smaps | grep -c /busybox; for k in Size Rss Pss Private_Dirty Swap VmFlags; do grep -q "^$k:" /proc/self/smaps && echo $k; done`},
	{"root and random", `readlink /proc/self/root; ls /proc/self/root/ | grep -c '^proc$'; wc -c < /proc/sys/kernel/random/uuid; wc -c < /proc/sys/kernel/random/boot_id; [ "$(cat /proc/sys/kernel/random/boot_id)" = "$(cat /proc/sys/kernel/random/boot_id)" ] && echo stable; [ "$(cat /proc/sys/kernel/random/uuid)" != "$(cat /proc/sys/kernel/random/uuid)" ] && echo fresh`},
	{"memory sizes", `awk '{print NF, ($1 > 0), ($2 > 0)}' /proc/self/statm; awk '/^Vm(Size|RSS):/ {print $1, ($2 > 0), $3}' /proc/self/status; awk '{print ($23 > 0), ($24 > 0)}' /proc/self/stat`},
	{"environ", `env -i FOO=bar A=b cat /proc/self/environ | tr '\0' '\n'`},
	{"task", `ls /proc/self/task | wc -l; readlink /proc/thread-self | grep -c /task/; cat /proc/self/task/*/comm`},
	{"comm", `echo -n renamed > /proc/self/comm; cat /proc/$$/comm; cat /proc/$$/task/$$/comm`},
	// An fd's entry is a symlink (lstat: its mode by the open mode, 64
	// bytes); stat follows it.
	{"fd links", `exec 3</proc/version 4>>f 5<>g; for n in 3 4 5; do stat -c '%F %A %s' /proc/self/fd/$n; done; stat -L -c '%F' /proc/self/fd/3 /proc/self/fd/4; ls -l /proc/$$/fd/3 | cut -c1-10`},
	// The rows whose values the test sets or Linux fixes (the
	// sandbox's defaults differ from the host's), and a unitless one.
	{"limits", `ulimit -n 1000; ulimit -c 12345; grep -E '^(Limit|Max open files|Max core file size|Max cpu time|Max realtime priority) ' /proc/self/limits; grep -c '^Max ' /proc/$$/task/$$/limits`},
}

// TestProcShell compares procShellCases with native.
func TestProcShell(t *testing.T) {
	tu.RequireRoot(t)
	for _, c := range procShellCases {
		t.Run(c.name, func(t *testing.T) {
			want := tu.Run(t, timeout, t.TempDir(), "", tu.Busybox, "sh", "-c", c.script)
			got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, tu.Busybox, "sh", "-c", c.script)
			compare(t, want, got)
		})
	}
}

// TestProcTools runs everyday tools that read /proc (GNU grep, diff and
// m4 read /proc/self/maps; procps reads /proc/<pid>/stat, meminfo,
// uptime, vmstat) and compares what is deterministic with native.
func TestProcTools(t *testing.T) {
	tu.RequireRoot(t)
	script := `echo abc | grep b; printf 'a\nb\n' > f1; printf 'a\nc\n' > f2; diff f1 f2; echo "define(X,1)X" | m4; ` +
		`ps -o comm= -p $$; free | head -1 | wc -w; uptime | grep -c 'load average'; df / | tail -n +2 | wc -l; vmstat 1 1 | head -2; echo end`
	want := tu.Run(t, timeout, t.TempDir(), "", "/bin/sh", "-c", script)
	got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, "/bin/sh", "-c", script)
	compare(t, want, got)
}

// TestProcMounts checks the sandbox's mount table, which differs from the
// host's: the gofer's root, /proc, /dev and /dev/pts (/proc/mounts shows
// each mount's options with its file system's, as Linux's does).
func TestProcMounts(t *testing.T) {
	tu.RequireRoot(t)
	got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, tu.Busybox, "sh", "-c", `cat /proc/mounts; echo --; cut -d' ' -f5,9 /proc/self/mountinfo`)
	want := "gofer / gofer rw,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\ntmpfs /dev tmpfs rw,nosuid,mode=755 0 0\ndevpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666 0 0\n--\n/ gofer\n/proc proc\n/dev tmpfs\n/dev/pts devpts\n"
	if got.Stdout != want || got.ExitCode != 0 {
		t.Errorf("mounts: exit %d\n%s\nwant:\n%s\nstderr: %s", got.ExitCode, got.Stdout, want, strings.TrimSpace(got.Stderr))
	}
}

// TestProcAcrossServerKill: what /proc shows survives kill -9 of the
// server (the environment is in the replay log, thread names and states
// are the client's).
func TestProcAcrossServerKill(t *testing.T) {
	tu.RequireRoot(t)
	sockDir := t.TempDir()
	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	a := tu.StartDaemon(t, sockDir, "a", "server", "--gofer", g.Target)
	b := tu.StartDaemon(t, sockDir, "b", "server", "--gofer", g.Target)
	dir := t.TempDir()
	marker := filepath.Join(dir, "ready")
	// The application renames itself, then waits for the kill.
	script := `echo -n renamed > /proc/self/comm; touch ` + marker + `; while [ -e ` + marker + ` ]; do sleep 0.05; done; ` +
		`tr '\0' '\n' < /proc/$$/environ; cat /proc/$$/comm; sleep 100 & p=$!; ` +
		// Polled: on a loaded machine the child may still be in its exec.
		`for i in $(seq 200); do s=$(cut -d' ' -f2,3 /proc/$p/stat); [ "$s" = "(sleep) S" ] && break; sleep 0.05; done; echo "$s"; kill $p; ` +
		`grep -c '^MemTotal:' /proc/meminfo`
	go func() {
		for i := 0; i < 600; i++ {
			if _, err := os.Stat(marker); err == nil {
				a.Kill()
				time.Sleep(300 * time.Millisecond)
				os.Remove(marker)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	got := tu.Sandbox(t, timeout, dir, "", []string{"--server", a.Target + "," + b.Target},
		tu.Busybox, "env", "-i", "FOO=bar", tu.Busybox, "sh", "-c", script)
	want := "FOO=bar\nrenamed\n(sleep) S\n1\n"
	if got.Stdout != want || got.ExitCode != 0 {
		t.Errorf("after the kill: exit %d\n%s\nwant:\n%s\nstderr: %s", got.ExitCode, got.Stdout, want, got.Stderr)
	}
}
