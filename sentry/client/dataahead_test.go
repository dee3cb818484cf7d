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
// revoked since. The open's description knows its file by the handle
// the lease names: a posted write to another file in flight does not
// hold its reads back (cat f* > out), one to the same file does (cat f*
// > f0), and so does any posted write when the lease named no handle.
func TestGrantAhead(t *testing.T) {
	lease := func(id, ino, epoch uint64) *pb.ReadLease {
		return &pb.ReadLease{Id: id, Epoch: epoch, Stat: aheadStat(ino, linux.S_IFREG|0o644, 3, 8), Size: 3, Data: []byte("ab\n"), TtlMs: 60000}
	}
	withHandle := func(l *pb.ReadLease, fh string, ino uint64) *pb.ReadLease {
		l.FileHandle, l.Ino = []byte(fh), ino
		return l
	}
	const desc = provisionalDesc | 1
	tests := []struct {
		name string
		// before runs before the grant, after between it and the open.
		before, after func(rc *readCache)
		lease         *pb.ReadLease
		// posted is the handle of a posted write in flight at the read
		// (none if nil).
		posted *string
		// attached: the open attached to the lease; answered: its read
		// is answered from it; handle: the key the open learnt.
		attached, answered bool
		handle             string
	}{
		{"kept by inode", nil, nil, lease(5, 42, 0), nil, true, true, ""},
		{"another inode", nil, nil, lease(5, 43, 0), nil, false, false, ""},
		{"granted before a revocation the client saw", func(rc *readCache) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 3})
		}, nil, lease(5, 42, 2), nil, false, false, ""},
		{"from a call sent before a recovery", func(rc *readCache) { rc.dropAll() }, nil, lease(5, 42, 0), nil, false, false, ""},
		{"revoked before the open", nil, func(rc *readCache) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{5}})
		}, lease(5, 42, 0), nil, false, false, ""},
		{"a description's lease (not ahead)", nil, nil, &pb.ReadLease{Id: 5, File: 9, Stat: aheadStat(42, linux.S_IFREG|0o644, 3, 8), Size: 3, TtlMs: 60000}, nil, false, false, ""},
		{"a gofer handle named", nil, nil, withHandle(lease(5, 42, 0), "fh42", 0), nil, true, true, "fh42"},
		{"an inode number named (no gofer handle)", nil, nil, withHandle(lease(5, 42, 0), "", 42), nil, true, true, fileKey(nil, 42)},
		{"a write to another file in flight", nil, nil, withHandle(lease(5, 42, 0), "fh42", 0), ptr("fhout"), true, true, "fh42"},
		{"a write to the same file in flight", nil, nil, withHandle(lease(5, 42, 0), "fh42", 0), ptr("fh42"), true, false, "fh42"},
		{"a write to another file without an inode's handle in flight", nil, nil, withHandle(lease(5, 42, 0), "", 42), ptr("fhout"), true, true, fileKey(nil, 42)},
		{"a write to the same file by its inode number in flight", nil, nil, withHandle(lease(5, 42, 0), "", 42), ptr(fileKey(nil, 42)), true, false, fileKey(nil, 42)},
		{"a write in flight, no handle named", nil, nil, lease(5, 42, 0), ptr("fhout"), true, false, ""},
		{"a write to a file not known in flight", nil, nil, withHandle(lease(5, 42, 0), "fh42", 0), ptr(""), true, false, "fh42"},
	}
	for _, tc := range tests {
		rc := newReadCache(nil)
		at := leaseStamp{sent: time.Now()}
		if tc.before != nil {
			tc.before(rc)
		}
		rc.grantAhead([]*pb.ReadLease{tc.lease}, at)
		if tc.after != nil {
			tc.after(rc)
		}
		handle, attached := rc.attachInode(desc, 7, 42)
		if attached != tc.attached || handle != tc.handle {
			t.Errorf("%s: attached %v, handle %q; want %v, %q", tc.name, attached, handle, tc.attached, tc.handle)
		}
		if tc.posted != nil {
			rc.postBegin(dataChange, *tc.posted, 0) // in flight: no postEnd
		}
		rc.mu.Lock()
		f := rc.liveLocked(desc, false, handle)
		rc.mu.Unlock()
		if (f != nil) != tc.answered {
			t.Errorf("%s: the open's description answered from a lease: %v, want %v", tc.name, f != nil, tc.answered)
		}
	}
}

func ptr[T any](v T) *T { return &v }
