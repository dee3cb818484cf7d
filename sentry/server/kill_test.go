package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// kill sends a Kill call, as the OCI runtime and do do.
func (e *env) kill(sig unix.Signal, all, asContainer bool) unix.Errno {
	e.t.Helper()
	r := e.call(&sentrypb.Call{Op: &sentrypb.Call_Kill{Kill: &sentrypb.Kill{Signo: int32(sig), All: all, AsContainer: asContainer}}})
	return unix.Errno(r.Errno)
}

// TestKillFromOutside checks the Kill call: which processes it reaches and
// the PID-namespace rule for the first process.
func TestKillFromOutside(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sig         unix.Signal
		all         bool
		asContainer bool
		handler     bool // init has a handler for sig
		initDies    bool
		childDies   bool
		push        bool // a SignalPush for init's handler
	}{
		{name: "TERM to init, host rule", sig: unix.SIGTERM, initDies: true},
		{name: "TERM to init, container rule, no handler", sig: unix.SIGTERM, asContainer: true},
		{name: "TERM to init, container rule, handler", sig: unix.SIGTERM, asContainer: true, handler: true, push: true},
		{name: "KILL to init, container rule", sig: unix.SIGKILL, asContainer: true, initDies: true},
		{name: "TERM all, container rule", sig: unix.SIGTERM, all: true, asContainer: true, childDies: true},
		{name: "KILL all", sig: unix.SIGKILL, all: true, asContainer: true, initDies: true, childDies: true},
		{name: "signal 0 probes", sig: 0, all: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			if tc.handler {
				sa := e.mem.alloc(ksignal.Action{Handler: 0x401000, Flags: ksignal.SASiginfo | ksignal.SARestorer, Restorer: 0x402000}.Bytes())
				e.ok(1, unix.SYS_RT_SIGACTION, uint64(tc.sig), sa, 0, 8)
			}
			child := e.fork(1)
			if errno := e.kill(tc.sig, tc.all, tc.asContainer); errno != 0 {
				t.Fatalf("Kill: errno %v", errno)
			}
			if tc.push {
				p := e.waitPush(func(p *sentrypb.Push) bool { return p.GetSignal() != nil }).GetSignal()
				if p.Tid != 1 || p.Signo != int32(tc.sig) {
					t.Errorf("signal push %+v", p)
				}
			}
			switch {
			case tc.childDies && tc.initDies:
				if r := e.sys(child, unix.SYS_GETPID); r.GetExit() == nil || r.GetExit().WaitStatus != int32(tc.sig) {
					t.Errorf("child survived: %v", r)
				}
			case tc.childDies:
				pid, st := e.wait4(1, int64(child), 0)
				if pid != int64(child) || st != uint32(tc.sig) {
					t.Errorf("child wait4 = %d %#x, want %d %#x", pid, st, child, tc.sig)
				}
			case !tc.initDies:
				if r := e.sys(child, unix.SYS_GETPID); r.GetExit() != nil || r.Ret != int64(child) {
					t.Errorf("child did not survive: %v", r)
				}
			}
			r := e.sys(1, unix.SYS_GETPID)
			if died := r.GetExit() != nil; died != tc.initDies {
				t.Errorf("init died = %v (%v), want %v", died, r, tc.initDies)
			}
		})
	}
}

func TestKillBadInput(t *testing.T) {
	e := newEnv(t)
	if errno := e.kill(unix.SIGTERM, false, true); errno != unix.ESRCH {
		t.Errorf("Kill before Start: errno %v, want ESRCH", errno)
	}
	e = started(t)
	for _, sig := range []unix.Signal{-1, 65, 1 << 20} {
		if errno := e.kill(sig, false, false); errno != unix.EINVAL {
			t.Errorf("Kill(%d): errno %v, want EINVAL", sig, errno)
		}
	}
}

// TestTtyResize checks that a TtyResize changes what TIOCGWINSZ reports
// and sends SIGWINCH to the foreground process group.
func TestTtyResize(t *testing.T) {
	ws := []byte{24, 0, 80, 0, 0, 0, 0, 0}
	tty := func(fd int32) *sentrypb.StdioInfo {
		return &sentrypb.StdioInfo{Fd: fd, IsTty: true, Termios: make([]byte, 36), Winsize: ws}
	}
	resize := func(e *env, b []byte) unix.Errno {
		r := e.call(&sentrypb.Call{Op: &sentrypb.Call_TtyResize{TtyResize: &sentrypb.TtyResize{Winsize: b}}})
		return unix.Errno(r.Errno)
	}
	if errno := resize(started(t), make([]byte, 8)); errno != unix.ENOTTY {
		t.Errorf("resize without a terminal: errno %v, want ENOTTY", errno)
	}
	e := started(t, tty(0), tty(1), tty(2))
	for _, bad := range [][]byte{nil, make([]byte, 7), make([]byte, 9)} {
		if errno := resize(e, bad); errno != unix.EINVAL {
			t.Errorf("resize with %d bytes: errno %v, want EINVAL", len(bad), errno)
		}
	}
	sa := e.mem.alloc(ksignal.Action{Handler: 0x401000, Flags: ksignal.SASiginfo | ksignal.SARestorer, Restorer: 0x402000}.Bytes())
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGWINCH), sa, 0, 8)
	newWS := []byte{50, 0, 132, 0, 0, 0, 0, 0}
	if errno := resize(e, newWS); errno != 0 {
		t.Fatalf("resize: errno %v", errno)
	}
	p := e.waitPush(func(p *sentrypb.Push) bool { return p.GetSignal() != nil }).GetSignal()
	if p.Tid != 1 || p.Signo != int32(unix.SIGWINCH) {
		t.Errorf("push %+v, want SIGWINCH for 1", p)
	}
	buf := e.mem.zeros(8)
	e.ok(1, unix.SYS_IOCTL, 1, unix.TIOCGWINSZ, buf)
	if got := e.mem.bytes(buf, 8); string(got) != string(newWS) {
		t.Errorf("TIOCGWINSZ after resize = %v, want %v", got, newWS)
	}
}

