package client

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestReadCacheLeases checks which grants the cache takes and when a lease
// stops answering: a revocation (by id, and by epoch for a grant the
// server made before a revocation it sent earlier than its reply), a
// recovery, expiry, and posted calls that may change a file.
func TestReadCacheLeases(t *testing.T) {
	const desc, other = 7, 8
	const descHandle = "the file's handle"
	full := func(id, epoch uint64) *pb.ReadLease {
		return &pb.ReadLease{Id: id, File: desc, Epoch: epoch, Stat: []byte{1}, Size: 3, Data: []byte("abc"), TtlMs: 1000}
	}
	tests := []struct {
		name string
		// run acts on a cache holding nothing; stamp is a fresh stamp.
		run func(rc *readCache, stamp leaseStamp)
		// live says whether desc (and, with other, description
		// other) is answered from a lease afterwards; readsOnly that
		// its reads are, not its fstat.
		live, otherLive, readsOnly bool
		// newerWrites says the posted writes without a reply are all
		// to files created after the grant: the reads of a file
		// whose handle is not known are answered too.
		newerWrites bool
	}{
		{name: "granted", run: func(rc *readCache, s leaseStamp) { rc.grant(full(1, 0), s) }, live: true},
		{name: "revoked", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{1}})
		}},
		{name: "another lease revoked", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{2}})
		}, live: true},
		{name: "granted before a revocation seen first", run: func(rc *readCache, s leaseStamp) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 3, Ids: []uint64{9}})
			rc.grant(full(1, 2), s)
		}},
		{name: "granted after the revocations seen", run: func(rc *readCache, s leaseStamp) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 3, Ids: []uint64{9}})
			rc.grant(full(1, 3), s)
		}, live: true},
		{name: "recovery", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.dropAll()
		}},
		{name: "grant of a call sent before a recovery", run: func(rc *readCache, s leaseStamp) {
			rc.dropAll()
			rc.grant(full(1, 0), s)
		}},
		{name: "expired", run: func(rc *readCache, s leaseStamp) {
			s.sent = s.sent.Add(-2 * time.Second)
			rc.grant(full(1, 0), s)
		}},
		{name: "attached to a held lease", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.grant(&pb.ReadLease{Id: 1, File: other, Attach: true}, s)
		}, live: true, otherLive: true},
		{name: "attached to a revoked lease", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{1}})
			rc.grant(&pb.ReadLease{Id: 1, File: other, Attach: true}, s)
		}},
		{name: "a posted write to the file without a reply", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postBegin(changesFile[unix.SYS_WRITE], descHandle, 0, 0)
		}},
		{name: "a posted write to a file not known without a reply", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postBegin(changesFile[unix.SYS_WRITE], "", 0, 0)
		}},
		{name: "a posted write to another file without a reply", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postBegin(changesFile[unix.SYS_PWRITE64], "other file", 0, 0)
		}, live: true},
		{name: "a posted write to a file created after the grant, without a reply", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postBegin(dataChange, createdHandleOf(provisionalDesc|1), 0, rc.creationSent())
		}, live: true, newerWrites: true},
		{name: "a posted write to a file created before the grant, without a reply", run: func(rc *readCache, s leaseStamp) {
			born := rc.creationSent()
			rc.grant(full(1, 0), s)
			rc.postBegin(dataChange, createdHandleOf(provisionalDesc|1), 0, born)
		}, live: true},
		{name: "posted writes to files created after the grant and not known, without a reply", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postBegin(dataChange, createdHandleOf(provisionalDesc|1), 0, rc.creationSent())
			rc.postBegin(dataChange, "other file", 0, 0)
		}, live: true},
		{name: "a posted write answered", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postEnd(rc.postBegin(changesFile[unix.SYS_WRITE], descHandle, 0, 0))
		}, live: true},
		{name: "a posted chmod without a reply", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postBegin(changesFile[unix.SYS_FCHMOD], "", 0, 0)
		}, readsOnly: true},
		{name: "a posted chmod of a regular file the process created, without a reply", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postBegin(fileAttrsChange, "", 0, 0)
		}, readsOnly: true},
		{name: "a posted chmod of a regular file created after the grant, without a reply", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postBegin(fileAttrsChange, "", 0, rc.creationSent())
		}, live: true},
		{name: "a posted chmod of a regular file created before the grant, without a reply", run: func(rc *readCache, s leaseStamp) {
			born := rc.creationSent()
			rc.grant(full(1, 0), s)
			rc.postBegin(fileAttrsChange, "", 0, born)
		}, readsOnly: true},
		{name: "posted chmods of files created after and before the grant, without a reply", run: func(rc *readCache, s leaseStamp) {
			before := rc.creationSent()
			rc.grant(full(1, 0), s)
			rc.postBegin(fileAttrsChange, "", 0, rc.creationSent())
			rc.postBegin(fileAttrsChange, "", 0, before)
		}, readsOnly: true},
		{name: "the posted chmod of a file created before the grant answered", run: func(rc *readCache, s leaseStamp) {
			before := rc.creationSent()
			rc.grant(full(1, 0), s)
			rc.postBegin(fileAttrsChange, "", 0, rc.creationSent())
			rc.postEnd(rc.postBegin(fileAttrsChange, "", 0, before))
		}, live: true},
		{name: "a posted chmod of a directory created after the grant, without a reply", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postBegin(attrsChange, "", 0, rc.creationSent())
		}, readsOnly: true},
		{name: "a posted lseek does not count", run: func(rc *readCache, s leaseStamp) {
			rc.grant(full(1, 0), s)
			rc.postBegin(changesFile[unix.SYS_LSEEK], "", 0, 0)
		}, live: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := lockedCacheAfter(tc.run)
			defer rc.mu.Unlock()
			if got := rc.liveLocked(desc, false, descHandle) != nil; got != (tc.live || tc.readsOnly) {
				t.Errorf("description %d's reads answered from a lease: %v, want %v", desc, got, tc.live || tc.readsOnly)
			}
			if got := rc.liveLocked(desc, true, descHandle) != nil; got != tc.live {
				t.Errorf("description %d's fstat answered from a lease: %v, want %v", desc, got, tc.live)
			}
			if got := rc.liveLocked(other, true, descHandle) != nil; got != tc.otherLive {
				t.Errorf("description %d answered from a lease: %v, want %v", other, got, tc.otherLive)
			}
			// A file whose handle the client does not know may be the
			// one any posted write changes, but for a write to a file
			// created after its lease arrived.
			want := (tc.live || tc.readsOnly) && (rc.dataPostedAll == 0 || tc.newerWrites)
			if got := rc.liveLocked(desc, false, "") != nil; got != want {
				t.Errorf("description %d of a file not known answered from a lease: %v, want %v", desc, got, want)
			}
		})
	}
}

