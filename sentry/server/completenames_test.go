package server

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
)

// TestCompleteNamesLease checks that a mkdir's reply, when it wants a
// path lease, carries a lease on the complete names of the directory it
// made (Reply.complete_names), that the caller's own creation, chmod and
// unlink there do not revoke it, and that another client's change of
// the directory or its names does, before that change is made. A client
// that did not ask (Hello.complete_names) gets none.
func TestCompleteNamesLease(t *testing.T) {
	e := started(t)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, CompleteNames: true})
	m, lm := e.mem, l.mem
	tests := []struct {
		name string
		dir  string
		// other is the other client's change in dir.
		other func(dir string) *sentrypb.Reply
	}{
		{"another's creation", "/tmp/cna", func(dir string) *sentrypb.Reply {
			return e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str(dir+"/b"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
		}},
		{"another's mkdir", "/tmp/cnb", func(dir string) *sentrypb.Reply {
			return e.sys(1, unix.SYS_MKDIR, m.str(dir+"/d"), 0o755)
		}},
		{"another's chmod", "/tmp/cnc", func(dir string) *sentrypb.Reply {
			return e.sys(1, unix.SYS_FCHMODAT, uint64(atFDCWD64), m.str(dir), 0o777, 0)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := pathSys(l, unix.SYS_MKDIR, lm.str(tc.dir), 0o755)
			if r.Errno != 0 {
				t.Fatalf("mkdir: %v", unix.Errno(r.Errno))
			}
			ino, errno := statIno(l, tc.dir)
			if errno != 0 {
				t.Fatal(errno)
			}
			cn := r.CompleteNames
			if cn == nil || len(cn.Ids) != 1 || cn.Id != cn.Ids[0] || !slices.Equal(cn.Kinds, []uint32{uint32(readlease.PathComplete)}) ||
				!slices.Equal(cn.Inos, []uint64{ino}) || cn.TtlMs == 0 {
				t.Fatalf("complete names %v, want one lease of kind %d on inode %d", cn, readlease.PathComplete, ino)
			}
			if r.PathLease == nil || slices.Contains(r.PathLease.Ids, cn.Id) || slices.Contains(r.PathLease.Kinds, uint32(readlease.PathComplete)) {
				t.Fatalf("parent stat's lease %v holds the complete names' %d", r.PathLease, cn.Id)
			}
			// The holder's own changes there.
			fd := l.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), lm.str(tc.dir+"/a"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
			l.ok(1, unix.SYS_CLOSE, uint64(fd))
			l.ok(1, unix.SYS_FCHMODAT, uint64(atFDCWD64), lm.str(tc.dir), 0o700, 0)
			l.ok(1, unix.SYS_UNLINK, lm.str(tc.dir+"/a"))
			// Revocations of the holder's own changes come before
			// their replies on the same stream.
			l.mu.Lock()
			for _, ev := range l.events {
				if p, ok := ev.(*sentrypb.Push); ok && slices.Contains(p.GetLeaseRevoke().GetIds(), cn.Id) {
					t.Errorf("the holder's own change revoked its complete names (%v)", p.GetLeaseRevoke())
				}
			}
			l.mu.Unlock()
			done := make(chan *sentrypb.Reply, 1)
			go func() { done <- tc.other(tc.dir) }()
			p := l.waitPush(func(p *sentrypb.Push) bool { return slices.Contains(p.GetLeaseRevoke().GetIds(), cn.Id) })
			l.ackRevoke(t, p)
			if r := <-done; r.Errno != 0 {
				t.Errorf("the other client's change: %v", unix.Errno(r.Errno))
			}
		})
	}
}

// TestCompleteNamesNotAsked checks that a client with path leases that
// did not ask for complete names (Hello.complete_names) gets none.
func TestCompleteNamesNotAsked(t *testing.T) {
	e := started(t)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true})
	r := pathSys(l, unix.SYS_MKDIR, l.mem.str("/tmp/cn0"), 0o755)
	if r.Errno != 0 || r.PathLease == nil || r.CompleteNames != nil {
		t.Fatalf("mkdir: errno %v, lease %v, complete names %v; want a lease and no complete names",
			unix.Errno(r.Errno), r.PathLease, r.CompleteNames)
	}
	if slices.Contains(r.PathLease.Kinds, uint32(readlease.PathComplete)) {
		t.Errorf("lease %v holds complete names", r.PathLease)
	}
}
