package server

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// iovec puts one struct iovec of n bytes at buf in m and returns its
// address.
func (m *appMem) iovec(buf uint64, n uint64) uint64 {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, buf)
	binary.LittleEndian.PutUint64(b[8:], n)
	return m.alloc(b)
}

// TestVectorFlagsErrors: preadv2's and pwritev2's RWF_* flags as Linux
// checks them, after the fd's mode and offset (ESPIPE, then EBADF, for
// positional calls of every kind too) and only for a call of some bytes:
// EOPNOTSUPP for a flag it does not know, EINVAL for RWF_APPEND with
// RWF_NOAPPEND, EOPNOTSUPP for what no file here offers (RWF_NOWAIT,
// RWF_ATOMIC, RWF_DONTCACHE but of a regular file, RWF_NOAPPEND of an
// O_APPEND description); the others are taken.
func TestVectorFlagsErrors(t *testing.T) {
	e := started(t)
	m := e.mem
	rw := e.open("/tmp/v", unix.O_RDWR|unix.O_CREAT)
	e.ok(1, unix.SYS_PWRITE64, rw, m.alloc([]byte("0123456789")), 10, 0)
	wo := e.open("/tmp/v", unix.O_WRONLY)
	ap := e.open("/tmp/v", unix.O_WRONLY|unix.O_APPEND)
	p := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, p, 0)
	pr, pw := uint64(m.u32(p)), uint64(m.u32(p+4))
	e.ok(1, unix.SYS_WRITE, pw, m.alloc([]byte("pipe")), 4) // nothing blocks if a check is missed
	buf := m.zeros(4)
	iov, empty := m.iovec(buf, 4), m.iovec(buf, 0)
	const (
		unknown = 0x200
		noCur   = ^uint64(0) // offset -1: the description's
	)
	for _, tc := range []struct {
		name         string
		sysno        uintptr
		fd, iov, cnt uint64
		off          uint64
		flags        uint64
		wantRet      int64
		want         unix.Errno
	}{
		{"preadv2", unix.SYS_PREADV2, rw, iov, 1, 0, 0, 4, 0},
		{"preadv2 of an unknown flag", unix.SYS_PREADV2, rw, iov, 1, 0, unknown, 0, unix.EOPNOTSUPP},
		{"preadv2 of the top flag", unix.SYS_PREADV2, rw, iov, 1, 0, 1 << 31, 0, unix.EOPNOTSUPP},
		{"preadv2 of no bytes, an unknown flag", unix.SYS_PREADV2, rw, empty, 1, 0, unknown, 0, 0},
		{"preadv2 of no iovec, an unknown flag", unix.SYS_PREADV2, rw, iov, 0, 0, unknown, 0, 0},
		{"preadv2 of a write-only fd, an unknown flag", unix.SYS_PREADV2, wo, iov, 1, 0, unknown, 0, unix.EBADF},
		{"preadv2 at an offset of a pipe's write end, an unknown flag", unix.SYS_PREADV2, pw, iov, 1, 0, unknown, 0, unix.ESPIPE},
		{"preadv2 of a bad iovec count, an unknown flag", unix.SYS_PREADV2, rw, iov, 1 << 20, 0, unknown, 0, unix.EINVAL},
		{"preadv2 appending and not", unix.SYS_PREADV2, rw, iov, 1, 0, unix.RWF_APPEND | unix.RWF_NOAPPEND, 0, unix.EINVAL},
		{"preadv2 without waiting", unix.SYS_PREADV2, rw, iov, 1, 0, unix.RWF_NOWAIT, 0, unix.EOPNOTSUPP},
		{"preadv2 of a pipe without waiting", unix.SYS_PREADV2, pr, iov, 1, noCur, unix.RWF_NOWAIT, 0, unix.EOPNOTSUPP},
		{"preadv2 atomic", unix.SYS_PREADV2, rw, iov, 1, 0, unix.RWF_ATOMIC, 0, unix.EOPNOTSUPP},
		{"preadv2 uncached", unix.SYS_PREADV2, rw, iov, 1, 0, unix.RWF_DONTCACHE, 4, 0},
		{"preadv2 of a pipe uncached", unix.SYS_PREADV2, pr, iov, 1, noCur, unix.RWF_DONTCACHE, 0, unix.EOPNOTSUPP},
		{"preadv2 of the flags a read ignores", unix.SYS_PREADV2, rw, iov, 1, 0,
			unix.RWF_HIPRI | unix.RWF_DSYNC | unix.RWF_SYNC | unix.RWF_APPEND | unix.RWF_NOSIGNAL, 4, 0},
		{"preadv2 of a pipe, the flags a read ignores", unix.SYS_PREADV2, pr, iov, 1, noCur, unix.RWF_HIPRI | unix.RWF_NOAPPEND, 4, 0},
		{"pwritev2 of an unknown flag", unix.SYS_PWRITEV2, rw, iov, 1, 0, unknown, 0, unix.EOPNOTSUPP},
		{"pwritev2 of no bytes, an unknown flag", unix.SYS_PWRITEV2, rw, empty, 1, 0, unknown, 0, 0},
		{"pwritev2 of a read-only pipe end at an offset", unix.SYS_PWRITEV2, pr, iov, 1, 0, 0, 0, unix.ESPIPE},
		{"pwritev2 without waiting", unix.SYS_PWRITEV2, rw, iov, 1, 0, unix.RWF_NOWAIT, 0, unix.EOPNOTSUPP},
		{"pwritev2 atomic", unix.SYS_PWRITEV2, rw, iov, 1, 0, unix.RWF_ATOMIC, 0, unix.EOPNOTSUPP},
		{"pwritev2 appending and not", unix.SYS_PWRITEV2, rw, iov, 1, 0, unix.RWF_APPEND | unix.RWF_NOAPPEND, 0, unix.EINVAL},
		{"pwritev2 not appending to an O_APPEND fd", unix.SYS_PWRITEV2, ap, iov, 1, 0, unix.RWF_NOAPPEND, 0, unix.EOPNOTSUPP},
		{"pwritev2 synced", unix.SYS_PWRITEV2, rw, iov, 1, 0, unix.RWF_HIPRI | unix.RWF_DSYNC | unix.RWF_SYNC | unix.RWF_NOAPPEND, 4, 0},
		{"pwrite64 of a pipe's read end", unix.SYS_PWRITE64, pr, buf, 4, 0, 0, 0, unix.ESPIPE},
		{"pread64 of a pipe's write end", unix.SYS_PREAD64, pw, buf, 4, 0, 0, 0, unix.ESPIPE},
		{"pwritev of a pipe's read end", unix.SYS_PWRITEV, pr, iov, 1, 0, 0, 0, unix.ESPIPE},
	} {
		rep := e.sys(1, tc.sysno, tc.fd, tc.iov, tc.cnt, tc.off, 0, tc.flags)
		if unix.Errno(rep.Errno) != tc.want || rep.Ret != tc.wantRet {
			t.Errorf("%s: ret %d errno %v, want %d %v", tc.name, rep.Ret, unix.Errno(rep.Errno), tc.wantRet, tc.want)
		}
	}
}

