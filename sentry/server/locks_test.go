package server

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func describe(locks []heldLock, names map[lockOwner]string) string {
	var parts []string
	for _, l := range locks {
		t := "r"
		if l.write {
			t = "w"
		}
		end := fmt.Sprint(l.end)
		if l.end == lockEOF {
			end = "EOF"
		}
		parts = append(parts, fmt.Sprintf("%s%s[%d,%s)", names[l.owner], t, l.start, end))
	}
	return strings.Join(parts, " ")
}

func TestLockRanges(t *testing.T) {
	a, b := lockOwner{tab: &fdTable{}}, lockOwner{tab: &fdTable{}}
	names := map[lockOwner]string{a: "a", b: "b"}
	type op struct {
		owner      lockOwner
		typ        int // unix.F_RDLCK, F_WRLCK, F_UNLCK
		start, end uint64
	}
	for _, tc := range []struct {
		name string
		ops  []op
		want string
	}{
		{"one lock", []op{{a, unix.F_WRLCK, 0, 10}}, "aw[0,10)"},
		{"adjacent same type merge", []op{{a, unix.F_WRLCK, 0, 10}, {a, unix.F_WRLCK, 10, 20}}, "aw[0,20)"},
		{"overlap merges", []op{{a, unix.F_RDLCK, 0, 10}, {a, unix.F_RDLCK, 5, 15}}, "ar[0,15)"},
		{"unlock middle splits", []op{{a, unix.F_WRLCK, 0, 10}, {a, unix.F_UNLCK, 3, 7}}, "aw[0,3) aw[7,10)"},
		{"downgrade part", []op{{a, unix.F_WRLCK, 0, 10}, {a, unix.F_RDLCK, 2, 4}}, "aw[0,2) ar[2,4) aw[4,10)"},
		{"to EOF", []op{{a, unix.F_RDLCK, 5, lockEOF}, {a, unix.F_UNLCK, 100, lockEOF}}, "ar[5,100)"},
		{"owners kept apart", []op{{a, unix.F_RDLCK, 0, 10}, {b, unix.F_RDLCK, 5, 15}, {a, unix.F_UNLCK, 0, lockEOF}}, "br[5,15)"},
		{"unlock of nothing", []op{{a, unix.F_UNLCK, 0, 10}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var locks []heldLock
			for _, o := range tc.ops {
				var nl *heldLock
				if o.typ != unix.F_UNLCK {
					nl = &heldLock{owner: o.owner, write: o.typ == unix.F_WRLCK, start: o.start, end: o.end}
				}
				locks = setRange(locks, o.owner, o.start, o.end, nl)
			}
			if got := describe(locks, names); got != tc.want {
				t.Errorf("locks %q, want %q", got, tc.want)
			}
		})
	}

	held := []heldLock{{owner: a, write: true, start: 0, end: 10}, {owner: b, start: 20, end: 30}}
	for _, tc := range []struct {
		owner      lockOwner
		write      bool
		start, end uint64
		want       string
	}{
		{b, false, 5, 6, "a"},
		{b, true, 9, 20, "a"},
		{b, true, 10, 20, ""},
		{a, false, 0, 10, ""},
		{a, false, 25, 26, ""},
		{a, true, 25, 26, "b"},
		{a, true, 30, lockEOF, ""},
	} {
		got := ""
		if l := conflict(held, tc.owner, tc.write, tc.start, tc.end); l != nil {
			got = names[l.owner]
		}
		if got != tc.want {
			t.Errorf("conflict(%s, write %v, [%d,%d)) = %q, want %q", names[tc.owner], tc.write, tc.start, tc.end, got, tc.want)
		}
	}
}

func flockArgs(m *appMem, typ int16, start, length int64) uint64 {
	b := make([]byte, sizeofFlock)
	binary.LittleEndian.PutUint16(b, uint16(typ))
	binary.LittleEndian.PutUint64(b[8:], uint64(start))
	binary.LittleEndian.PutUint64(b[16:], uint64(length))
	return m.alloc(b)
}

// TestLockHeldAcrossRestore: a POSIX lock and an OFD lock taken before
// the server dies are held by the same owners after the restore.
func TestLockHeldAcrossRestore(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	fd := r.open("/tmp/locked", unix.O_CREAT|unix.O_RDWR)
	ofd := r.open("/tmp/locked", unix.O_RDWR)
	r.ok(1, unix.SYS_FCNTL, fd, unix.F_SETLK, flockArgs(m, unix.F_WRLCK, 0, 10))
	r.ok(1, unix.SYS_FCNTL, ofd, fOFDSetlk, flockArgs(m, unix.F_WRLCK, 100, 0))
	child := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	cfd := uint64(r.ok(child, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/locked"), unix.O_RDWR, 0))

	r.recover(nil)

	for _, tc := range []struct {
		name       string
		start, len int64
		want       unix.Errno
	}{
		{"the parent's POSIX lock", 5, 1, unix.EAGAIN},
		{"the OFD lock", 200, 1, unix.EAGAIN},
		{"a free range", 20, 10, 0},
	} {
		rep := r.sys(child, unix.SYS_FCNTL, cfd, unix.F_SETLK, flockArgs(m, unix.F_WRLCK, tc.start, tc.len))
		if unix.Errno(rep.Errno) != tc.want {
			t.Errorf("%s: child's F_SETLK errno %v, want %v", tc.name, unix.Errno(rep.Errno), tc.want)
		}
	}
	// The owners are the restored ones: closing the parent's fd drops its
	// POSIX lock; the OFD lock goes with the description's last fd (the
	// child inherited one).
	r.ok(1, unix.SYS_CLOSE, fd)
	r.ok(child, unix.SYS_FCNTL, cfd, unix.F_SETLK, flockArgs(m, unix.F_WRLCK, 5, 1))
	r.ok(1, unix.SYS_CLOSE, ofd)
	if rep := r.sys(child, unix.SYS_FCNTL, cfd, unix.F_SETLK, flockArgs(m, unix.F_WRLCK, 200, 1)); unix.Errno(rep.Errno) != unix.EAGAIN {
		t.Errorf("OFD lock with one fd of its description left: errno %v, want EAGAIN", unix.Errno(rep.Errno))
	}
	r.ok(child, unix.SYS_CLOSE, ofd)
	r.ok(child, unix.SYS_FCNTL, cfd, unix.F_SETLK, flockArgs(m, unix.F_WRLCK, 200, 1))
}

// TestFifoAcrossRestore: a FIFO held open across a restore keeps its
// pipe: unread data is still there, and a new open of the FIFO meets the
// restored pipe.
func TestFifoAcrossRestore(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	written := make(map[uint64][]byte)
	r.start()
	r.ok(1, unix.SYS_MKNOD, m.str("/tmp/fifo"), unix.S_IFIFO|0644, 0)
	rw := r.open("/tmp/fifo", unix.O_RDWR)
	r.write(1, rw, "before", written)

	r.recover(written)

	rd := r.open("/tmp/fifo", unix.O_RDONLY|unix.O_NONBLOCK)
	if got := r.readStr(1, rd, 64); got != "before" {
		t.Errorf("read %q from a new open of the restored FIFO, want %q", got, "before")
	}
	r.write(1, rw, "after", nil)
	if got := r.readStr(1, rd, 64); got != "after" {
		t.Errorf("read %q, want %q", got, "after")
	}
}
