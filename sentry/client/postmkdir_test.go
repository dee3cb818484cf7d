package client

import (
	"testing"
	"time"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestPostedMkdirExistence checks what a posted mkdir's reply leaves in
// the path cache: until it, the new directory's existence is not known
// and a call asking waits for it (pathCache.renewing); the reply's
// complete names (the copy) then answer the existence, until the copy's
// lease is revoked.
func TestPostedMkdirExistence(t *testing.T) {
	pc, keys := creationLeases(t)
	missing := keys["the absence of the name"]
	made := missing
	made.sysno = existsCall
	parent := keys["stat of the directory"]
	renews := []pathKey{parent, made}
	dir, ok := pc.beginCreate(missing, renews)
	if !ok || dir != 10 {
		t.Fatalf("the absence of a creatable name: directory %d, %v; want 10, true", dir, ok)
	}
	exists := func() bool {
		pc.mu.Lock()
		defer pc.mu.Unlock()
		return pc.existsLocked(made)
	}
	pc.mu.Lock()
	waits := pc.renewing[made]
	pc.mu.Unlock()
	if exists() || waits != 1 {
		t.Fatalf("before the reply: exists %v, %d renewing it; want false, 1", exists(), waits)
	}
	// The reply: the parent's stat and the new directory's names, with
	// the search leases of the walk to the parent.
	creds := &pb.ProcessState{Ruid: 1000, Euid: 1000}
	reply := &pb.Reply{
		PathLease:     &pb.PathLease{Id: 1, Ids: []uint64{1, 2, 11}, SearchIds: []uint64{1, 2}, TtlMs: 1000, Creds: creds},
		CompleteNames: &pb.PathLease{Id: 12, Ids: []uint64{12}, TtlMs: 1000, Inos: []uint64{40}},
	}
	at := leaseStamp{sent: time.Now(), gen: pc.gen}
	checkWakes(t, pc, "the mkdir's", func() {
		pc.keepNamesCopy(made, 0o700, reply, at)
		pc.endCreate(dir, renews)
	})
	pc.mu.Lock()
	left := len(pc.renewing) + len(pc.dirsChanging)
	pc.mu.Unlock()
	if !exists() || left != 0 {
		t.Errorf("after the reply: exists %v, %d renewing or changing; want true, 0", exists(), left)
	}
	// Another client's rmdir revokes the complete names.
	pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{12}})
	if exists() {
		t.Error("after the revocation of the copy's lease: the directory exists")
	}
}
