package client

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestOwnedFileLive checks when an owned file's copy may answer: once
// its lease is granted at its size, not after the lease's revocation or
// lapse, its description's close, a recovery, nor while a posted change
// of the file that is not an owned write is without a reply; and when
// the copy is kept for the next lseek to ask again.
func TestOwnedFileLive(t *testing.T) {
	const desc, lease, handle, prov = 7, 70, "h7", provisionalDesc | 9
	owned := func(rc *readCache, s leaseStamp) {
		rc.startCopy(desc, nil, leaseStamp{})
		rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
	}
	tests := []struct {
		name string
		run  func(rc *readCache, s leaseStamp)
		live bool
		// kept says the copy stays (without a live lease).
		kept bool
	}{
		{name: "granted", run: owned, live: true, kept: true},
		{name: "not granted", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, nil, leaseStamp{})
		}, kept: true},
		{name: "granted at another size", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, nil, leaseStamp{})
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000, Size: 5}, s)
		}, kept: true},
		{name: "granted without a copy", run: func(rc *readCache, s leaseStamp) {
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
		}},
		{name: "lapsed", run: func(rc *readCache, s leaseStamp) {
			s.sent = s.sent.Add(-2 * time.Second)
			owned(rc, s)
		}, kept: true},
		{name: "a recovery", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, nil, leaseStamp{})
			rc.dropAll()
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
		}},
		{name: "granted by a call sent before a recovery", run: func(rc *readCache, s leaseStamp) {
			rc.dropAll()
			owned(rc, s)
		}, kept: true},
		{name: "revoked", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{lease}})
		}},
		{name: "another lease revoked", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{lease + 1}})
		}, live: true},
		{name: "its description closed", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.observeClosed([]*pb.StateRecord{{Key: statekey.File(desc).String(), Deleted: true}})
		}},
		{name: "another description closed", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.observeClosed([]*pb.StateRecord{{Key: statekey.File(desc + 1).String(), Deleted: true}})
		}, live: true},
		{name: "its own owned write posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, handle, 0, 0)
			rc.ownedPosted = map[string]int{handle: 1}
		}, live: true},
		{name: "another write to the file posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, handle, 0, 0)
		}, kept: true},
		{name: "a write to a file not known posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, "", 0, 0)
		}, kept: true},
		{name: "a write to another file posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, "other", 0, 0)
		}, live: true},
		{name: "granted at an epoch already revoked", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, nil, leaseStamp{})
			rc.revoke(&pb.LeaseRevoke{Epoch: 2})
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000, Epoch: 1}, s)
		}, kept: true},
		// The lease the creating open's reply carried (ownedOpenWanted),
		// taken as the copy starts.
		{name: "granted with the open", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
		}, live: true},
		{name: "granted with the open of another description", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc + 1, Owned: true, TtlMs: 1000}, s)
		}, kept: true},
		{name: "a read lease with the open", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, TtlMs: 1000}, s)
		}, kept: true},
		{name: "granted with an open sent before a recovery", run: func(rc *readCache, s leaseStamp) {
			rc.dropAll()
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
		}, kept: true},
		{name: "granted with the open at an epoch already revoked", run: func(rc *readCache, s leaseStamp) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 2})
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000, Epoch: 1}, s)
		}, kept: true},
		{name: "granted with the open, then revoked", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{lease}})
		}},
		// A posted creation's copy starts under its provisional
		// description and moves to the server's with the reply, whose
		// lease it then takes (openDone).
		{name: "a posted creation's, settled", run: func(rc *readCache, s leaseStamp) {
			rc.addProvisional(prov)
			rc.startCopy(prov, nil, leaseStamp{})
			rc.settleOpen(prov, desc)
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
		}, live: true},
		{name: "a posted creation's, granted before it settled", run: func(rc *readCache, s leaseStamp) {
			rc.addProvisional(prov)
			rc.startCopy(prov, nil, leaseStamp{})
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
			rc.settleOpen(prov, desc)
		}, kept: true},
		{name: "a posted creation that failed", run: func(rc *readCache, s leaseStamp) {
			rc.addProvisional(prov)
			rc.startCopy(prov, nil, leaseStamp{})
			rc.settleOpen(prov, 0)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := lockedCacheAfter(tc.run)
			defer rc.mu.Unlock()
			if got := rc.ownedLiveLocked(desc, handle) != nil; got != tc.live {
				t.Errorf("the copy answers: %v, want %v", got, tc.live)
			}
			if kept := rc.owned[desc] != nil; kept != (tc.kept || tc.live) {
				t.Errorf("the copy is kept: %v, want %v", kept, tc.kept || tc.live)
			}
			if int(rc.ownedCount.Load()) != len(rc.owned) {
				t.Errorf("ownedCount %d, %d copies", rc.ownedCount.Load(), len(rc.owned))
			}
		})
	}
}

