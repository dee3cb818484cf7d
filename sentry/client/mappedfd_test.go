package client

import (
	"testing"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestChangesFileBytes: which posted calls hold a mapped file's faults
// to PageReads while they are in flight (mappedfd.go): the writes and
// what could truncate, not the close that follows most mmaps nor the
// other posted calls.
func TestChangesFileBytes(t *testing.T) {
	atFDCWD := uint64(1<<64 - 100) // AT_FDCWD as a system call's argument
	sys := func(sysno uintptr, args ...uint64) *pb.Call {
		return &pb.Call{Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: int32(sysno), Args: args}}}
	}
	for _, tc := range []struct {
		name string
		call *pb.Call
		want bool
	}{
		{"write", sys(unix.SYS_WRITE, 3, 0, 4096), true},
		{"pwrite64", sys(unix.SYS_PWRITE64, 3, 0, 4096, 0), true},
		{"writev", sys(unix.SYS_WRITEV, 3, 0, 2), true},
		{"copy_file_range", sys(unix.SYS_COPY_FILE_RANGE, 3, 0, 4, 0, 4096, 0), true},
		{"ftruncate", sys(unix.SYS_FTRUNCATE, 3, 0), true},
		{"openat O_TRUNC", sys(unix.SYS_OPENAT, atFDCWD, 0, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0644), true},
		{"creat", sys(unix.SYS_CREAT, 0, 0644), true},
		{"close", sys(unix.SYS_CLOSE, 3), false},
		{"umask", sys(unix.SYS_UMASK, 022), false},
		{"fchmod", sys(unix.SYS_FCHMOD, 3, 0644), false},
		{"lseek", sys(unix.SYS_LSEEK, 3, 0, 0), false},
		{"openat O_RDONLY", sys(unix.SYS_OPENAT, atFDCWD, 0, unix.O_RDONLY, 0), false},
		{"unlinkat", sys(unix.SYS_UNLINKAT, atFDCWD, 0, 0), false},
		{"FileRelease", &pb.Call{Op: &pb.Call_FileRelease{FileRelease: &pb.FileRelease{FileIds: []uint64{1}}}}, false},
	} {
		if got := changesFileBytes(tc.call); got != tc.want {
			t.Errorf("%s: changesFileBytes = %v, want %v", tc.name, got, tc.want)
		}
	}
}
