package client

import (
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestFdNeutral: the posted calls a dup of fd 4 may be taken back past
// (dropDup) are those that neither name fd 4 nor make an fd the server
// chooses.
func TestFdNeutral(t *testing.T) {
	call := func(sysno uintptr, install *int32, args ...uint64) *pb.Call {
		a := make([]uint64, 6)
		copy(a, args)
		return &pb.Call{Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: int32(sysno), Args: a, InstallFd: install}}}
	}
	tests := []struct {
		name string
		c    *pb.Call
		want bool
	}{
		{"open of its own fd", call(unix.SYS_OPENAT, proto.Int32(7), 5), true},
		{"open relative to the fd", call(unix.SYS_OPENAT, proto.Int32(7), 4), false},
		{"open installed at the fd", call(unix.SYS_OPENAT, proto.Int32(4), 5), false},
		{"open the server gives an fd", call(unix.SYS_OPENAT, nil, 5), false},
		{"listing of another fd", call(unix.SYS_GETDENTS64, nil, 7), true},
		{"listing of the fd", call(unix.SYS_GETDENTS64, nil, 4), false},
		{"close of another fd", call(unix.SYS_CLOSE, nil, 7), true},
		{"close of the fd", call(unix.SYS_CLOSE, nil, 4), false},
		{"unlink relative to another fd", call(unix.SYS_UNLINKAT, nil, 7), true},
		{"F_SETFD of another fd", call(unix.SYS_FCNTL, nil, 7, unix.F_SETFD, 1), true},
		{"F_SETFD of the fd", call(unix.SYS_FCNTL, nil, 4, unix.F_SETFD, 1), false},
		{"F_DUPFD of another fd", call(unix.SYS_FCNTL, nil, 7, unix.F_DUPFD_CLOEXEC, 3), false},
		{"dup of another fd", call(unix.SYS_DUP, nil, 7), false},
		{"write to another fd", call(unix.SYS_WRITE, nil, 1), true},
		{"write to the fd", call(unix.SYS_WRITE, nil, 4), false},
		{"writev to another fd", call(unix.SYS_WRITEV, nil, 1), false},
		{"not a system call", &pb.Call{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fdNeutral(tt.c, 4); got != tt.want {
				t.Errorf("fdNeutral = %v, want %v", got, tt.want)
			}
		})
	}
}
