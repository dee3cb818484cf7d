package goferclient

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// fakeGofer answers the calls the observer test makes: handle 1 is inode
// 10 of device 1, whose size is size.
type fakeGofer struct {
	goferpb.GoferClient
	size uint64
}

func (f *fakeGofer) stat() *goferpb.Stat {
	return &goferpb.Stat{Dev: 1, Ino: 10, Mode: unix.S_IFREG | 0o644, Size: f.size, MtimeNs: int64(f.size)}
}

func (f *fakeGofer) Walk(_ context.Context, req *goferpb.WalkRequest, _ ...grpc.CallOption) (*goferpb.WalkReply, error) {
	return &goferpb.WalkReply{Files: []*goferpb.WalkedFile{{Handle: &goferpb.Handle{Id: 1}, Stat: f.stat()}}}, nil
}

func (f *fakeGofer) Stat(context.Context, *goferpb.StatRequest, ...grpc.CallOption) (*goferpb.StatReply, error) {
	return &goferpb.StatReply{Stat: f.stat()}, nil
}

func (f *fakeGofer) Write(_ context.Context, req *goferpb.WriteRequest, _ ...grpc.CallOption) (*goferpb.WriteReply, error) {
	f.size = max(f.size, req.Offset+uint64(len(req.Data)))
	return &goferpb.WriteReply{Written: uint32(len(req.Data)), Stat: f.stat()}, nil
}

func (f *fakeGofer) SetStat(context.Context, *goferpb.SetStatRequest, ...grpc.CallOption) (*goferpb.SetStatReply, error) {
	return &goferpb.SetStatReply{Stat: f.stat()}, nil
}

func (f *fakeGofer) Open(context.Context, *goferpb.OpenRequest, ...grpc.CallOption) (*goferpb.OpenReply, error) {
	return &goferpb.OpenReply{}, nil
}

func (f *fakeGofer) Unlink(context.Context, *goferpb.UnlinkRequest, ...grpc.CallOption) (*goferpb.UnlinkReply, error) {
	return &goferpb.UnlinkReply{}, nil
}

func (f *fakeGofer) Rename(context.Context, *goferpb.RenameRequest, ...grpc.CallOption) (*goferpb.RenameReply, error) {
	return &goferpb.RenameReply{Changed: []*goferpb.InodeID{{Dev: 1, Ino: 10}, {Dev: 1, Ino: 11}}}, nil
}

func (f *fakeGofer) Create(context.Context, *goferpb.CreateRequest, ...grpc.CallOption) (*goferpb.CreateReply, error) {
	return &goferpb.CreateReply{Handle: &goferpb.Handle{Id: 3}, Stat: &goferpb.Stat{Dev: 1, Ino: 12, Mode: unix.S_IFREG | 0o644}}, nil
}

func (f *fakeGofer) Mkdir(context.Context, *goferpb.MkdirRequest, ...grpc.CallOption) (*goferpb.MkdirReply, error) {
	return &goferpb.MkdirReply{Errno: int32(unix.EEXIST)}, nil
}

func (f *fakeGofer) Fallocate(context.Context, *goferpb.FallocateRequest, ...grpc.CallOption) (*goferpb.FallocateReply, error) {
	return &goferpb.FallocateReply{Stat: f.stat()}, nil
}

func (f *fakeGofer) SetXattr(context.Context, *goferpb.SetXattrRequest, ...grpc.CallOption) (*goferpb.SetXattrReply, error) {
	return &goferpb.SetXattrReply{Stat: f.stat()}, nil
}

func (f *fakeGofer) RemoveXattr(context.Context, *goferpb.RemoveXattrRequest, ...grpc.CallOption) (*goferpb.RemoveXattrReply, error) {
	return &goferpb.RemoveXattrReply{Stat: f.stat()}, nil
}

func (f *fakeGofer) GetXattr(context.Context, *goferpb.GetXattrRequest, ...grpc.CallOption) (*goferpb.GetXattrReply, error) {
	return &goferpb.GetXattrReply{Value: []byte("v"), Size: 1}, nil
}

