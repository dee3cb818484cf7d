package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// prlimitCoreCall is the prlimit64 the client sends after a change of
// RLIMIT_CORE: the new limit as an input region.
func prlimitCoreCall(cur uint64) *sentrypb.Call { return prlimitCall(1, unix.RLIMIT_CORE, cur) }

// prlimitCall is the prlimit64 call by which the client of thread tid
// tells the server a new soft limit cur of resource (as syncLimit).
func prlimitCall(tid int32, resource, cur uint64) *sentrypb.Call {
	lim := make([]byte, 16)
	binary.LittleEndian.PutUint64(lim, cur)
	binary.LittleEndian.PutUint64(lim[8:], linux.RLimInfinity)
	return &sentrypb.Call{Tid: tid, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
		Sysno: unix.SYS_PRLIMIT64, Args: []uint64{0, resource, 0x1000, 0, 0, 0},
		Inputs: []*sentrypb.Region{{Addr: 0x1000, Data: lim}}}}}
}

// TestCoreDumpStatus: a child killed by a signal whose default action
// dumps core reports WCOREDUMP when its RLIMIT_CORE (inherited) is not 0,
// and CLD_DUMPED in waitid; other signals and a zero limit do not.
func TestCoreDumpStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		core uint64
		sig  unix.Signal
		want uint32
	}{
		{"SIGQUIT, RLIMIT_CORE 0", 0, unix.SIGQUIT, uint32(unix.SIGQUIT)},
		{"SIGQUIT", 1 << 20, unix.SIGQUIT, uint32(unix.SIGQUIT) | ksignal.CoreDumpFlag},
		{"SIGSEGV", 1 << 20, unix.SIGSEGV, uint32(unix.SIGSEGV) | ksignal.CoreDumpFlag},
		{"SIGTERM", 1 << 20, unix.SIGTERM, uint32(unix.SIGTERM)},
		{"SIGKILL", 1 << 20, unix.SIGKILL, uint32(unix.SIGKILL)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			if r := e.call(prlimitCoreCall(tc.core)); r.Errno != 0 {
				t.Fatalf("prlimit64: %v", unix.Errno(r.Errno))
			}
			child := e.fork(1)
			e.ok(1, unix.SYS_KILL, uint64(child), uint64(tc.sig))
			info := e.mem.zeros(128)
			e.ok(1, unix.SYS_WAITID, unix.P_PID, uint64(child), info, unix.WEXITED|unix.WNOWAIT, 0)
			code := int32(binary.LittleEndian.Uint32(e.mem.bytes(info+8, 4)))
			wantCode := int32(ksignal.CLDKilled)
			if tc.want&ksignal.CoreDumpFlag != 0 {
				wantCode = ksignal.CLDDumped
			}
			if code != wantCode {
				t.Errorf("waitid si_code %d, want %d", code, wantCode)
			}
			if pid, st := e.wait4(1, int64(child), 0); pid != int64(child) || st != tc.want {
				t.Errorf("wait4 = %d %#x, want %d %#x", pid, st, child, tc.want)
			}
		})
	}
}

// TestCoreDumpLimitRecovery: RLIMIT_CORE comes back with the process
// after a server failure.
func TestCoreDumpLimitRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	if rep := r.call(prlimitCoreCall(1<<20), false); rep.Errno != 0 {
		t.Fatalf("prlimit64: %v", unix.Errno(rep.Errno))
	}
	r.crash()
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	rep := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD))
	if rep.Errno != 0 {
		t.Fatalf("fork: %v", unix.Errno(rep.Errno))
	}
	child := rep.Ret
	r.ok(1, unix.SYS_KILL, uint64(child), uint64(unix.SIGABRT))
	st := r.mem.zeros(4)
	r.ok(1, unix.SYS_WAIT4, uint64(child), st, 0, 0)
	if got := r.mem.u32(st); got != uint32(unix.SIGABRT)|ksignal.CoreDumpFlag {
		t.Errorf("wait status after the restore %#x, want %#x", got, uint32(unix.SIGABRT)|ksignal.CoreDumpFlag)
	}
}
