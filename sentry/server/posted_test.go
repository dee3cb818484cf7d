package server

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// posted makes a posted system call (Syscall.posted) from tid and returns
// its reply.
func (e *env) posted(tid int32, sysno uintptr, args ...uint64) *sentrypb.Reply {
	e.t.Helper()
	var a [6]uint64
	copy(a[:], args)
	var inputs []*sentrypb.Region
	for _, r := range sysabi.Inputs(sysno, a, e.mem) {
		inputs = append(inputs, &sentrypb.Region{Addr: r.Addr, Data: r.Data})
	}
	return e.call(&sentrypb.Call{Tid: tid, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: int32(sysno), Args: a[:], Inputs: inputs, Posted: true}}})
}

// TestPostedWriteError checks where the error of a failed write behind
// (or truncation behind) surfaces: kept on the description, it fails later posted writes of it
// (which then write nothing) and is returned once by the next fsync,
// fdatasync, waited write or waited close; kept on the file too, it is
// returned once by the next fsync of any description (or a syncfs)
// unless the description's own call returned it.
func TestPostedWriteError(t *testing.T) {
	const huge = uint64(1<<63 - 1) // past any file's maximum size: EFBIG
	tests := []struct {
		name string
		// then runs after the failed write behind on fd; kept is its
		// errno.
		then func(e *env, fd uint64, kept unix.Errno)
	}{
		{"fsync reports it once", func(e *env, fd uint64, kept unix.Errno) {
			e.fails(kept, 1, unix.SYS_FSYNC, fd)
			e.ok(1, unix.SYS_FSYNC, fd)
		}},
		{"fdatasync reports it once", func(e *env, fd uint64, kept unix.Errno) {
			e.fails(kept, 1, unix.SYS_FDATASYNC, fd)
			e.ok(1, unix.SYS_FDATASYNC, fd)
		}},
		{"a later write behind fails and writes nothing; close reports it and closes", func(e *env, fd uint64, kept unix.Errno) {
			if r := e.posted(1, unix.SYS_WRITE, fd, e.mem.alloc([]byte("late")), 4); unix.Errno(r.Errno) != kept {
				t.Errorf("write behind after a failed one: errno %v, want %v", unix.Errno(r.Errno), kept)
			}
			e.fails(kept, 1, unix.SYS_CLOSE, fd)
			e.fails(unix.EBADF, 1, unix.SYS_CLOSE, fd)
		}},
		{"a posted close does not report it; the file's next fsync does, once", func(e *env, fd uint64, kept unix.Errno) {
			if r := e.posted(1, unix.SYS_CLOSE, fd); r.Errno != 0 {
				t.Errorf("posted close: errno %v, want 0", unix.Errno(r.Errno))
			}
			fd2 := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, e.mem.str("/tmp/wb"), unix.O_WRONLY, 0))
			e.fails(kept, 1, unix.SYS_FSYNC, fd2)
			e.ok(1, unix.SYS_FSYNC, fd2)
			e.ok(1, unix.SYS_CLOSE, fd2)
		}},
		{"a posted close does not report it; a syncfs does, once", func(e *env, fd uint64, kept unix.Errno) {
			e.posted(1, unix.SYS_CLOSE, fd)
			fd2 := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, e.mem.str("/tmp"), unix.O_RDONLY|unix.O_DIRECTORY, 0))
			e.fails(kept, 1, unix.SYS_SYNCFS, fd2)
			e.ok(1, unix.SYS_SYNCFS, fd2)
		}},
		{"a waited close reports it; the file's next fsync does not", func(e *env, fd uint64, kept unix.Errno) {
			e.fails(kept, 1, unix.SYS_CLOSE, fd)
			fd2 := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, e.mem.str("/tmp/wb"), unix.O_WRONLY, 0))
			e.ok(1, unix.SYS_FSYNC, fd2)
		}},
		{"another description's fsync reports it, and its own", func(e *env, fd uint64, kept unix.Errno) {
			fd2 := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, e.mem.str("/tmp/wb"), unix.O_WRONLY, 0))
			e.fails(kept, 1, unix.SYS_FSYNC, fd2)
			e.ok(1, unix.SYS_FSYNC, fd2)
			e.fails(kept, 1, unix.SYS_FDATASYNC, fd)
			e.ok(1, unix.SYS_FDATASYNC, fd)
		}},
		{"a waited write reports it, the next one writes", func(e *env, fd uint64, kept unix.Errno) {
			e.fails(kept, 1, unix.SYS_WRITE, fd, e.mem.alloc([]byte("no")), 2)
			e.ok(1, unix.SYS_WRITE, fd, e.mem.alloc([]byte("yes")), 3)
		}},
	}
	// The failing write behind: a pwrite64 or a pwritev; or a posted
	// ftruncate (a truncation behind, runTruncateBehind).
	failing := map[string]func(e *env, fd uint64) *sentrypb.Reply{
		"ftruncate": func(e *env, fd uint64) *sentrypb.Reply {
			return e.posted(1, unix.SYS_FTRUNCATE, fd, huge)
		},
		"pwrite64": func(e *env, fd uint64) *sentrypb.Reply {
			return e.posted(1, unix.SYS_PWRITE64, fd, e.mem.alloc([]byte("xx")), 2, huge)
		},
		"pwritev": func(e *env, fd uint64) *sentrypb.Reply {
			iov := make([]byte, 32)
			binary.LittleEndian.PutUint64(iov[0:], e.mem.alloc([]byte("x")))
			binary.LittleEndian.PutUint64(iov[8:], 1)
			binary.LittleEndian.PutUint64(iov[16:], e.mem.alloc([]byte("yz")))
			binary.LittleEndian.PutUint64(iov[24:], 2)
			return e.posted(1, unix.SYS_PWRITEV, fd, e.mem.alloc(iov), 2, huge)
		},
	}
	for _, tc := range tests {
		for fname, fail := range failing {
			t.Run(fname+"/"+tc.name, func(t *testing.T) {
				e := started(t)
				m := e.mem
				fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/wb"), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o644))
				if r := e.posted(1, unix.SYS_WRITE, fd, m.alloc([]byte("ok")), 2); r.Errno != 0 || r.Ret != 2 {
					t.Fatalf("write behind: ret %d errno %v", r.Ret, unix.Errno(r.Errno))
				}
				r := fail(e, fd)
				kept := unix.Errno(r.Errno)
				if kept == 0 {
					t.Fatalf("%s at %d succeeded", fname, huge)
				}
				tc.then(e, fd, kept)
				got, err := os.ReadFile(filepath.Join(e.root, "tmp/wb"))
				if err != nil {
					t.Fatal(err)
				}
				if s := string(got); s != "ok" && s != "okyes" {
					t.Errorf("file holds %q", s)
				}
			})
		}
	}
}