// TestStartGroups checks that Start's supplementary groups are the first
// process's (getgroups) and are bounded.
func TestStartGroups(t *testing.T) {
	for _, tc := range []struct {
		name   string
		groups []uint32
		errno  unix.Errno
	}{
		{"none", nil, 0},
		{"two", []uint32{5, 7}, 0},
		{"too many", make([]uint32, auth.MaxGroups+1), unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte(busybox), []byte("sh")}, Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/"), Groups: tc.groups}}})
			if unix.Errno(r.Errno) != tc.errno {
				t.Fatalf("Start: errno %v, want %v", unix.Errno(r.Errno), tc.errno)
			}
			if tc.errno != 0 {
				return
			}
			if n := e.ok(1, unix.SYS_GETGROUPS, 0, 0); n != int64(len(tc.groups)) {
				t.Fatalf("getgroups(0) = %d, want %d", n, len(tc.groups))
			}
			if len(tc.groups) == 0 {
				return
			}
			buf := e.mem.zeros(4 * len(tc.groups))
			e.ok(1, unix.SYS_GETGROUPS, uint64(len(tc.groups)), buf)
			for i, g := range tc.groups {
				if got := e.mem.u32(buf + uint64(4*i)); got != g {
					t.Errorf("group %d = %d, want %d", i, got, g)
				}
			}
		})
	}
}

// TestSigqueueinfoChecks checks rt_sigqueueinfo's and rt_tgsigqueueinfo's
// rules: the target must exist (ESRCH), and a siginfo that claims to come
// from a user (si_code >= 0, or SI_TKILL) may go only to the caller
// itself (EPERM), as Linux. Signal 0 makes the checks alone.
func TestSigqueueinfoChecks(t *testing.T) {
	const siQueue, siUser, siTkill = -1, 0, -6
	for _, tc := range []struct {
		name   string
		tgsig  bool  // rt_tgsigqueueinfo, else rt_sigqueueinfo
		toSelf bool  // to the caller (process or thread), else to its child
		tgid   int32 // rt_tgsigqueueinfo's tgid if not the target's (-1: the caller's)
		sig    uint64
		code   int32
		want   unix.Errno
	}{
		{name: "queue to self, SI_USER", toSelf: true, code: siUser},
		{name: "queue to another, SI_QUEUE", code: siQueue},
		{name: "queue to another, SI_USER", code: siUser, want: unix.EPERM},
		{name: "queue to another, SI_TKILL", code: siTkill, want: unix.EPERM},
		{name: "queue, bad signal", toSelf: true, sig: ksignal.NumSignals + 1, code: siQueue, want: unix.EINVAL},
		{name: "tg to own thread, SI_USER", tgsig: true, toSelf: true, code: siUser},
		{name: "tg to another, SI_QUEUE", tgsig: true, code: siQueue},
		{name: "tg to another, SI_USER", tgsig: true, code: siUser, want: unix.EPERM},
		{name: "tg to another, SI_TKILL", tgsig: true, code: siTkill, want: unix.EPERM},
		{name: "tg, thread of another group", tgsig: true, tgid: -1, code: siQueue, want: unix.ESRCH},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			target := e.fork(1)
			if tc.toSelf {
				target = 1
			}
			info := make([]byte, ksignal.SizeofSiginfo)
			binary.LittleEndian.PutUint32(info[8:], uint32(tc.code))
			addr := e.mem.alloc(info)
			sysno, args := uintptr(unix.SYS_RT_SIGQUEUEINFO), []uint64{uint64(target), tc.sig, addr}
			if tc.tgsig {
				tgid := target
				if tc.tgid == -1 {
					tgid = 1
				}
				sysno, args = unix.SYS_RT_TGSIGQUEUEINFO, []uint64{uint64(tgid), uint64(target), tc.sig, addr}
			}
			if tc.want != 0 {
				e.fails(tc.want, 1, sysno, args...)
			} else {
				e.ok(1, sysno, args...)
			}
		})
	}
	t.Run("queue to no process", func(t *testing.T) {
		e := started(t)
		e.fails(unix.ESRCH, 1, unix.SYS_RT_SIGQUEUEINFO, 999, 0, e.mem.alloc(make([]byte, ksignal.SizeofSiginfo)))
	})
}