func (f *fakeGofer) Read(_ context.Context, req *goferpb.ReadRequest, _ ...grpc.CallOption) (*goferpb.ReadReply, error) {
	return &goferpb.ReadReply{Data: make([]byte, min(uint64(req.Length), f.size))}, nil
}

// recorder is an Observer that notes what it is told.
type recorder struct{ got []string }

func (r *recorder) Changed(_ context.Context, dev, ino uint64) {
	r.got = append(r.got, fmt.Sprintf("changed %d/%d", dev, ino))
}
func (r *recorder) ChangedMany(_ context.Context, inodes []*goferpb.InodeID) {
	var ids []string
	for _, in := range inodes {
		ids = append(ids, fmt.Sprintf("%d/%d", in.Dev, in.Ino))
	}
	r.got = append(r.got, "changed "+strings.Join(ids, " "))
}
func (r *recorder) ChangedAll(context.Context) { r.got = append(r.got, "changed all") }
func (r *recorder) Observed(_ context.Context, st *goferpb.Stat) {
	r.got = append(r.got, fmt.Sprintf("observed %d/%d size %d", st.Dev, st.Ino, st.Size))
}
func (r *recorder) NamesChanged(_ context.Context, dev, ino uint64, known bool) {
	if !known {
		r.got = append(r.got, "names changed somewhere")
		return
	}
	r.got = append(r.got, fmt.Sprintf("names changed in %d/%d", dev, ino))
}
func (r *recorder) Changing(_ context.Context, inodes []*goferpb.InodeID) func() {
	for _, in := range inodes {
		r.got = append(r.got, fmt.Sprintf("changing %d/%d", in.Dev, in.Ino))
	}
	return func() { r.got = append(r.got, "change ended") }
}
func (r *recorder) NamesChanging(_ context.Context, dev, ino uint64) func() {
	r.got = append(r.got, fmt.Sprintf("names changing in %d/%d", dev, ino))
	return func() { r.got = append(r.got, "names change ended") }
}

