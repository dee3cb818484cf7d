package server

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestMqueueDevRecovery: a queue made by open(O_CREAT) in /dev/mqueue is
// a queue of the namespace, kept across a server failure with its
// message and its open(2) description; after the restore /dev/mqueue
// still lists it, stat shows it, and unlink there removes it as
// mq_unlink.
func TestMqueueDevRecovery(t *testing.T) {
	r := newReplayer(t)
	rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte(busybox), []byte("sh")}, Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/"), Umask: 022,
		Mounts: []*sentrypb.MountSpec{{Fstype: "mqueue", Source: "mqueue", Target: "/dev/mqueue", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}}}}}, false)
	if rep.Errno != 0 {
		t.Fatalf("Start: %v", unix.Errno(rep.Errno))
	}
	list := func() string {
		t.Helper()
		fd := r.open("/dev/mqueue", unix.O_RDONLY|unix.O_DIRECTORY)
		defer r.ok(1, unix.SYS_CLOSE, fd)
		buf := r.mem.zeros(4096)
		var names []string
		for {
			n := int(r.ok(1, unix.SYS_GETDENTS64, fd, buf, 4096))
			if n == 0 {
				return strings.Join(names, " ")
			}
			b := r.mem.bytes(buf, n)
			for off := 0; off+19 <= n; {
				reclen := int(binary.LittleEndian.Uint16(b[off+16:]))
				name, _, _ := strings.Cut(string(b[off+19:off+reclen]), "\x00")
				if name != "." && name != ".." {
					names = append(names, name)
				}
				off += reclen
			}
		}
	}
	q := r.open("/dev/mqueue/rd-dev", unix.O_CREAT|unix.O_RDWR|unix.O_EXCL)
	r.ok(1, unix.SYS_MQ_TIMEDSEND, q, r.mem.str("kept"), 4, 2, 0)
	if got := list(); got != "rd-dev" {
		t.Fatalf("/dev/mqueue lists %q before the failure, want rd-dev", got)
	}

	r.crash()
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	if got := list(); got != "rd-dev" {
		t.Errorf("/dev/mqueue lists %q after the restore, want rd-dev", got)
	}
	st := r.mem.zeros(144)
	r.ok(1, unix.SYS_STAT, r.mem.str("/dev/mqueue/rd-dev"), st)
	if mode := binary.LittleEndian.Uint32(r.mem.bytes(st, 144)[24:]); mode != unix.S_IFREG|0644 {
		t.Errorf("stat mode %o after the restore, want 100644", mode)
	}
	if size := binary.LittleEndian.Uint64(r.mem.bytes(st, 144)[48:]); size != 80 {
		t.Errorf("stat size %d, want 80", size)
	}
	buf := r.mem.zeros(8192)
	if n := r.ok(1, unix.SYS_MQ_TIMEDRECEIVE, q, buf, 8192, 0, 0); n != 4 || string(r.mem.bytes(buf, 4)) != "kept" {
		t.Errorf("receive through the open(2) description after the restore: %d %q", n, r.mem.bytes(buf, int(n)))
	}
	r.ok(1, unix.SYS_UNLINK, r.mem.str("/dev/mqueue/rd-dev"))
	if got := list(); got != "" {
		t.Errorf("/dev/mqueue lists %q after unlink, want nothing", got)
	}
	if rep := r.sys(1, unix.SYS_MQ_OPEN, r.mem.str("rd-dev"), unix.O_RDWR, 0, 0); unix.Errno(rep.Errno) != unix.ENOENT {
		t.Errorf("mq_open after unlink in /dev/mqueue: %v, want ENOENT", unix.Errno(rep.Errno))
	}
}
