package e2e

import (
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestSignalfdProgram compares testdata/sigfd/signalfd.c (reads, readv,
// poll/select/epoll readiness, flags, mask changes, default
// dispositions, fork and exec) and threads.c (a signal sent to a
// multi-threaded process reaches the thread reading the signalfd) with
// native runs.
func TestSignalfdProgram(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "sigfd", []string{"signalfd", "threads"})
}

// TestSignalfdRecovery kills the remote sentry while a program holds
// signalfds (one with a changed mask, one watched by an epoll) and a
// pending signal: after the recovery their masks, flags and fd numbers
// are back and the pending signal is still read, as natively.
func TestSignalfdRecovery(t *testing.T) {
	tu.RequireRoot(t)
	want, got, k := killAtPhase1(t, tu.StaticProgram(t, t.TempDir(), "recover", testdataSource(t, "sigfd", "recover")))
	compare(t, want, got)
	if t.Failed() {
		t.Logf("server log:\n%s", k.server.Log)
	}
}

// loopbackOnly drops from ifioctl's output the blocks of interfaces
// other than lo: what the program prints natively on a host whose only
// interface is its loopback, as --network=none's is.
func loopbackOnly(out string) string {
	var b strings.Builder
	keep := true
	for _, line := range strings.SplitAfter(out, "\n") {
		if name, ok := strings.CutPrefix(line, "if "); ok {
			keep = strings.HasPrefix(name, "lo ")
		} else if !strings.HasPrefix(line, "  ") {
			keep = true
		}
		if keep {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestInterfaceIoctls compares testdata/sigfd/ifioctl.c (SIOCGIFCONF and
// the SIOCGIF* ioctls of every interface) with a native run: with
// --network=host the sandbox sees the host's interfaces; with none only
// the loopback, described as the host describes its own. The host case
// runs, natively and in the sandbox, in a network namespace of its own
// (lo and a veth end), whose interfaces no concurrent test changes.
func TestInterfaceIoctls(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgram(t, dir, "ifioctl", testdataSource(t, "sigfd", "ifioctl"))
	t.Run("none", func(t *testing.T) {
		want := tu.Run(t, timeout, dir, "", prog)
		want.Stdout = loopbackOnly(want.Stdout)
		compare(t, want, tu.Sandbox(t, timeout, dir, "", nil, prog))
	})
	t.Run("host", func(t *testing.T) {
		ns := tu.NewVethNS(t)
		want := tu.Run(t, timeout, dir, "", ns.Exec(prog)...)
		got := tu.Run(t, timeout, dir, "", ns.Exec(tu.SandboxArgv(t, []string{"--network", "host"}, prog)...)...)
		compare(t, want, got)
	})
}

// TestNetworkTools runs busybox's network listings in the sandbox: with
// --network=host they print what they print natively (ip's netlink
// dumps are the host kernel's, the interface ioctls too); with none they
// describe the loopback-only netstack (ifconfig's counters read 0).
func TestNetworkTools(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	// The host's listings are compared in a namespace of their own, as in
	// TestInterfaceIoctls.
	ns := tu.NewVethNS(t)
	for _, args := range [][]string{{"ip", "addr"}, {"ip", "link"}, {"ip", "route"}, {"ip", "-6", "route"}} {
		t.Run("host "+strings.Join(args, " "), func(t *testing.T) {
			argv := append([]string{tu.Busybox}, args...)
			want := tu.Run(t, timeout, dir, "", ns.Exec(argv...)...)
			got := tu.Run(t, timeout, dir, "", ns.Exec(tu.SandboxArgv(t, []string{"--network", "host"}, argv...)...)...)
			compare(t, want, got)
		})
	}
	// The loopback netstack as Linux describes a loopback: MTU 65536, a
	// zero hardware address, permanent addresses of host scope, and the
	// stack's routes.
	const lo = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ip", "addr"}, lo + "    inet 127.0.0.1/8 scope host lo\n    inet6 ::1/128 scope host \n"},
		{[]string{"ip", "link"}, lo},
		{[]string{"ip", "route"}, "127.0.0.0/8 dev lo scope link \n"},
		{[]string{"ip", "-6", "route"}, "::1 dev lo scope link \n"},
		{[]string{"hostname", "-i"}, "127.0.0.1\n"},
		{[]string{"ifconfig"}, "lo        Link encap:Local Loopback  \n" +
			"          inet addr:127.0.0.1  Mask:255.0.0.0\n" +
			"          inet6 addr: ::1/128 Scope:Host\n" +
			"          UP LOOPBACK RUNNING  MTU:65536  Metric:1\n" +
			"          RX packets:0 errors:0 dropped:0 overruns:0 frame:0\n" +
			"          TX packets:0 errors:0 dropped:0 overruns:0 carrier:0\n" +
			"          collisions:0 txqueuelen:1000 \n" +
			"          RX bytes:0 (0.0 B)  TX bytes:0 (0.0 B)\n\n"},
	} {
		t.Run("none "+strings.Join(tc.args, " "), func(t *testing.T) {
			got := tu.Sandbox(t, timeout, dir, "", nil, append([]string{tu.Busybox}, tc.args...)...)
			compare(t, tu.Result{Stdout: tc.want}, got)
		})
	}
}

// TestSocketEdgePrograms compares small programs of testdata/sigfd with
// native runs: unixrecv (reads of AF_UNIX sockets that are not
// connected) and nlflood (a netlink socket's bounded queue).
func TestSocketEdgePrograms(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "sigfd", []string{"unixrecv", "nlflood"})
}