// TestObserverSeesChanges checks that every change of a file that goes
// through the cache, and every attribute the gofer reports, reaches the
// observer (the read leases' revocations depend on it), and that a read
// reaches it not.
func TestObserverSeesChanges(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(a *AttrCache)
		want []string
	}{
		{"write", func(a *AttrCache) {
			a.Write(ctx, &goferpb.WriteRequest{Handle: 1, Offset: 5, Data: []byte("x")})
		}, []string{"changed 1/10"}},
		{"setstat (truncate, chmod...)", func(a *AttrCache) {
			a.SetStat(ctx, &goferpb.SetStatRequest{Handle: 1, Mask: unix.STATX_SIZE})
		}, []string{"changed 1/10"}},
		{"setstat of the mode is announced", func(a *AttrCache) {
			a.SetStat(ctx, &goferpb.SetStatRequest{Handle: 1, Mask: unix.STATX_MODE})
		}, []string{"changing 1/10", "changed 1/10", "change ended"}},
		{"setstat of the owner is announced", func(a *AttrCache) {
			a.SetStat(ctx, &goferpb.SetStatRequest{Handle: 1, Mask: unix.STATX_UID | unix.STATX_MTIME})
		}, []string{"changing 1/10", "changed 1/10", "change ended"}},
		{"unlink of a file its caller named, in a directory the cache knows", func(a *AttrCache) {
			a.Unlink(WithChanging(ctx, 12), &goferpb.UnlinkRequest{Dir: 1, Name: []byte("f")})
		}, []string{"changing 1/12", "changed all", "names changed in 1/10", "change ended"}},
		{"rename of files its caller named", func(a *AttrCache) {
			a.Rename(WithChanging(ctx, 12, 13), &goferpb.RenameRequest{OldDir: 1, OldName: []byte("f"), NewDir: 2, NewName: []byte("g")})
		}, []string{"changing 1/12", "changing 1/13", "changed 1/10 1/11", "names changed in 1/10", "names changed somewhere", "change ended"}},
		{"unlink in a directory the cache does not know", func(a *AttrCache) {
			a.Unlink(WithChanging(ctx, 12), &goferpb.UnlinkRequest{Dir: 2, Name: []byte("f")})
		}, []string{"changed all", "names changed somewhere"}},
		{"open O_TRUNC", func(a *AttrCache) {
			a.Open(ctx, &goferpb.OpenRequest{Handle: 1, Flags: unix.O_WRONLY | unix.O_TRUNC})
		}, []string{"changed 1/10"}},
		{"fallocate", func(a *AttrCache) {
			a.Fallocate(ctx, &goferpb.FallocateRequest{Handle: 1, Length: 8})
		}, []string{"changed 1/10"}},
		{"setxattr (the ctime)", func(a *AttrCache) {
			a.SetXattr(ctx, &goferpb.SetXattrRequest{Handle: 1, Name: []byte("user.a")})
		}, []string{"changed 1/10"}},
		{"removexattr (the ctime)", func(a *AttrCache) {
			a.RemoveXattr(ctx, &goferpb.RemoveXattrRequest{Handle: 1, Name: []byte("user.a")})
		}, []string{"changed 1/10"}},
		{"getxattr", func(a *AttrCache) {
			a.GetXattr(ctx, &goferpb.GetXattrRequest{Handle: 1, Name: []byte("user.a"), Size: 8})
		}, nil},
		{"create (a name is made)", func(a *AttrCache) {
			a.Create(ctx, &goferpb.CreateRequest{Dir: 2, Name: []byte("n")})
		}, []string{"names changed somewhere"}},
		{"create in a directory the cache knows is announced", func(a *AttrCache) {
			a.Create(ctx, &goferpb.CreateRequest{Dir: 1, Name: []byte("n")})
		}, []string{"names changing in 1/10", "names changed in 1/10", "names change ended"}},
		{"rename into a directory the cache knows is announced", func(a *AttrCache) {
			a.Rename(ctx, &goferpb.RenameRequest{OldDir: 2, OldName: []byte("f"), NewDir: 1, NewName: []byte("g")})
		}, []string{"names changing in 1/10", "changed 1/10 1/11", "names changed somewhere", "names changed in 1/10", "names change ended"}},
		{"mkdir that failed with EEXIST", func(a *AttrCache) {
			a.Mkdir(ctx, &goferpb.MkdirRequest{Dir: 2, Name: []byte("f")})
		}, nil},
		{"open without O_TRUNC", func(a *AttrCache) {
			a.Open(ctx, &goferpb.OpenRequest{Handle: 1, Flags: unix.O_RDONLY})
		}, nil},
		{"walk-open O_TRUNC", func(a *AttrCache) {
			a.Walk(ctx, &goferpb.WalkRequest{Dir: 2, Names: [][]byte{[]byte("f")}, Open: true, OpenFlags: unix.O_WRONLY | unix.O_TRUNC})
		}, []string{"observed 1/10 size 4", "changed 1/10"}},
		{"unlink (a gofer that does not name the inode)", func(a *AttrCache) {
			a.Unlink(ctx, &goferpb.UnlinkRequest{Dir: 2, Name: []byte("f")})
		}, []string{"changed all", "names changed somewhere"}},
		{"rename (the gofer names the inodes)", func(a *AttrCache) {
			a.Rename(ctx, &goferpb.RenameRequest{OldDir: 2, OldName: []byte("f"), NewDir: 2, NewName: []byte("g")})
		}, []string{"changed 1/10 1/11", "names changed somewhere", "names changed somewhere"}},
		{"stat asking the gofer", func(a *AttrCache) {
			a.Stat(FreshAttrs(ctx), &goferpb.StatRequest{Handle: 1})
		}, []string{"observed 1/10 size 4"}},
		{"stat from the cache", func(a *AttrCache) {
			a.Stat(ctx, &goferpb.StatRequest{Handle: 1})
		}, nil},
		{"read", func(a *AttrCache) {
			a.Read(ctx, &goferpb.ReadRequest{Handle: 1, Length: 10})
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAttrCache(&fakeGofer{size: 4})
			// The cache learns handle 1 from a walk first.
			a.Walk(ctx, &goferpb.WalkRequest{Dir: 2, Names: [][]byte{[]byte("f")}})
			rec := &recorder{}
			a.SetObserver(rec)
			tc.call(a)
			if fmt.Sprint(rec.got) != fmt.Sprint(tc.want) {
				t.Errorf("observer got %q, want %q", rec.got, tc.want)
			}
		})
	}
}