// TestVectorFlagsWrites: what pwritev2's flags do: RWF_APPEND writes at
// the end whatever the offset given (a positional call leaves the
// description's offset, one at offset -1 moves it past the bytes),
// RWF_NOAPPEND of a description without O_APPEND writes where asked,
// and RWF_NOSIGNAL's write to a pipe without a reader fails EPIPE
// without SIGPIPE.
func TestVectorFlagsWrites(t *testing.T) {
	e := started(t)
	m := e.mem
	fd := e.open("/tmp/w", unix.O_RDWR|unix.O_CREAT)
	e.ok(1, unix.SYS_WRITE, fd, m.alloc([]byte("0123456789")), 10) // offset 10
	host := filepath.Join(e.root, "tmp/w")
	iov := func(s string) uint64 { return m.iovec(m.alloc([]byte(s)), uint64(len(s))) }
	for _, tc := range []struct {
		name       string
		data       string
		off, flags uint64
		content    string
		offAfter   int64
	}{
		{"append at offset 0", "AB", 0, unix.RWF_APPEND, "0123456789AB", 10},
		{"append at the description's offset", "CD", ^uint64(0), unix.RWF_APPEND, "0123456789ABCD", 14},
		{"not appending", "x", 1, unix.RWF_NOAPPEND, "0x23456789ABCD", 14},
		{"synced at the description's offset", "EF", ^uint64(0), unix.RWF_DSYNC, "0x23456789ABCDEF", 16},
	} {
		if got := e.ok(1, unix.SYS_PWRITEV2, fd, iov(tc.data), 1, tc.off, 0, tc.flags); got != int64(len(tc.data)) {
			t.Errorf("%s: wrote %d", tc.name, got)
		}
		b, err := os.ReadFile(host)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.content {
			t.Errorf("%s: file %q, want %q", tc.name, b, tc.content)
		}
		if off := e.ok(1, unix.SYS_LSEEK, fd, 0, unix.SEEK_CUR); off != tc.offAfter {
			t.Errorf("%s: offset %d, want %d", tc.name, off, tc.offAfter)
		}
	}

	// A handler, so that the server pushes SIGPIPE (init ignores a
	// default-fatal one).
	act := ksignal.Action{Handler: 0x401000, Flags: ksignal.SARestorer, Restorer: 0x402000}
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGPIPE), m.alloc(act.Bytes()), 0, 8)
	p := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, p, 0)
	e.ok(1, unix.SYS_CLOSE, uint64(m.u32(p)))
	pw := uint64(m.u32(p + 4))
	sigpipes := func() int { return e.signalsPushed(unix.SIGPIPE) }
	e.fails(unix.EPIPE, 1, unix.SYS_PWRITEV2, pw, iov("x"), 1, ^uint64(0), 0, unix.RWF_NOSIGNAL)
	e.ok(1, unix.SYS_GETPID)
	if n := sigpipes(); n != 0 {
		t.Errorf("%d SIGPIPE for a write with RWF_NOSIGNAL", n)
	}
	e.fails(unix.EPIPE, 1, unix.SYS_PWRITEV2, pw, iov("x"), 1, ^uint64(0), 0, 0)
	e.waitPush(func(p *sentrypb.Push) bool { return p.GetSignal().GetSigno() == int32(unix.SIGPIPE) })
}

