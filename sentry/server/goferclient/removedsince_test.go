package goferclient

import (
	"context"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// unlinkManyGofer is fakeGofer answering UnlinkMany too: each unlink
// succeeds.
type unlinkManyGofer struct {
	fakeGofer
	// named: unlink i's reply names inode 1/(100+i), as a current
	// gofer's does, but for those in unnamed; failing unlinks fail
	// (ENOENT).
	named            bool
	unnamed, failing map[int]bool
	// errnos: the reply has errnos, not unlinks (to a request with
	// errnos_wanted, as a current gofer's).
	errnos bool
}

func (f *unlinkManyGofer) UnlinkMany(_ context.Context, req *goferpb.UnlinkManyRequest, _ ...grpc.CallOption) (*goferpb.UnlinkManyReply, error) {
	r := &goferpb.UnlinkManyReply{}
	for i := range req.GetDirs() {
		if f.errnos && req.GetErrnosWanted() {
			var e int32
			if f.failing[i] {
				e = int32(unix.ENOENT)
			}
			r.Errnos = append(r.Errnos, e)
			continue
		}
		u := &goferpb.UnlinkReply{}
		switch {
		case f.failing[i]:
			u.Errno = int32(unix.ENOENT)
		case f.named && !f.unnamed[i]:
			u.Changed = []*goferpb.InodeID{{Dev: 1, Ino: uint64(100 + i)}}
		}
		r.Unlinks = append(r.Unlinks, u)
	}
	return r, nil
}

// failingUnlinkGofer is fakeGofer whose Unlinks fail (ENOENT).
type failingUnlinkGofer struct{ fakeGofer }

func (f *failingUnlinkGofer) Unlink(context.Context, *goferpb.UnlinkRequest, ...grpc.CallOption) (*goferpb.UnlinkReply, error) {
	return &goferpb.UnlinkReply{Errno: int32(unix.ENOENT)}, nil
}

// Directory handles of TestRemovedSince: dirX and dirY are known to the
// cache (inodes inoX and inoY of device 1); dirUnknown is not.
const (
	dirX, dirY, dirUnknown = 2, 3, 9
	inoX, inoY             = 20, 30
)

// TestRemovedSince checks which directories' names a removal makes
// untrusted for which callers: a removal by another caller in the
// name's directory, or in a directory the cache cannot tell; a rename
// in both of its directories; never one of the caller's own, nor one in
// another directory.
func TestRemovedSince(t *testing.T) {
	var mine, theirs atomic.Uint64
	me := WithRemovals(context.Background(), &mine)
	them := WithRemovals(context.Background(), &theirs)
	unlink := func(ctx context.Context, dir uint64) func(*AttrCache) {
		return func(a *AttrCache) { a.Unlink(ctx, &goferpb.UnlinkRequest{Dir: dir, Name: []byte("f")}) }
	}
	rename := func(ctx context.Context, from, to uint64) func(*AttrCache) {
		return func(a *AttrCache) {
			a.Rename(ctx, &goferpb.RenameRequest{OldDir: from, OldName: []byte("f"), NewDir: to, NewName: []byte("g")})
		}
	}
	tests := []struct {
		name    string
		gofer   goferpb.GoferClient
		changes []func(*AttrCache)
		// wantX and wantY: my names of X and Y found before the
		// changes are untrusted; themX: theirs of X.
		wantX, wantY, themX bool
	}{
		{name: "their unlink in X", changes: []func(*AttrCache){unlink(them, dirX)}, wantX: true},
		{name: "my unlink in X", changes: []func(*AttrCache){unlink(me, dirX)}, themX: true},
		{name: "their rename from X to Y", changes: []func(*AttrCache){rename(them, dirX, dirY)}, wantX: true, wantY: true},
		{name: "their rename from Y to X", changes: []func(*AttrCache){rename(them, dirY, dirX)}, wantX: true, wantY: true},
		{name: "their rename within X", changes: []func(*AttrCache){rename(them, dirX, dirX)}, wantX: true},
		{name: "their unlink in an unknown directory", changes: []func(*AttrCache){unlink(them, dirUnknown)}, wantX: true, wantY: true},
		{name: "my unlink in an unknown directory", changes: []func(*AttrCache){unlink(me, dirUnknown)}, themX: true},
		{name: "their rename from an unknown directory to X", changes: []func(*AttrCache){rename(them, dirUnknown, dirX)}, wantX: true, wantY: true},
		{name: "no one's unlink in Y", changes: []func(*AttrCache){unlink(context.Background(), dirY)}, wantY: true},
		{name: "their unlink in X then mine", changes: []func(*AttrCache){unlink(them, dirX), unlink(me, dirX)}, wantX: true, themX: true},
		{name: "my unlink in X then theirs in Y", changes: []func(*AttrCache){unlink(me, dirX), unlink(them, dirY)}, wantY: true, themX: true},
		{name: "their UnlinkMany in X", gofer: &unlinkManyGofer{}, changes: []func(*AttrCache){func(a *AttrCache) {
			a.UnlinkMany(them, &goferpb.UnlinkManyRequest{Dirs: []uint64{dirX, dirX}, Names: [][]byte{[]byte("f"), []byte("g")}})
		}}, wantX: true},
		{name: "their failed unlink in X", gofer: &failingUnlinkGofer{}, changes: []func(*AttrCache){unlink(them, dirX)}},
		{name: "a creation in X", changes: []func(*AttrCache){func(a *AttrCache) {
			a.Create(them, &goferpb.CreateRequest{Dir: dirX, Name: []byte("n")})
		}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.gofer
			if g == nil {
				g = &fakeGofer{}
			}
			a := NewAttrCache(g)
			a.learn(dirX, &goferpb.Stat{Dev: 1, Ino: inoX, Mode: unix.S_IFDIR | 0o755}, a.begin())
			a.learn(dirY, &goferpb.Stat{Dev: 1, Ino: inoY, Mode: unix.S_IFDIR | 0o755}, a.begin())
			// An earlier removal, by them, found before: it must not count.
			unlink(them, dirX)(a)
			found := a.RemovalSeq()
			for _, c := range tc.changes {
				c(a)
			}
			after := a.RemovalSeq()
			for _, c := range []struct {
				who      string
				ctx      context.Context
				ino      uint64
				seq      uint64
				want     bool
				whatSeen string
			}{
				{"my", me, inoX, found, tc.wantX, "before"},
				{"my", me, inoY, found, tc.wantY, "before"},
				{"their", them, inoX, found, tc.themX, "before"},
				{"my", me, inoX, after, false, "after"},
				{"my", me, inoY, after, false, "after"},
				{"their", them, inoX, after, false, "after"},
			} {
				if got := a.RemovedSince(c.ctx, 1, c.ino, c.seq); got != c.want {
					t.Errorf("%s names of directory %d found %s the changes: removed since %v, want %v", c.who, c.ino, c.whatSeen, got, c.want)
				}
			}
			// Another device's directory of the same number is another.
			if tc.wantX && !tc.wantY && a.RemovedSince(me, 2, inoX, found) {
				t.Errorf("names of directory %d of device 2: removed since, want not", inoX)
			}
		})
	}
}

// TestRemovedInBounded checks that the directories whose removals are
// remembered stay at most maxRemovedIn, and that those folded out are
// still counted for every directory (a name found before is walked to
// again), never lost.
func TestRemovedInBounded(t *testing.T) {
	var mine, theirs atomic.Uint64
	me := WithRemovals(context.Background(), &mine)
	them := WithRemovals(context.Background(), &theirs)
	a := NewAttrCache(&fakeGofer{})
	const n = maxRemovedIn + maxRemovedIn/2 + 10
	dirs := make([]uint64, n)
	seqs := make([]uint64, n)
	for i := range dirs {
		h := uint64(100 + i)
		a.learn(h, &goferpb.Stat{Dev: 1, Ino: uint64(1000 + i), Mode: unix.S_IFDIR | 0o755}, a.begin())
		seqs[i] = a.RemovalSeq()
		a.Unlink(them, &goferpb.UnlinkRequest{Dir: h, Name: []byte("f")})
		if i%2 == 0 {
			a.Unlink(me, &goferpb.UnlinkRequest{Dir: h, Name: []byte("f")})
		}
		dirs[i] = h
	}
	a.mu.Lock()
	held := len(a.removedIn)
	a.mu.Unlock()
	if held > maxRemovedIn {
		t.Errorf("removals remembered for %d directories, want at most %d", held, maxRemovedIn)
	}
	end := a.RemovalSeq()
	for i := range dirs {
		ino := uint64(1000 + i)
		if !a.RemovedSince(me, 1, ino, seqs[i]) {
			t.Fatalf("directory %d: a name found before their removal there is trusted", i)
		}
		if a.RemovedSince(me, 1, ino, end) {
			t.Fatalf("directory %d: a name found after every removal is not trusted", i)
		}
	}
	// The latest directories are still told apart from the others.
	last := n - 1
	if a.RemovedSince(me, 1, 999, seqs[last]) {
		t.Errorf("a directory with no removal: a name found before the last removal elsewhere is not trusted")
	}
	if last%2 == 0 {
		t.Fatalf("the last directory must have no removal of mine")
	}
	if a.RemovedSince(them, 1, uint64(1000+last), seqs[last]+1) {
		t.Errorf("the last directory: their name found after their own removal there, none of mine since, is not trusted")
	}
}