// TestOwnedCopyOfPostedCreation: a posted creation's copy takes the
// writes made through its provisional description, keeps them when it
// moves to the server's, and is found and dropped through either id.
func TestOwnedCopyOfPostedCreation(t *testing.T) {
	const prov, real = provisionalDesc | 3, 30
	rc := lockedCacheAfter(func(rc *readCache, _ leaseStamp) {
		rc.addProvisional(prov)
		rc.startCopy(prov, nil, leaseStamp{})
	})
	defer rc.mu.Unlock()
	if !rc.applyOwnedLocked(prov, false, 0, []byte("abc")) {
		t.Fatal("the write did not go into the copy")
	}
	rc.mu.Unlock()
	rc.settleOpen(prov, real)
	rc.mu.Lock()
	o := rc.owned[real]
	if o == nil || string(o.data) != "abc" || o.offset != 3 {
		t.Fatalf("the server's description's copy %+v, want the provisional one's (abc, offset 3)", o)
	}
	if rc.ownedOfLocked(prov) != o {
		t.Error("the provisional id does not find the settled copy")
	}
	if !rc.applyOwnedLocked(prov, false, 0, []byte("de")) || string(o.data) != "abcde" {
		t.Errorf("a write through the provisional id after the settling: copy %q, want abcde", o.data)
	}
	rc.dropOwnedLocked(prov)
	if len(rc.owned) != 0 || rc.ownedCount.Load() != 0 || rc.ownedBytes != 0 {
		t.Errorf("after the drop through the provisional id: %d copies (count %d, %d bytes), want none", len(rc.owned), rc.ownedCount.Load(), rc.ownedBytes)
	}
}

// TestOwnedTruncate checks what a truncation behind does to a copy
// (truncateOwnedLocked): it cuts the content or grows it with zeros,
// leaves the offset, counts the bytes kept, and drops a copy that would
// outgrow its bounds; a write after a cut lands in zeros, not in the
// bytes cut off.
func TestOwnedTruncate(t *testing.T) {
	const desc = 7
	tests := []struct {
		name string
		// others are the bytes the other copies hold.
		others int
		length int64
		took   bool
		want   string
	}{
		{name: "cut", length: 2, took: true, want: "ab"},
		{name: "to zero", length: 0, took: true, want: ""},
		{name: "same size", length: 4, took: true, want: "abcd"},
		{name: "grown", length: 6, took: true, want: "abcd\x00\x00"},
		{name: "past the file limit", length: ownedFileLimit + 1},
		{name: "past the bytes limit", others: ownedBytesLimit - 5, length: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := lockedCacheAfter(func(rc *readCache, _ leaseStamp) {
				rc.startCopy(desc, nil, leaseStamp{})
			})
			defer rc.mu.Unlock()
			rc.applyOwnedLocked(desc, false, 0, []byte("abcd"))
			rc.ownedBytes += tc.others
			if took := rc.truncateOwnedLocked(desc, tc.length); took != tc.took {
				t.Fatalf("took the truncation: %v, want %v", took, tc.took)
			}
			o := rc.owned[desc]
			if !tc.took {
				if o != nil || rc.ownedBytes != tc.others {
					t.Errorf("copy %v kept (%d bytes counted), want it dropped (%d)", o, rc.ownedBytes, tc.others)
				}
				return
			}
			if string(o.data) != tc.want || o.offset != 4 || rc.ownedBytes != len(tc.want) {
				t.Errorf("copy %q at offset %d, %d bytes counted; want %q at 4, %d", o.data, o.offset, rc.ownedBytes, tc.want, len(tc.want))
			}
			rc.applyOwnedLocked(desc, true, 5, []byte("z"))
			if want := (tc.want + "\x00\x00\x00\x00\x00\x00")[:5] + "z"; len(tc.want) <= 6 && string(o.data) != want {
				t.Errorf("after a pwrite at 5: %q, want %q", o.data, want)
			}
		})
	}
}

