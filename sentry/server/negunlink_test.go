package server

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
)

// TestNegativeUnlinkLease checks which unlinks' replies carry a path
// lease (only a failure with ENOENT: the client answers the same unlink
// again), that a name missing from a directory the caller may write is
// creatable and leased by that directory's missing names, and that
// another client's creation of the name revokes that lease.
func TestNegativeUnlinkLease(t *testing.T) {
	e := newEnv(t)
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: %v", unix.Errno(r.Errno))
	}
	m := e.mem
	e.ok(1, unix.SYS_MKDIRAT, uint64(atFDCWD64), m.str("/tmp/nu"), 0o755)
	fd := e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/nu/f"), unix.O_CREAT|unix.O_WRONLY, 0o644)
	e.ok(1, unix.SYS_CLOSE, uint64(fd))
	dirIno, errno := statIno(e, "/tmp/nu")
	if errno != 0 {
		t.Fatal(errno)
	}
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true})
	lm := l.mem
	tests := []struct {
		name      string
		sysno     uintptr
		args      []uint64
		wantErrno unix.Errno
		wantLease bool
		creatable bool
	}{
		{"unlink of a missing name", unix.SYS_UNLINK, []uint64{lm.str("/tmp/nu/nope")}, unix.ENOENT, true, true},
		{"unlinkat of a missing name", unix.SYS_UNLINKAT, []uint64{uint64(atFDCWD64), lm.str("/tmp/nu/nope"), 0}, unix.ENOENT, true, true},
		{"unlink relative to the cwd", unix.SYS_UNLINK, []uint64{lm.str("tmp/nu/nope")}, unix.ENOENT, true, true},
		{"unlink in a missing directory", unix.SYS_UNLINK, []uint64{lm.str("/tmp/nu/nodir/x")}, unix.ENOENT, true, false},
		{"unlinkat with AT_REMOVEDIR", unix.SYS_UNLINKAT, []uint64{uint64(atFDCWD64), lm.str("/tmp/nu/nope"), unix.AT_REMOVEDIR}, unix.ENOENT, false, false},
		{"unlink of a directory", unix.SYS_UNLINK, []uint64{lm.str("/tmp/nu")}, unix.EISDIR, false, false},
		{"unlink of /proc's name", unix.SYS_UNLINK, []uint64{lm.str("/proc/nope")}, unix.ENOENT, false, false},
		{"unlink that succeeds", unix.SYS_UNLINK, []uint64{lm.str("/tmp/nu/f")}, 0, false, false},
	}
	var namesID uint64
	for _, tc := range tests {
		r := pathSys(l, tc.sysno, tc.args...)
		if unix.Errno(r.Errno) != tc.wantErrno {
			t.Errorf("%s: errno %v, want %v", tc.name, unix.Errno(r.Errno), tc.wantErrno)
		}
		pl := r.PathLease
		if (pl != nil) != tc.wantLease {
			t.Errorf("%s: lease %v, want one: %v", tc.name, pl, tc.wantLease)
			continue
		}
		if pl == nil {
			continue
		}
		if pl.Creatable != tc.creatable {
			t.Errorf("%s: creatable %v, want %v", tc.name, pl.Creatable, tc.creatable)
		}
		if len(pl.Kinds) != len(pl.Ids) || len(pl.Inos) != len(pl.Ids) || len(pl.SearchIds) != 0 {
			t.Errorf("%s: ids %v, kinds %v, inos %v, search ids %v: want a kind and inode for each id and no search id",
				tc.name, pl.Ids, pl.Kinds, pl.Inos, pl.SearchIds)
			continue
		}
		if !tc.creatable {
			continue
		}
		// The missing name's directory's names: its last lease, and
		// no other lease of names.
		last := len(pl.Ids) - 1
		if pl.Kinds[last] != uint32(readlease.PathNames) || pl.Inos[last] != dirIno ||
			slices.Contains(pl.Kinds[:last], uint32(readlease.PathNames)) {
			t.Errorf("%s: kinds %v, inos %v; want the names of /tmp/nu (inode %d) last and alone", tc.name, pl.Kinds, pl.Inos, dirIno)
		}
		if tc.name == "unlink of a missing name" {
			namesID = pl.Ids[last]
		}
	}
	if namesID == 0 {
		t.Fatal("no lease of /tmp/nu's names")
	}
	// The other client's creation of the name revokes it before its
	// reply.
	created := make(chan *sentrypb.Reply, 1)
	go func() {
		created <- e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/nu/nope"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
	}()
	p := l.waitPush(func(p *sentrypb.Push) bool { return p.GetLeaseRevoke() != nil })
	if revoked := p.GetLeaseRevoke().Ids; !slices.Contains(revoked, namesID) {
		t.Errorf("the creation revoked %v, want %d (the names of /tmp/nu)", revoked, namesID)
	}
	l.ackRevoke(t, p)
	if r := <-created; r.Errno != 0 {
		t.Errorf("the creation: %v", unix.Errno(r.Errno))
	}
}
