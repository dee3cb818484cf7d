package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestSysctlsSurviveRestore: every /proc/sys value root may write reads
// back, after the server is replaced, as it was written: those the
// sysctl record carries (fs/nr_open, pipe-max-size, lease-break-time,
// ip_forward, core_pattern, core_uses_pid, fs/mqueue/*), the SysV
// limits and next ids (the SysV ids' record) and ns_last_pid (the
// allocators'). vm/nr_hugepages and vm/drop_caches keep nothing.
func TestSysctlsSurviveRestore(t *testing.T) {
	r := newReplayer(t)
	r.start()
	cases := []struct {
		path, write, want string
	}{
		{"fs/nr_open", "4096", "4096\n"},
		{"fs/pipe-max-size", "100000", "131072\n"}, // rounded up as Linux does
		{"fs/lease-break-time", "7", "7\n"},
		{"net/ipv4/ip_forward", "1", "1\n"},
		{"kernel/core_pattern", "core.%e.%p\n", "core.%e.%p\n"},
		{"kernel/core_uses_pid", "1", "1\n"},
		{"fs/mqueue/queues_max", "-1", "-1\n"},
		{"fs/mqueue/msg_max", "20", "20\n"},
		{"fs/mqueue/msgsize_max", "4096", "4096\n"},
		{"fs/mqueue/msg_default", "3", "3\n"},
		{"fs/mqueue/msgsize_default", "1024", "1024\n"},
		{"kernel/msgmni", "100", "100\n"},
		{"kernel/shmmni", "200", "200\n"},
		{"kernel/shmmax", "1000000", "1000000\n"},
		{"kernel/shmall", "5000", "5000\n"},
		{"kernel/msg_next_id", "98311", "98311\n"},
		{"kernel/sem_next_id", "12345", "12345\n"},
		{"kernel/shm_next_id", "7", "7\n"},
		{"kernel/ns_last_pid", "499", "499\n"},
	}
	read := func(path string) string {
		t.Helper()
		fd := r.open("/proc/sys/"+path, unix.O_RDONLY)
		defer r.ok(1, unix.SYS_CLOSE, fd)
		return r.readStr(1, fd, 256)
	}
	for _, tc := range cases {
		r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/"+tc.path, tc.write))
		if got := read(tc.path); got != tc.want {
			t.Fatalf("%s reads %q after writing %q, want %q", tc.path, got, tc.write, tc.want)
		}
	}
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	for _, tc := range cases {
		if got := read(tc.path); got != tc.want {
			t.Errorf("%s reads %q after the restore, want %q", tc.path, got, tc.want)
		}
	}
}
