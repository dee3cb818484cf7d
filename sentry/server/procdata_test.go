package server

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProcDataAtOpen checks which opens bring their /proc file's content
// (Syscall.proc_data_wanted, Reply.proc_data) and that it is what the
// description's first read returns, as the client answers it: a /proc
// file read whole and readable does, asked; a gofer file, a write-only
// open, pagemap (read by range) and an open that did not ask do not.
func TestProcDataAtOpen(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		flags  uint64
		wanted bool
		// brings says the reply carries the content.
		brings bool
	}{
		{name: "cgroup", path: "/proc/self/cgroup", flags: unix.O_RDONLY, wanted: true, brings: true},
		{name: "mountinfo", path: "/proc/self/mountinfo", flags: unix.O_RDONLY | unix.O_CLOEXEC, wanted: true, brings: true},
		{name: "read-write", path: "/proc/self/oom_score_adj", flags: unix.O_RDWR, wanted: true, brings: true},
		{name: "not asked", path: "/proc/self/cgroup", flags: unix.O_RDONLY},
		{name: "write-only", path: "/proc/self/oom_score_adj", flags: unix.O_WRONLY, wanted: true},
		{name: "by range", path: "/proc/self/pagemap", flags: unix.O_RDONLY, wanted: true},
		{name: "gofer file", path: busybox, flags: unix.O_RDONLY, wanted: true},
	}
	e := started(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.procDataWanted = tc.wanted
			r := e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), e.mem.str(tc.path), tc.flags, 0)
			e.procDataWanted = false
			if r.Errno != 0 {
				t.Fatalf("open %s: %v", tc.path, unix.Errno(r.Errno))
			}
			fd := uint64(r.Ret)
			defer e.ok(1, unix.SYS_CLOSE, fd)
			if got := r.ProcData != nil; got != tc.brings {
				t.Fatalf("the open's reply brings content: %v, want %v", got, tc.brings)
			}
			if !tc.brings {
				return
			}
			buf := e.mem.alloc(make([]byte, 1<<16))
			n := e.ok(1, unix.SYS_READ, fd, buf, 1<<16)
			if read := e.mem.bytes(buf, int(n)); !bytes.Equal(read, r.ProcData.Data) {
				t.Errorf("the first read returned %q, the open's content is %q", read, r.ProcData.Data)
			}
		})
	}
}
