package client

import (
	"reflect"
	"testing"

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
			{Name: []byte("f2"), Stat: aheadStat(1, linux.S_IFREG|0o644, 2, 8)},
			{Name: []byte("f10"), Stat: aheadStat(2, linux.S_IFREG|0o644, 3, 8)},
			{Name: []byte("f1"), Stat: aheadStat(3, linux.S_IFREG|0o644, 2, 8)},
		}, []string{"f1", "f10", "f2"}},
		{"no directory, symbolic link, empty or large file", []*pb.ListedStat{
			{Name: []byte("d"), Stat: aheadStat(1, linux.S_IFDIR|0o755, 4096, 8)},
			{Name: []byte("l"), Stat: aheadStat(2, linux.S_IFLNK|0o777, 5, 0)},
			{Name: []byte("empty"), Stat: aheadStat(3, linux.S_IFREG|0o644, 0, 0)},
			{Name: []byte("sparse"), Stat: aheadStat(4, linux.S_IFREG|0o644, 100, 0)},
			{Name: []byte("big"), Stat: aheadStat(5, linux.S_IFREG|0o644, dataAheadMaxSize+1, 200)},
			{Name: []byte("edge"), Stat: aheadStat(6, linux.S_IFREG|0o644, dataAheadMaxSize, 128)},
		}, []string{"edge"}},
		{"no entry without a stat or with a slash", []*pb.ListedStat{
			{Name: []byte("nostat")},
			{Name: []byte("a/b"), Stat: aheadStat(1, linux.S_IFREG|0o644, 2, 8)},
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
// revoked since. The open's description knows its file by the inode
// number the lease names: a posted write in flight to another file
// (cat f* > out) does not hold its reads back, one to the same file does
// (cat f* > f0) whatever description or gofer handle it went through,
// and so does any posted write while one in flight does not know its
// file's number (a posted creation's, before its reply), as when the
// lease named none. The number holds across a recovery: the re-sent
// write to the file still holds back the reads of a lease the new
// server granted.
func TestGrantAhead(t *testing.T) {
	lease := func(id, ino, epoch uint64) *pb.ReadLease {
		return &pb.ReadLease{Id: id, Epoch: epoch, Stat: aheadStat(ino, linux.S_IFREG|0o644, 3, 8), Size: 3, Data: []byte("ab\n"), TtlMs: 60000}
	}
	named := func(l *pb.ReadLease, ino uint64) *pb.ReadLease {
		l.Ino = ino
		return l
	}
	// write posts a write behind in flight (no postEnd) to the file of
	// gofer handle handle and inode number ino, of creation number born.
	write := func(handle string, ino, born uint64) func(rc *readCache) {
		return func(rc *readCache) { rc.postBegin(dataChange, handle, ino, born) }
	}
	both := func(fs ...func(rc *readCache)) func(rc *readCache) {
		return func(rc *readCache) {
			for _, f := range fs {
				f(rc)
			}
		}
	}
	const desc = provisionalDesc | 1
	tests := []struct {
		name string
		// before runs before the grant, after between it and the open,
		// posted between the open and the read; sentBefore says the
		// granting call was sent before before ran.
		before, after, posted func(rc *readCache)
		sentBefore            bool
		lease                 *pb.ReadLease
		// attached: the open attached to the lease; answered: its read
		// is answered from it; ino: the number the open learnt.
		attached, answered bool
		ino                uint64
	}{
		{"kept by inode", nil, nil, nil, false, lease(5, 42, 0), true, true, 0},
		{"another inode", nil, nil, nil, false, lease(5, 43, 0), false, false, 0},
		{"granted before a revocation the client saw", func(rc *readCache) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 3})
		}, nil, nil, false, lease(5, 42, 2), false, false, 0},
		{"from a call sent before a recovery", func(rc *readCache) { rc.dropAll() }, nil, nil, true, lease(5, 42, 0), false, false, 0},
		{"granted, then a recovery before the open", nil, func(rc *readCache) { rc.dropAll() }, nil, false, lease(5, 42, 0), false, false, 0},
		{"revoked before the open", nil, func(rc *readCache) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{5}})
		}, nil, false, lease(5, 42, 0), false, false, 0},
		{"a description's lease (not ahead)", nil, nil, nil, false, &pb.ReadLease{Id: 5, File: 9, Stat: aheadStat(42, linux.S_IFREG|0o644, 3, 8), Size: 3, TtlMs: 60000}, false, false, 0},
		{"an inode number named", nil, nil, nil, false, named(lease(5, 42, 0), 1042), true, true, 1042},
		{"a write to another file in flight", nil, nil, write("fhout", 1099, 0), false, named(lease(5, 42, 0), 1042), true, true, 1042},
		{"a write to the same file in flight", nil, nil, write("fh42", 1042, 0), false, named(lease(5, 42, 0), 1042), true, false, 1042},
		{"a write to the same file through another gofer handle in flight", nil, nil, write("fh42-other", 1042, 0), false, named(lease(5, 42, 0), 1042), true, false, 1042},
		{"a write to the same file by its inode key in flight", nil, nil, write(fileKey(nil, 1042), 1042, 0), false, named(lease(5, 42, 0), 1042), true, false, 1042},
		{"a write to a file of no known number in flight", nil, nil, write("fhout", 0, 0), false, named(lease(5, 42, 0), 1042), true, false, 1042},
		{"a write to a file not known in flight", nil, nil, write("", 0, 0), false, named(lease(5, 42, 0), 1042), true, false, 1042},
		{"a posted creation's write in flight (created before the grant)", func(rc *readCache) {
			rc.postBegin(dataChange, createdHandleOf(provisionalDesc|2), 0, rc.creationSent())
		}, nil, nil, false, named(lease(5, 42, 0), 1042), true, false, 1042},
		{"a posted creation's write in flight (created after the grant)", nil, nil, func(rc *readCache) {
			rc.postBegin(dataChange, createdHandleOf(provisionalDesc|2), 0, rc.creationSent())
		}, false, named(lease(5, 42, 0), 1042), true, true, 1042},
		{"writes to another file and to one of no known number in flight", nil, nil,
			both(write("fhout", 1099, 0), write("fhother", 0, 0)), false, named(lease(5, 42, 0), 1042), true, false, 1042},
		{"a write in flight, no number named", nil, nil, write("fhout", 1099, 0), false, lease(5, 42, 0), true, false, 0},
		{"a write to the same file re-sent by a recovery", both(write("fh42", 1042, 0), func(rc *readCache) { rc.dropAll() }),
			nil, nil, false, named(lease(5, 42, 0), 1042), true, false, 1042},
		{"a write to another file re-sent by a recovery", both(write("fhout", 1099, 0), func(rc *readCache) { rc.dropAll() }),
			nil, nil, false, named(lease(5, 42, 0), 1042), true, true, 1042},
	}
	for _, tc := range tests {
		rc := newReadCache(nil)
		at := rc.stamp()
		if tc.before != nil {
			tc.before(rc)
		}
		if !tc.sentBefore {
			at = rc.stamp()
		}
		rc.grantAhead([]*pb.ReadLease{tc.lease}, at)
		if tc.after != nil {
			tc.after(rc)
		}
		ino, attached := rc.attachInode(desc, 7, 42)
		if attached != tc.attached || ino != tc.ino {
			t.Errorf("%s: attached %v, ino %d; want %v, %d", tc.name, attached, ino, tc.attached, tc.ino)
		}
		if tc.posted != nil {
			tc.posted(rc)
		}
		rc.mu.Lock()
		f := rc.liveOfLocked(desc, false, pipeFile{regular: true, ino: ino})
		rc.mu.Unlock()
		if (f != nil) != tc.answered {
			t.Errorf("%s: the open's description answered from a lease: %v, want %v", tc.name, f != nil, tc.answered)
		}
	}
}
