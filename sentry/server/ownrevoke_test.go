package server

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
)

// TestOwnRevocationsInReplies: a client that takes the revocations of
// its own changes in replies (Hello.own_revokes) finds that of its lease
// on a directory's attributes, which its own creation there revoked, in
// the creation's reply (LeaseRevoke.own), and in no push; a client that
// did not ask gets it in a push before the reply. Another client's
// creation there still revokes in a push, not own, and returns only once
// the holder acknowledged.
func TestOwnRevocationsInReplies(t *testing.T) {
	e := started(t)
	m := e.mem
	for _, own := range []bool{true, false} {
		t.Run(fmt.Sprintf("own_revokes=%v", own), func(t *testing.T) {
			l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, OwnRevokes: own})
			lm := l.mem
			dir := fmt.Sprintf("/tmp/ownrevoke-%v", own)
			e.ok(1, unix.SYS_MKDIR, m.str(dir), 0o755)
			attrsLease := func() uint64 {
				t.Helper()
				r := pathSys(l, unix.SYS_STAT, lm.str(dir), lm.zeros(144))
				pl := r.PathLease
				if r.Errno != 0 || pl == nil || len(pl.Kinds) != len(pl.Ids) {
					t.Fatalf("stat %s: errno %v, lease %v", dir, unix.Errno(r.Errno), pl)
				}
				i := slices.Index(pl.Kinds, uint32(readlease.PathAttrs))
				if i < 0 {
					t.Fatalf("stat %s: no lease on its attributes in %v", dir, pl)
				}
				return pl.Ids[i]
			}
			id := attrsLease()
			r := pathSys(l, unix.SYS_OPENAT, uint64(atFDCWD64), lm.str(dir+"/a"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
			if r.Errno != 0 {
				t.Fatalf("creation: %v", unix.Errno(r.Errno))
			}
			l.ok(1, unix.SYS_CLOSE, uint64(r.Ret))
			inReply := slices.Contains(r.GetLeaseRevoke().GetIds(), id)
			pushed := false
			l.mu.Lock()
			for _, ev := range l.events {
				if p, ok := ev.(*sentrypb.Push); ok && slices.Contains(p.GetLeaseRevoke().GetIds(), id) {
					pushed = true
				}
			}
			l.mu.Unlock()
			if inReply != own || pushed == own || (own && !r.LeaseRevoke.Own) {
				t.Errorf("own creation's revocation of lease %d: in its reply %v (%v), pushed %v; want in the reply alone: %v", id, inReply, r.LeaseRevoke, pushed, own)
			}
			// Another client's creation: a push the holder acknowledges
			// before that creation returns.
			id = attrsLease()
			done := make(chan *sentrypb.Reply, 1)
			go func() {
				done <- e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str(dir+"/b"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
			}()
			p := l.waitPush(func(p *sentrypb.Push) bool { return slices.Contains(p.GetLeaseRevoke().GetIds(), id) })
			if p.GetLeaseRevoke().Own {
				t.Errorf("another client's change revoked %v as the holder's own", p.GetLeaseRevoke())
			}
			select {
			case <-done:
				t.Error("the other client's creation returned before the holder acknowledged")
			case <-time.After(100 * time.Millisecond):
			}
			l.ackRevoke(t, p)
			if r := <-done; r.Errno != 0 {
				t.Errorf("the other client's creation: %v", unix.Errno(r.Errno))
			} else {
				e.ok(1, unix.SYS_CLOSE, uint64(r.Ret))
			}
		})
	}
}