// TestObserverSeesUnlinkMany: an UnlinkMany announces the change of the
// inodes its caller named (WithChanging, in the unlinks' order; 0 for
// none) in directories the cache knows as one change, begun before the
// gofer removes them and ended after the removals' notices; the run's
// removals are told as one: each inode the gofer names changed, then each
// directory once, or every inode changed when an unlink's reply names
// none (an older gofer).
func TestObserverSeesUnlinkMany(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		g    unlinkManyGofer
		want []string
	}{
		{name: "a gofer that names no inode", want: []string{"changing 1/12", "changing 1/13",
			"changed all", "names changed in 1/10", "names changed somewhere", "change ended"}},
		{name: "the gofer names each inode", g: unlinkManyGofer{named: true}, want: []string{"changing 1/12", "changing 1/13",
			"changed 1/100 1/101 1/102 1/103", "names changed in 1/10", "names changed somewhere", "change ended"}},
		{name: "a failed unlink", g: unlinkManyGofer{named: true, failing: map[int]bool{1: true, 3: true}}, want: []string{"changing 1/12", "changing 1/13",
			"changed 1/100 1/102", "names changed in 1/10", "change ended"}},
		{name: "one reply names no inode", g: unlinkManyGofer{named: true, unnamed: map[int]bool{2: true}}, want: []string{"changing 1/12", "changing 1/13",
			"changed all", "names changed in 1/10", "names changed somewhere", "change ended"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			g.fakeGofer = fakeGofer{size: 4}
			a := NewAttrCache(&g)
			// The cache learns handle 1 (inode 1/10) from a walk first.
			a.Walk(ctx, &goferpb.WalkRequest{Dir: 2, Names: [][]byte{[]byte("f")}})
			rec := &recorder{}
			a.SetObserver(rec)
			// The third unlink's inode is unknown, the fourth's directory.
			a.UnlinkMany(WithChanging(ctx, 12, 13, 0, 14), &goferpb.UnlinkManyRequest{Dirs: []uint64{1, 1, 1, 2},
				Names: [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}})
			if fmt.Sprint(rec.got) != fmt.Sprint(tc.want) {
				t.Errorf("observer got %q, want %q", rec.got, tc.want)
			}
		})
	}
}

// TestObserverSeesUnlinkManyErrnos: a reply of errnos
// (UnlinkManyRequest.errnos_wanted) tells the observer each successful
// unlink's found inode as changed, as a reply of unlinks naming them
// does; a found entry of ino 0 makes the run's changes unknown.
func TestObserverSeesUnlinkManyErrnos(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		found []uint64
		want  []string
	}{
		{name: "every inode found", found: []uint64{100, 101, 102, 103}, want: []string{"changing 1/12", "changing 1/13",
			"changed 1/100 1/102 1/103", "names changed in 1/10", "names changed somewhere", "change ended"}},
		{name: "an inode not found", found: []uint64{100, 101, 0, 103}, want: []string{"changing 1/12", "changing 1/13",
			"changed all", "names changed in 1/10", "names changed somewhere", "change ended"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := unlinkManyGofer{errnos: true, failing: map[int]bool{1: true}}
			g.fakeGofer = fakeGofer{size: 4}
			a := NewAttrCache(&g)
			a.Walk(ctx, &goferpb.WalkRequest{Dir: 2, Names: [][]byte{[]byte("f")}})
			rec := &recorder{}
			a.SetObserver(rec)
			var found []*goferpb.InodeID
			for _, ino := range tc.found {
				found = append(found, &goferpb.InodeID{Dev: 1, Ino: ino})
			}
			a.UnlinkMany(WithChanging(ctx, 12, 13, 0, 14), &goferpb.UnlinkManyRequest{Dirs: []uint64{1, 1, 1, 2},
				Names: [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}, Found: found, ErrnosWanted: true})
			if fmt.Sprint(rec.got) != fmt.Sprint(tc.want) {
				t.Errorf("observer got %q, want %q", rec.got, tc.want)
			}
		})
	}
}
