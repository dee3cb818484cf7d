package client

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestPrctlNoNewPrivsArgs: PR_SET_NO_NEW_PRIVS takes 1 and nothing after
// it, PR_GET_NO_NEW_PRIVS nothing at all (Linux's EINVAL otherwise; LTP
// prctl02), and a refused call leaves the bit as it was.
func TestPrctlNoNewPrivsArgs(t *testing.T) {
	tk := &task{proc: &process{}}
	for _, tc := range []struct {
		name  string
		args  [6]uint64
		ret   uint64
		errno unix.Errno
	}{
		{"get before", [6]uint64{linux.PR_GET_NO_NEW_PRIVS}, 0, 0},
		{"set 0", [6]uint64{linux.PR_SET_NO_NEW_PRIVS, 0}, 0, unix.EINVAL},
		{"set 1 with arg3", [6]uint64{linux.PR_SET_NO_NEW_PRIVS, 1, 1}, 0, unix.EINVAL},
		{"set 1 with arg5", [6]uint64{linux.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 1}, 0, unix.EINVAL},
		{"get with arg2", [6]uint64{linux.PR_GET_NO_NEW_PRIVS, 1}, 0, unix.EINVAL},
		{"still unset", [6]uint64{linux.PR_GET_NO_NEW_PRIVS}, 0, 0},
		{"set 1", [6]uint64{linux.PR_SET_NO_NEW_PRIVS, 1}, 0, 0},
		{"get after", [6]uint64{linux.PR_GET_NO_NEW_PRIVS}, 1, 0},
	} {
		ret, errno := sysPrctl(tk, tc.args)
		if ret != tc.ret || errno != tc.errno {
			t.Errorf("%s: got %d (%v), want %d (%v)", tc.name, ret, errno, tc.ret, tc.errno)
		}
	}
}
