package ptrace

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestMayAccess(t *testing.T) {
	user := Creds{RUID: 1000, EUID: 1000, SUID: 1000, RGID: 100, EGID: 100, SGID: 100}
	setuid := user
	setuid.EUID, setuid.SUID = 0, 0
	other := Creds{RUID: 2000, EUID: 2000, SUID: 2000, RGID: 100, EGID: 100, SGID: 100}
	root := Creds{CapSysPtrace: true}
	for _, tc := range []struct {
		name           string
		tracer, tracee Creds
		want           bool
	}{
		{"same user", user, user, true},
		{"another user", user, other, false},
		{"a set-user-ID tracee", user, setuid, false},
		{"CAP_SYS_PTRACE", root, other, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MayAccess(tc.tracer, tc.tracee, func() bool { return false }); got != tc.want {
				t.Errorf("MayAccess = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCloneOption(t *testing.T) {
	for _, tc := range []struct {
		flags uint64
		want  uint32
	}{
		{uint64(unix.SIGCHLD), linux.PTRACE_O_TRACEFORK},
		{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD), linux.PTRACE_O_TRACEVFORK},
		{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND, linux.PTRACE_O_TRACECLONE},
		{unix.CLONE_VM | uint64(unix.SIGUSR1), linux.PTRACE_O_TRACECLONE},
	} {
		if got := CloneOption(tc.flags); got != tc.want {
			t.Errorf("CloneOption(%#x) = %#x, want %#x", tc.flags, got, tc.want)
		}
	}
}

// TestStops checks a tracee's stops: a new one, the same one again (a
// re-sent call), an older or malformed one, and the resume.
func TestStops(t *testing.T) {
	var tr Tracee
	const status = 0x857f
	for _, tc := range []struct {
		name      string
		gen       uint64
		status    int32
		wantFresh bool
		wantErr   error
	}{
		{"gen 0", 0, status, false, unix.EINVAL},
		{"not a stop", 1, 0x500, false, unix.EINVAL},
		{"first", 1, status, true, nil},
		{"the same again", 1, status, false, nil},
		{"second", 2, status, true, nil},
		{"an older one", 1, status, false, unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh, err := tr.EnterStop(tc.gen, tc.status)
			if fresh != tc.wantFresh || !errors.Is(err, tc.wantErr) {
				t.Errorf("EnterStop = %v, %v; want %v, %v", fresh, err, tc.wantFresh, tc.wantErr)
			}
		})
	}
	if !tr.Stopped || !tr.WaitPending || tr.StopGen != 2 {
		t.Fatalf("after the stops: %+v", tr)
	}
	wake := tr.Wake()
	tr.Resume(linux.PTRACE_SYSCALL, 10, 42)
	select {
	case <-wake:
	default:
		t.Errorf("Resume did not wake the stop")
	}
	if tr.Stopped || tr.ResumeReq != linux.PTRACE_SYSCALL || tr.ResumeSig != 10 || !tr.ResumedBy(42) || tr.ResumedBy(0) {
		t.Errorf("after Resume: %+v", tr)
	}
	back, err := FromProto(tr.Proto(7))
	if err != nil || back.StopGen != 2 || back.Stopped || back.ResumeSig != 10 || !back.ResumedBy(42) {
		t.Errorf("record round trip: %+v, %v", back, err)
	}
}

func TestFromProtoRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		ps   *sentrypb.PtraceState
	}{
		{"unknown options", &sentrypb.PtraceState{Options: 1 << 30}},
		{"a stop that is no stop", &sentrypb.PtraceState{Stopped: true, StopStatus: 0x500}},
		{"an invalid signal", &sentrypb.PtraceState{ResumeSigno: 65}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FromProto(tc.ps); err == nil {
				t.Errorf("FromProto(%v) accepted it", tc.ps)
			}
		})
	}
}