// TestOwnedFileStat checks when the stat a creating open's owned lease
// brought (ReadLease.stat) answers fstat of its description: while the
// copy may answer and nothing was written through it, not after a
// write, the lease's revocation or lapse, nor while a posted attribute
// change or removal is without a reply; a lease an lseek asked for again
// brings none.
func TestOwnedFileStat(t *testing.T) {
	const desc, lease, handle = 7, 70, "h7"
	stat := make([]byte, (*linux.Stat)(nil).SizeBytes())
	stat[8] = 42 // st_ino
	opened := func(rc *readCache, s leaseStamp) {
		rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000, Stat: stat}, s)
	}
	tests := []struct {
		name   string
		run    func(rc *readCache, s leaseStamp)
		answer bool
	}{
		{name: "granted with the open", run: opened, answer: true},
		{name: "granted with the open, no stat", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
		}},
		{name: "a stat of another size", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000, Stat: stat[1:]}, s)
		}},
		{name: "written", run: func(rc *readCache, s leaseStamp) {
			opened(rc, s)
			rc.mu.Lock()
			rc.applyOwnedLocked(desc, false, 0, []byte("x"))
			rc.mu.Unlock()
		}},
		{name: "truncated", run: func(rc *readCache, s leaseStamp) {
			opened(rc, s)
			rc.mu.Lock()
			rc.truncateOwnedLocked(desc, 0)
			rc.mu.Unlock()
		}},
		{name: "revoked", run: func(rc *readCache, s leaseStamp) {
			opened(rc, s)
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{lease}})
		}},
		{name: "lapsed", run: func(rc *readCache, s leaseStamp) {
			s.sent = s.sent.Add(-2 * time.Second)
			opened(rc, s)
		}},
		{name: "lapsed, asked again by an lseek", run: func(rc *readCache, s leaseStamp) {
			old := s
			old.sent = old.sent.Add(-2 * time.Second)
			opened(rc, old)
			rc.mu.Lock()
			rc.ownedLiveLocked(desc, handle) // finds it lapsed
			rc.mu.Unlock()
			rc.grant(&pb.ReadLease{Id: lease + 1, File: desc, Owned: true, TtlMs: 1000}, s)
		}},
		{name: "the open's grant refused, an lseek's taken", run: func(rc *readCache, s leaseStamp) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 2})
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000, Epoch: 1, Stat: stat}, s)
			rc.grant(&pb.ReadLease{Id: lease + 1, File: desc, Owned: true, TtlMs: 1000, Epoch: 2}, s)
		}},
		{name: "an attribute change posted", run: func(rc *readCache, s leaseStamp) {
			opened(rc, s)
			rc.postBegin(attrsChange, "", 0, 0)
		}},
		{name: "an attribute change of a new file posted", run: func(rc *readCache, s leaseStamp) {
			opened(rc, s)
			rc.postBegin(fileAttrsChange, "", 0, rc.creationSent())
		}},
		{name: "an attribute change answered", run: func(rc *readCache, s leaseStamp) {
			opened(rc, s)
			rc.postEnd(rc.postBegin(attrsChange, "", 0, 0))
		}, answer: true},
		{name: "a removal posted", run: func(rc *readCache, s leaseStamp) {
			opened(rc, s)
			rc.mu.Lock()
			rc.removalsPosted++
			rc.mu.Unlock()
		}},
		{name: "a write to the file posted", run: func(rc *readCache, s leaseStamp) {
			opened(rc, s)
			rc.postBegin(dataChange, handle, 0, 0)
		}},
		{name: "its description closed", run: func(rc *readCache, s leaseStamp) {
			opened(rc, s)
			rc.observeClosed([]*pb.StateRecord{{Key: statekey.File(desc).String(), Deleted: true}})
		}},
		{name: "a recovery", run: func(rc *readCache, s leaseStamp) {
			opened(rc, s)
			rc.dropAll()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := lockedCacheAfter(tc.run)
			defer rc.mu.Unlock()
			got := rc.ownedStatLocked(desc, handle)
			if (got != nil) != tc.answer {
				t.Fatalf("fstat answered: %v, want %v", got != nil, tc.answer)
			}
			if got != nil && got[8] != 42 {
				t.Errorf("answered a stat of inode %d, want the open's 42", got[8])
			}
		})
	}
}
