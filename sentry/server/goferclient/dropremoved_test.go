package goferclient

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// removalGofer is a gofer of three handles: 1 a directory (inode 100),
// 2 and 3 files (inodes 10 and 11). It counts Stats by handle; its
// Unlink and Rename reply changed (err: fail).
type removalGofer struct {
	goferpb.GoferClient
	stats   map[uint64]int
	changed []*goferpb.InodeID
	err     error
}

func (g *removalGofer) statOf(h uint64) *goferpb.Stat {
	ino, mode := map[uint64]uint64{1: 100, 2: 10, 3: 11}[h], uint32(unix.S_IFREG|0o644)
	if h == 1 {
		mode = unix.S_IFDIR | 0o755
	}
	return &goferpb.Stat{Dev: 1, Ino: ino, Mode: mode, Nlink: 1}
}

func (g *removalGofer) Attach(context.Context, *goferpb.AttachRequest, ...grpc.CallOption) (*goferpb.AttachReply, error) {
	return &goferpb.AttachReply{Root: &goferpb.Handle{Id: 1}, Stat: g.statOf(1)}, nil
}

// Walk walks "a" to handle 2 and "b" to handle 3.
func (g *removalGofer) Walk(_ context.Context, req *goferpb.WalkRequest, _ ...grpc.CallOption) (*goferpb.WalkReply, error) {
	h := map[string]uint64{"a": 2, "b": 3}[string(req.Names[0])]
	return &goferpb.WalkReply{Files: []*goferpb.WalkedFile{{Handle: &goferpb.Handle{Id: h}, Stat: g.statOf(h)}}}, nil
}

func (g *removalGofer) Stat(_ context.Context, req *goferpb.StatRequest, _ ...grpc.CallOption) (*goferpb.StatReply, error) {
	g.stats[req.Handle]++
	return &goferpb.StatReply{Stat: g.statOf(req.Handle)}, nil
}

func (g *removalGofer) Unlink(context.Context, *goferpb.UnlinkRequest, ...grpc.CallOption) (*goferpb.UnlinkReply, error) {
	return &goferpb.UnlinkReply{Changed: g.changed}, g.err
}

func (g *removalGofer) Rename(context.Context, *goferpb.RenameRequest, ...grpc.CallOption) (*goferpb.RenameReply, error) {
	return &goferpb.RenameReply{Changed: g.changed}, g.err
}

// TestDropRemoved: an unlink or a rename drops the attributes of its
// directories and of the inodes the gofer's reply names, and counts them
// changed (ChangedSince, ValidSince of an inode the cache holds no entry
// of); the other files' attributes still answer Stat. Without the list,
// or when the call failed, every attribute is dropped.
func TestDropRemoved(t *testing.T) {
	ctx := context.Background()
	file11 := []*goferpb.InodeID{{Dev: 1, Ino: 11}}
	for _, tc := range []struct {
		name    string
		changed []*goferpb.InodeID
		err     error
		rename  bool
		// restat are the handles whose next Stat goes to the gofer.
		restat map[uint64]bool
	}{
		{"unlink naming the file", file11, nil, false, map[uint64]bool{1: true, 3: true}},
		{"rename naming the file", file11, nil, true, map[uint64]bool{1: true, 3: true}},
		{"unlink naming none", nil, nil, false, map[uint64]bool{1: true, 2: true, 3: true}},
		{"unlink failing", file11, errors.New("gofer gone"), false, map[uint64]bool{1: true, 2: true, 3: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &removalGofer{stats: map[uint64]int{}, changed: tc.changed, err: tc.err}
			a := NewAttrCache(g)
			if _, err := a.Attach(ctx, &goferpb.AttachRequest{}); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"a", "b"} {
				if _, err := a.Walk(ctx, &goferpb.WalkRequest{Dir: 1, Names: [][]byte{[]byte(name)}}); err != nil {
					t.Fatal(err)
				}
			}
			for h := uint64(1); h <= 3; h++ {
				if _, err := a.Stat(ctx, &goferpb.StatRequest{Handle: h}); err != nil || g.stats[h] != 0 {
					t.Fatalf("Stat of handle %d before: %v, %d gofer Stats; want answered from the cache", h, err, g.stats[h])
				}
			}
			seq := a.Seq()
			other := &goferpb.Stat{Dev: 1, Ino: 12}
			if tc.changed != nil {
				// An inode the cache holds no entry of, named too.
				g.changed = append(tc.changed, &goferpb.InodeID{Dev: 1, Ino: 12})
			}
			if tc.rename {
				a.Rename(ctx, &goferpb.RenameRequest{OldDir: 1, OldName: []byte("b"), NewDir: 1, NewName: []byte("c")})
			} else {
				a.Unlink(ctx, &goferpb.UnlinkRequest{Dir: 1, Name: []byte("b")})
			}
			if a.ValidSince(other, seq) {
				t.Errorf("a stat of an inode the removal changed, held elsewhere, is still valid")
			}
			if stranger := (&goferpb.Stat{Dev: 1, Ino: 13}); a.ValidSince(stranger, seq) != (tc.changed != nil && tc.err == nil) {
				t.Errorf("ValidSince of an inode the removal did not change: %v", a.ValidSince(stranger, seq))
			}
			for h := uint64(1); h <= 3; h++ {
				if changed := a.ChangedSince(h, seq); changed != tc.restat[h] {
					t.Errorf("ChangedSince(handle %d): %v, want %v", h, changed, tc.restat[h])
				}
				before := g.stats[h]
				if _, err := a.Stat(ctx, &goferpb.StatRequest{Handle: h}); err != nil {
					t.Fatal(err)
				}
				if asked := g.stats[h] > before; asked != tc.restat[h] {
					t.Errorf("Stat of handle %d went to the gofer: %v, want %v", h, asked, tc.restat[h])
				}
			}
		})
	}
}
