package client

import (
	"reflect"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// aheadStat is a struct stat of inode ino, of mode mode, size bytes
// and blocks blocks, as a reply carries it.
func aheadStat(ino uint64, mode uint32, size, blocks int64) []byte {
	st := linux.Stat{Dev: 7, Ino: ino, Mode: mode, Size: size, Blocks: blocks}
	b := make([]byte, st.SizeBytes())
	st.MarshalBytes(b)
	return b
}

// TestSmallFiles: the names a listing asks leases ahead for are its
// regular files that hold blocks and at most dataAheadMaxSize bytes, in
// the byte order a glob sorts them in.
func TestSmallFiles(t *testing.T) {
	tests := []struct {
		name   string
		listed []*pb.ListedStat
		want   []string
	}{
		{"sorted as a glob sorts", []*pb.ListedStat{
			{Name: "f2", Stat: aheadStat(1, linux.S_IFREG|0o644, 2, 8)},
			{Name: "f10", Stat: aheadStat(2, linux.S_IFREG|0o644, 3, 8)},
			{Name: "f1", Stat: aheadStat(3, linux.S_IFREG|0o644, 2, 8)},
		}, []string{"f1", "f10", "f2"}},
		{"no directory, symbolic link, empty or large file", []*pb.ListedStat{
			{Name: "d", Stat: aheadStat(1, linux.S_IFDIR|0o755, 4096, 8)},
			{Name: "l", Stat: aheadStat(2, linux.S_IFLNK|0o777, 5, 0)},
			{Name: "empty", Stat: aheadStat(3, linux.S_IFREG|0o644, 0, 0)},
			{Name: "sparse", Stat: aheadStat(4, linux.S_IFREG|0o644, 100, 0)},
			{Name: "big", Stat: aheadStat(5, linux.S_IFREG|0o644, dataAheadMaxSize+1, 200)},
			{Name: "edge", Stat: aheadStat(6, linux.S_IFREG|0o644, dataAheadMaxSize, 128)},
		}, []string{"edge"}},
		{"no entry without a stat or with a slash", []*pb.ListedStat{
			{Name: "nostat"},
			{Name: "a/b", Stat: aheadStat(1, linux.S_IFREG|0o644, 2, 8)},
		}, []string{}},
	}
	for _, tc := range tests {
		l := &listedDir{listed: tc.listed}
		if got := l.smallFiles(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestGrantAhead: a lease ahead is kept by the inode its stat names, and
// a posted open of that inode attaches to it, unless a revocation the
// server decided after the grant or a recovery came between, or it was
// revoked since.
func TestGrantAhead(t *testing.T) {
	lease := func(id, ino, epoch uint64) *pb.ReadLease {
		return &pb.ReadLease{Id: id, Epoch: epoch, Stat: aheadStat(ino, linux.S_IFREG|0o644, 3, 8), Size: 3, Data: []byte("ab\n"), TtlMs: 60000}
	}
	const desc = provisionalDesc | 1
	tests := []struct {
		name string
		// before runs before the grant, after between it and the open.
		before, after func(rc *readCache)
		lease         *pb.ReadLease
		attached      bool
	}{
		{"kept by inode", nil, nil, lease(5, 42, 0), true},
		{"another inode", nil, nil, lease(5, 43, 0), false},
		{"granted before a revocation the client saw", func(rc *readCache) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 3})
		}, nil, lease(5, 42, 2), false},
		{"from a call sent before a recovery", nil, nil, lease(5, 42, 0), false},
		{"revoked before the open", nil, func(rc *readCache) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{5}})
		}, lease(5, 42, 0), false},
		{"a description's lease (not ahead)", nil, nil, &pb.ReadLease{Id: 5, File: 9, Stat: aheadStat(42, linux.S_IFREG|0o644, 3, 8), Size: 3, TtlMs: 60000}, false},
	}
	for _, tc := range tests {
		rc := newReadCache(nil)
		at := leaseStamp{sent: time.Now()}
		if tc.name == "from a call sent before a recovery" {
			rc.dropAll()
		}
		if tc.before != nil {
			tc.before(rc)
		}
		rc.grantAhead([]*pb.ReadLease{tc.lease}, at)
		if tc.after != nil {
			tc.after(rc)
		}
		rc.attachInode(desc, 7, 42)
		rc.mu.Lock()
		f := rc.liveLocked(desc, false, "")
		rc.mu.Unlock()
		if (f != nil) != tc.attached {
			t.Errorf("%s: the open's description answered from a lease: %v, want %v", tc.name, f != nil, tc.attached)
		}
	}
}