// lockedCacheAfter returns a new read cache after run (given a stamp
// taken first), with its mu held: the caller unlocks it.
func lockedCacheAfter(run func(*readCache, leaseStamp)) *readCache {
	rc := newReadCache(nil)
	run(rc, rc.stamp())
	rc.mu.Lock()
	return rc
}

// grantData gives rc lease id on description id, holding data, for
// ttlMs.
func grantData(rc *readCache, id uint64, data []byte, ttlMs uint32) {
	rc.grant(&pb.ReadLease{Id: id, File: id, Stat: []byte{1}, Size: uint64(len(data)), Data: data, TtlMs: ttlMs}, rc.stamp())
}

// grantAheadData gives rc lease ahead id (no description) on data, of
// the inode numbered id on device 7.
func grantAheadData(rc *readCache, id uint64, data []byte) {
	st := aheadStat(id, linux.S_IFREG|0o644, int64(len(data)), 8)
	rc.grantAhead([]*pb.ReadLease{{Id: id, Stat: st, Size: uint64(len(data)), Data: data, TtlMs: 60000}}, rc.stamp())
}

// TestReadCacheBounds checks that the cache holds at most readCacheLimit
// bytes and maxLeasedFiles leases, dropping the oldest grants first (but
// a lease ahead no description used yet after the used ones, while such
// leases hold at most half the bytes); that a grant forgets the expired
// leases older than any live one; and that a lease granted again counts
// its data once.
func TestReadCacheBounds(t *testing.T) {
	quarter, eighth := make([]byte, readCacheLimit/4), make([]byte, readCacheLimit/8)
	tests := []struct {
		name string
		run  func(rc *readCache)
		// held says which of the leases 1..n are held; bytes is the data
		// held.
		n     uint64
		held  func(id uint64) bool
		bytes int
	}{
		{"past the bytes, the oldest go", func(rc *readCache) {
			for id := uint64(1); id <= 6; id++ {
				grantData(rc, id, quarter, 60000)
			}
		}, 6, func(id uint64) bool { return id >= 3 }, readCacheLimit},
		{"past the count, the oldest go", func(rc *readCache) {
			for id := uint64(1); id <= maxLeasedFiles+10; id++ {
				grantData(rc, id, []byte("x"), 60000)
			}
		}, maxLeasedFiles + 10, func(id uint64) bool { return id > 10 }, maxLeasedFiles},
		{"granted again, counted once", func(rc *readCache) {
			for id := uint64(1); id <= 3; id++ {
				grantData(rc, id, quarter, 60000)
			}
			grantData(rc, 2, quarter, 60000)
		}, 3, func(id uint64) bool { return true }, 3 * readCacheLimit / 4},
		{"granted again, made the newest", func(rc *readCache) {
			for id := uint64(1); id <= 4; id++ {
				grantData(rc, id, quarter, 60000)
			}
			grantData(rc, 1, quarter, 60000)
			grantData(rc, 5, quarter, 60000)
		}, 5, func(id uint64) bool { return id != 2 }, readCacheLimit},
		{"expired leases in front are forgotten at the next grant", func(rc *readCache) {
			grantData(rc, 1, quarter, 1)
			grantData(rc, 2, quarter, 1)
			grantData(rc, 3, quarter, 60000)
			time.Sleep(5 * time.Millisecond)
			grantData(rc, 4, quarter, 60000)
		}, 4, func(id uint64) bool { return id >= 3 }, readCacheLimit / 2},
		// cp -r asks a directory's leases ahead in the names' order and
		// copies in the inode numbers' (evictionVictimLocked).
		{"a lease ahead not used yet stays, the oldest used goes", func(rc *readCache) {
			grantAheadData(rc, 1, eighth)
			for id := uint64(2); id <= 9; id++ {
				grantData(rc, id, eighth, 60000)
			}
		}, 9, func(id uint64) bool { return id != 2 }, readCacheLimit},
		{"a lease ahead once used goes by its grant's age", func(rc *readCache) {
			grantAheadData(rc, 1, eighth)
			if _, ok := rc.attachInode(100, 7, 1); !ok {
				panic("lease ahead 1 not attached")
			}
			for id := uint64(2); id <= 9; id++ {
				grantData(rc, id, eighth, 60000)
			}
		}, 9, func(id uint64) bool { return id != 1 }, readCacheLimit},
		{"past half the bytes, leases ahead not used go by their grant's age", func(rc *readCache) {
			for id := uint64(1); id <= 5; id++ {
				grantAheadData(rc, id, eighth)
			}
			for id := uint64(6); id <= 9; id++ {
				grantData(rc, id, eighth, 60000)
			}
		}, 9, func(id uint64) bool { return id != 1 }, readCacheLimit},
		{"leases ahead used or dropped no longer count against the half", func(rc *readCache) {
			for id := uint64(1); id <= 6; id++ {
				grantAheadData(rc, id, eighth)
			}
			rc.attachInode(100, 7, 2)
			rc.revoke(&pb.LeaseRevoke{Ids: []uint64{3}})
			for id := uint64(7); id <= 10; id++ {
				grantData(rc, id, eighth, 60000)
			}
		}, 10, func(id uint64) bool { return id != 2 && id != 3 }, readCacheLimit},
		{"revoked leases are not counted", func(rc *readCache) {
			for id := uint64(1); id <= 4; id++ {
				grantData(rc, id, quarter, 60000)
			}
			rc.revoke(&pb.LeaseRevoke{Ids: []uint64{1, 3}})
			grantData(rc, 5, quarter, 60000)
		}, 5, func(id uint64) bool { return id == 2 || id >= 4 }, 3 * readCacheLimit / 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReadCache(nil)
			tc.run(rc)
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if rc.bytes != tc.bytes {
				t.Errorf("the cache holds %d bytes, want %d", rc.bytes, tc.bytes)
			}
			for id := uint64(1); id <= tc.n; id++ {
				if got, want := rc.files[id] != nil, tc.held(id); got != want {
					t.Errorf("lease %d held: %v, want %v", id, got, want)
				}
			}
			unused := 0
			for _, f := range rc.files {
				if f.ahead != nil && !f.used {
					unused += len(f.data)
				}
			}
			if rc.unusedAhead != unused {
				t.Errorf("unusedAhead is %d, the leases ahead not used hold %d bytes", rc.unusedAhead, unused)
			}
		})
	}
}

