package client

import (
	"testing"
	"time"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestReserveOpen: a posted open takes the lowest free fd of the
// caller's table below the limit, never one of a table another process
// shares; its reply puts the server's description wherever the
// provisional one went (a posted dup copied it), or forgets those fds if
// the open failed.
func TestReserveOpen(t *testing.T) {
	const prov, real = provisionalDesc | 1, 42
	tests := []struct {
		name string
		fds  []int32
		// shared makes another process use the table.
		shared bool
		limit  int32
		wantFD int32
		wantOK bool
		// dupTo, if not 0, is an fd a posted dup of the new fd took
		// before the reply; opened says the open succeeded.
		dupTo  int32
		opened bool
	}{
		{name: "empty table", limit: 1024, wantFD: 0, wantOK: true, opened: true},
		{name: "stdio open", fds: []int32{0, 1, 2}, limit: 1024, wantFD: 3, wantOK: true, opened: true},
		{name: "a hole", fds: []int32{0, 1, 2, 4}, limit: 1024, wantFD: 3, wantOK: true, dupTo: 10, opened: true},
		{name: "failed open forgets its fds", fds: []int32{0, 1, 2}, limit: 1024, wantFD: 3, wantOK: true, dupTo: 7},
		{name: "table full", fds: []int32{0, 1, 2}, limit: 3},
		{name: "shared table", fds: []int32{0, 1, 2}, limit: 1024, shared: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &procIDCache{byPID: map[int32]procIDs{1: {fdTable: 7}}, openFDs: map[uint64]map[int32]uint64{7: {}}}
			for _, fd := range tc.fds {
				c.openFDs[7][fd] = uint64(100 + fd)
			}
			if tc.shared {
				c.byPID[2] = procIDs{fdTable: 7}
			}
			table, fd, ok := c.reserveOpen(1, prov, tc.limit, false)
			if ok != tc.wantOK || (ok && (fd != tc.wantFD || table != 7)) {
				t.Fatalf("reserveOpen: table %d fd %d %v; want table 7 fd %d %v", table, fd, ok, tc.wantFD, tc.wantOK)
			}
			if !ok {
				if len(c.openFDs[7]) != len(tc.fds) || len(c.fdPosted) != 0 {
					t.Errorf("a refused reservation changed the table: %v, posted %v", c.openFDs[7], c.fdPosted)
				}
				return
			}
			if c.openFDs[7][fd] != prov || c.fdPosted[7][fd] != 1 {
				t.Fatalf("fd %d holds %d (posted %d), want the provisional description", fd, c.openFDs[7][fd], c.fdPosted[7][fd])
			}
			if tc.dupTo != 0 {
				c.openFDs[7][tc.dupTo] = prov
			}
			c.settleOpen(7, fd, prov, real, tc.opened)
			if c.fdPosted[7][fd] != 0 {
				t.Errorf("fd %d still counted as posted", fd)
			}
			check := []int32{fd}
			if tc.dupTo != 0 {
				check = append(check, tc.dupTo)
			}
			for _, n := range check {
				got, open := c.openFDs[7][n]
				switch {
				case tc.opened && (!open || got != real):
					t.Errorf("fd %d holds %d (open %v) after the reply, want %d", n, got, open, real)
				case !tc.opened && open:
					t.Errorf("fd %d of a failed open still open (%d)", n, got)
				}
			}
		})
	}
}