// TestVectorFlagsSynced: a pwritev2 with RWF_DSYNC or RWF_SYNC makes the
// file durable before its reply, as fdatasync or fsync after it: the
// writes before it are announced (a Durable push) and leave the client's
// log.
func TestVectorFlagsSynced(t *testing.T) {
	for _, flag := range []uint64{unix.RWF_DSYNC, unix.RWF_SYNC} {
		r := newReplayer(t)
		r.start()
		fd := r.open("/tmp/s", unix.O_CREAT|unix.O_RDWR)
		file, seq := r.retainedWrite(fd, "hello")
		iov := r.mem.iovec(r.mem.alloc([]byte("!")), 1)
		r.ok(1, unix.SYS_PWRITEV2, fd, iov, 1, 5, 0, flag)
		durable := r.durableSeq(file)
		if durable < seq {
			t.Errorf("flag %#x: pwritev2 returned before a Durable push covered seq %d (got %d)", flag, seq, durable)
		}
		b, err := os.ReadFile(filepath.Join(r.root, "tmp/s"))
		if err != nil || string(b) != "hello!" {
			t.Errorf("flag %#x: file %q, %v", flag, b, err)
		}
	}
}

// TestSyncedCopyAnnouncesEarlierWrites: a sendfile larger than one
// reply's data (a synced copy, made durable before its reply without
// write records) announces the writes its file description made before
// it durable too, as fdatasync; else the client's log kept them, and a
// restore would write them again over the bytes copied after them.
func TestSyncedCopyAnnouncesEarlierWrites(t *testing.T) {
	r := newReplayer(t)
	r.start()
	src := bytes.Repeat([]byte("s"), 5<<20)
	if err := os.WriteFile(filepath.Join(r.root, "tmp/src"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	out := r.open("/tmp/out", unix.O_CREAT|unix.O_RDWR)
	file, seq := r.retainedWrite(out, "hello")
	in := r.open("/tmp/src", unix.O_RDONLY)
	off := r.mem.alloc(make([]byte, 8))
	if n := r.ok(1, unix.SYS_SENDFILE, out, in, off, uint64(len(src))); n != int64(len(src)) {
		t.Fatalf("sendfile copied %d of %d", n, len(src))
	}
	durable := r.durableSeq(file)
	if durable < seq {
		t.Errorf("the synced copy returned before a Durable push covered the earlier write (seq %d, got %d)", seq, durable)
	}
}