// TestReplayPostedWritesOnce: posted writes in flight when the server
// dies are re-sent after the Restore with their seqs, in order: the one
// whose reply was folded is not re-sent, those the dead server applied
// (replies lost) and the one it never received are each applied once, at
// the offset the file had, and the fd's offset goes on from there.
func TestReplayPostedWritesOnce(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	fd := r.open("/tmp/wb", unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC)
	posted := func(s string) *sentrypb.Call {
		c := r.syscallCall(1, unix.SYS_WRITE, fd, m.alloc([]byte(s)), uint64(len(s)))
		c.GetSyscall().Posted = true
		return c
	}
	w1, w2, w3, w4 := posted("one\n"), posted("two\n"), posted("three\n"), posted("four\n")
	chmod := r.syscallCall(1, unix.SYS_FCHMOD, fd, 0o600)
	chmod.GetSyscall().Posted = true
	r.call(w1, false) // its reply arrived
	r.call(w2, true)  // applied; the reply died with the server
	r.call(chmod, true)
	r.call(w3, true)
	r.mu.Lock()
	r.seq++ // w4 was sent, but the server died before it read it
	w4.Seq = r.seq
	r.mu.Unlock()
	r.recover(nil)
	for _, c := range []*sentrypb.Call{w2, chmod, w3, w4} {
		if rep := r.call(c, false); rep.Errno != 0 {
			t.Fatalf("re-sent seq %d: errno %v", c.Seq, unix.Errno(rep.Errno))
		}
	}
	r.ok(1, unix.SYS_WRITE, fd, m.alloc([]byte("five\n")), 5)
	if b, _ := os.ReadFile(filepath.Join(r.root, "tmp/wb")); string(b) != "one\ntwo\nthree\nfour\nfive\n" {
		t.Errorf("file holds %q", b)
	}
	if st, err := os.Stat(filepath.Join(r.root, "tmp/wb")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", st.Mode(), err)
	}
}