// TestSettleOpenReadCache: the reply of a posted open moves the
// provisional description's lease attachment to the server's, the
// lseeks posted for reads answered before the reply are counted under
// the server's description, with the client's offset, until their
// replies, and a thread that still holds the provisional id is given the
// server's (or, if the open failed, told to forward its call).
func TestSettleOpenReadCache(t *testing.T) {
	const prov, real, lease = provisionalDesc | 1, 42, 9
	for _, opened := range []bool{true, false} {
		rc := newReadCache(nil)
		rc.grant(&pb.ReadLease{Id: lease, File: 5, Stat: []byte{1}, Size: 3, Data: []byte("abc"), TtlMs: 60000}, leaseStamp{sent: time.Now()})
		rc.addProvisional(prov)
		rc.mu.Lock()
		if d, ok := rc.currentLocked(prov); d != prov || !ok {
			t.Errorf("before the reply, the provisional description is %d, %v", d, ok)
		}
		rc.attachLocked(prov, lease)
		rc.seekPosted[prov] = 2
		rc.offsets[prov] = 3
		rc.mu.Unlock()
		var to uint64
		if opened {
			to = real
		}
		rc.settleOpen(prov, to)
		rc.mu.Lock()
		if d, ok := rc.currentLocked(prov); d != to || ok != opened {
			t.Errorf("opened %v: after the reply, the provisional description is %d, %v; want %d, %v", opened, d, ok, to, opened)
		}
		if _, ok := rc.descs[prov]; ok {
			t.Errorf("opened %v: the provisional description is still attached", opened)
		}
		if opened && (rc.descs[real] != lease || rc.seekPosted[real] != 2 || rc.offsets[real] != 3) {
			t.Errorf("the server's description: lease %d, %d lseeks at offset %d; want %d, 2 at 3",
				rc.descs[real], rc.seekPosted[real], rc.offsets[real], lease)
		}
		// The two lseeks' replies.
		for i := 0; i < 2; i++ {
			d := rc.movedLocked(prov)
			if rc.seekPosted[d]--; rc.seekPosted[d] <= 0 {
				delete(rc.seekPosted, d)
				delete(rc.offsets, d)
			}
		}
		if len(rc.seekPosted) != 0 || len(rc.offsets) != 0 || len(rc.moved) != 0 {
			t.Errorf("opened %v: after the lseeks' replies: posted %v, offsets %v, moved %v", opened, rc.seekPosted, rc.offsets, rc.moved)
		}
		rc.mu.Unlock()
	}
}

// TestSeenBefore: only an open made before wants a path lease (its
// answer kept), so files opened once hold none.
func TestSeenBefore(t *testing.T) {
	var po postedOpens
	a, b := pathKey{sysno: postedOpenKey, path: "/etc/passwd"}, pathKey{sysno: postedOpenKey, path: "/etc/group"}
	for i, tc := range []struct {
		k    pathKey
		want bool
	}{{a, false}, {a, true}, {b, false}, {a, true}, {b, true}} {
		if got := po.seenBefore(tc.k); got != tc.want {
			t.Errorf("open %d of %s: seen before %v, want %v", i, tc.k.path, got, tc.want)
		}
	}
}

// TestAttachLeaseOfAfterRecovery: a posted open's description is
// attached to the lease its file's token was last attached to, and not
// after a recovery (readCache.dropAll) to a lease of another file the new
// server granted under the same id (lease ids are each server's own:
// a posted open read the other file's data).
func TestAttachLeaseOfAfterRecovery(t *testing.T) {
	const token, lease, oldDesc, otherDesc, prov = 77, 3, 40, 41, provisionalDesc | 5
	grant := func(c *client, file uint64, data string) {
		c.rcache.grant(&pb.ReadLease{Id: lease, File: file, Stat: []byte{1}, Size: uint64(len(data)), Data: []byte(data), TtlMs: 60000}, c.rcache.stamp())
	}
	for _, recovered := range []bool{false, true} {
		c := &client{rcache: newReadCache(nil)}
		c.opens.tokens = map[uint64]uint64{oldDesc: token}
		grant(c, oldDesc, "t1's data")
		c.noteLease(&pb.ReadLease{Id: lease, File: oldDesc})
		want := uint64(lease)
		if recovered {
			c.rcache.dropAll()
			grant(c, otherDesc, "t2's data") // the new server's lease 3
			want = 0
		}
		c.attachLeaseOf(prov, token)
		c.rcache.mu.Lock()
		got := c.rcache.descs[prov]
		c.rcache.mu.Unlock()
		if got != want {
			t.Errorf("recovered %v: the posted open's description is attached to lease %d, want %d", recovered, got, want)
		}
	}
}
