package oci

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

func uintp(v uint) *uint { return &v }

// runSeccomp runs f on one call and returns its result.
func runSeccomp(t *testing.T, f *SeccompFilter, arch uint32, nr uintptr, args ...uint64) uint32 {
	t.Helper()
	p, err := bpf.Compile(f.Insns, false)
	if err != nil {
		t.Fatalf("the filter does not compile: %v", err)
	}
	d := linux.SeccompData{Nr: int32(nr), Arch: arch}
	copy(d.Args[:], args)
	buf := make([]byte, d.SizeBytes())
	d.MarshalBytes(buf)
	r, err := bpf.Exec[bpf.NativeEndian](p, buf)
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	return r
}

func TestSeccompFrom(t *testing.T) {
	errno := func(e unix.Errno) uint32 { return uint32(linux.SECCOMP_RET_ERRNO) | uint32(e) }
	allow := uint32(linux.SECCOMP_RET_ALLOW)
	profile := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat", "no_such_call"}, Action: specs.ActErrno},
			{Names: []string{"rmdir"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EROFS))},
			{Names: []string{"getppid"}, Action: specs.ActKillProcess},
			{Names: []string{"getpgrp"}, Action: specs.ActTrap},
			{Names: []string{"getsid"}, Action: specs.ActLog},
			{Names: []string{"getuid"}, Action: specs.ActAllow}, // same as the default: skipped
			// AND of two conditions on different arguments.
			{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Value: 9, Op: specs.OpEqualTo}}},
			// OR of conditions on one argument (runc's rule).
			{Names: []string{"personality"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 8, Op: specs.OpEqualTo}, {Index: 0, Value: 0x20000, Op: specs.OpEqualTo}}},
			{Names: []string{"clone"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: unix.CLONE_NEWUSER, ValueTwo: unix.CLONE_NEWUSER, Op: specs.OpMaskedEqual}}},
			{Names: []string{"dup"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 1 << 40, Op: specs.OpGreaterThan}}},
		},
	}
	f, err := SeccompFrom(profile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.Ignored, ",") != "no_such_call" {
		t.Errorf("ignored %v", f.Ignored)
	}
	x86 := uint32(linux.AUDIT_ARCH_X86_64)
	for _, tc := range []struct {
		name string
		arch uint32
		nr   uintptr
		args []uint64
		want uint32
	}{
		{"mkdir", x86, unix.SYS_MKDIR, nil, errno(unix.EPERM)},
		{"mkdirat", x86, unix.SYS_MKDIRAT, nil, errno(unix.EPERM)},
		{"rmdir errnoRet", x86, unix.SYS_RMDIR, nil, errno(unix.EROFS)},
		{"getppid", x86, unix.SYS_GETPPID, nil, uint32(linux.SECCOMP_RET_KILL_PROCESS)},
		{"getpgrp", x86, unix.SYS_GETPGRP, nil, uint32(linux.SECCOMP_RET_TRAP)},
		{"getsid log", x86, unix.SYS_GETSID, nil, retLog},
		{"getuid", x86, unix.SYS_GETUID, nil, allow},
		{"write", x86, unix.SYS_WRITE, nil, allow},
		{"kill both", x86, unix.SYS_KILL, []uint64{1, 9}, errno(unix.EPERM)},
		{"kill one", x86, unix.SYS_KILL, []uint64{1, 15}, allow},
		{"personality first", x86, unix.SYS_PERSONALITY, []uint64{8}, errno(unix.EPERM)},
		{"personality second", x86, unix.SYS_PERSONALITY, []uint64{0x20000}, errno(unix.EPERM)},
		{"personality other", x86, unix.SYS_PERSONALITY, []uint64{0}, allow},
		{"clone newuser", x86, unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER | 17}, errno(unix.EPERM)},
		{"clone plain", x86, unix.SYS_CLONE, []uint64{17}, allow},
		{"dup high bits", x86, unix.SYS_DUP, []uint64{1<<40 + 1}, errno(unix.EPERM)},
		{"dup low", x86, unix.SYS_DUP, []uint64{1 << 39}, allow},
		{"other arch", 0x40000003 /* AUDIT_ARCH_I386 */, unix.SYS_WRITE, nil, uint32(linux.SECCOMP_RET_KILL_THREAD)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runSeccomp(t, f, tc.arch, tc.nr, tc.args...); got != tc.want {
				t.Errorf("got %#x, want %#x", got, tc.want)
			}
		})
	}

	def, err := SeccompFrom(&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(uint(unix.ENOSYS)),
		Syscalls: []specs.LinuxSyscall{{Names: []string{"write"}, Action: specs.ActAllow}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := runSeccomp(t, def, x86, unix.SYS_READ); got != errno(unix.ENOSYS) {
		t.Errorf("default errnoRet: got %#x", got)
	}
	if got := runSeccomp(t, def, x86, unix.SYS_WRITE); got != allow {
		t.Errorf("allowed write: got %#x", got)
	}
}

func TestSeccompFromRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile specs.LinuxSeccomp
		field   string
	}{
		{"notify", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActNotify}}}, "linux.seccomp.syscalls[0].action"},
		{"listener", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/x"}, "linux.seccomp.listenerPath"},
		{"unknown action", specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}, "linux.seccomp.defaultAction"},
		{"errnoRet on allow", specs.LinuxSeccomp{DefaultAction: specs.ActKill, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, ErrnoRet: uintp(1)}}}, "linux.seccomp.syscalls[0].action"},
		{"defaultErrnoRet", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uintp(1)}, "linux.seccomp.defaultErrnoRet"},
		{"arch", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_VAX"}}, "linux.seccomp.architectures[0]"},
		{"flag", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}}, "linux.seccomp.flags[0]"},
		{"operator", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActKill, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_XX"}}}}}, "linux.seccomp.syscalls[0].args[0].op"},
		{"index", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActKill, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "linux.seccomp.syscalls[0].args[0].index"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SeccompFrom(&tc.profile)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("got %v, want an error naming %s", err, tc.field)
			}
		})
	}
}

// TestSeccompNewerCalls checks runc's stub: with a default action other
// than allow, a call newer than any the profile names gets ENOSYS.
func TestSeccompNewerCalls(t *testing.T) {
	f, err := SeccompFrom(&specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write", "openat"}, Action: specs.ActAllow}}})
	if err != nil {
		t.Fatal(err)
	}
	x86 := uint32(linux.AUDIT_ARCH_X86_64)
	for _, tc := range []struct {
		nr   uintptr
		want uint32
	}{
		{unix.SYS_READ, uint32(linux.SECCOMP_RET_ALLOW)},
		{unix.SYS_OPENAT, uint32(linux.SECCOMP_RET_ALLOW)},
		{unix.SYS_GETPID, uint32(linux.SECCOMP_RET_ERRNO) | uint32(unix.EPERM)}, // older: the default
		{unix.SYS_CLONE3, uint32(linux.SECCOMP_RET_ERRNO) | uint32(unix.ENOSYS)},
	} {
		if got := runSeccomp(t, f, x86, tc.nr); got != tc.want {
			t.Errorf("syscall %d: got %#x, want %#x", tc.nr, got, tc.want)
		}
	}
	allow, err := SeccompFrom(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := runSeccomp(t, allow, x86, unix.SYS_CLONE3); got != uint32(linux.SECCOMP_RET_ALLOW) {
		t.Errorf("clone3 under an allow-by-default profile: %#x", got)
	}
}