// TestReadCacheGrantOrderBounded checks that the grant order's entries
// of dropped leases are forgotten: a long run of grants and revocations
// keeps it near the leases held, and a lease ahead's inode entry is
// forgotten with its lease.
func TestReadCacheGrantOrderBounded(t *testing.T) {
	rc := newReadCache(nil)
	for id := uint64(1); id <= 99999; id++ {
		st := aheadStat(id, linux.S_IFREG|0o644, 1, 8)
		rc.grantAhead([]*pb.ReadLease{{Id: id, Stat: st, Size: 1, Data: []byte("x"), TtlMs: 60000}}, rc.stamp())
		if id%3 != 0 {
			rc.revoke(&pb.LeaseRevoke{Ids: []uint64{id}})
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.files) != maxLeasedFiles {
		t.Errorf("%d leases held, want %d", len(rc.files), maxLeasedFiles)
	}
	if n := len(rc.grantOrder) - rc.grantHead; n > 4*maxLeasedFiles {
		t.Errorf("the grant order keeps %d entries for %d leases", n, len(rc.files))
	}
	if cap(rc.grantOrder) > 8*maxLeasedFiles {
		t.Errorf("the grant order's array holds %d entries for %d leases", cap(rc.grantOrder), len(rc.files))
	}
	if len(rc.byInode) != len(rc.files) {
		t.Errorf("%d inode entries for %d leases ahead", len(rc.byInode), len(rc.files))
	}
}

// TestReadCacheGrantOrderBehindHeldLease checks that the grant order
// forgets the leases revoked after one the client keeps holding (its
// entry stays in front): a long run of them does not grow it, and the
// oldest lease is still dropped first.
func TestReadCacheGrantOrderBehindHeldLease(t *testing.T) {
	rc := newReadCache(nil)
	x := []byte("x")
	grantData(rc, 1, x, 60000)
	for id := uint64(2); id <= 100000; id++ {
		grantData(rc, id, x, 60000)
		rc.revoke(&pb.LeaseRevoke{Ids: []uint64{id}})
	}
	grantData(rc, 100001, x, 60000)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if n := len(rc.grantOrder) - rc.grantHead; n > 2*len(rc.files)+65 || cap(rc.grantOrder) > 1024 {
		t.Errorf("the grant order keeps %d entries (array of %d) for %d leases", n, cap(rc.grantOrder), len(rc.files))
	}
	if f, id := rc.oldestLocked(); f == nil || id != 1 {
		t.Errorf("the oldest lease is %d, want 1", id)
	}
}
