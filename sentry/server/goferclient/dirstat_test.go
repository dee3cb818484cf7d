package goferclient

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// dirGofer is a gofer of one directory, handle 1 (inode 20 of device 1),
// whose creations count what they were asked (no_dir_stat) and bring the
// directory's attributes unless told not to, and whose Stats are counted.
type dirGofer struct {
	goferpb.GoferClient
	mtime        int64
	next         uint64
	stats, noDir int
}

func (g *dirGofer) dirStat() *goferpb.Stat {
	return &goferpb.Stat{Dev: 1, Ino: 20, Mode: unix.S_IFDIR | 0o755, MtimeNs: g.mtime}
}

func (g *dirGofer) Attach(context.Context, *goferpb.AttachRequest, ...grpc.CallOption) (*goferpb.AttachReply, error) {
	return &goferpb.AttachReply{Root: &goferpb.Handle{Id: 1}, Stat: g.dirStat()}, nil
}

func (g *dirGofer) Stat(context.Context, *goferpb.StatRequest, ...grpc.CallOption) (*goferpb.StatReply, error) {
	g.stats++
	return &goferpb.StatReply{Stat: g.dirStat()}, nil
}

func (g *dirGofer) Create(_ context.Context, req *goferpb.CreateRequest, _ ...grpc.CallOption) (*goferpb.CreateReply, error) {
	g.mtime++
	g.next++
	r := &goferpb.CreateReply{Handle: &goferpb.Handle{Id: 100 + g.next}, Stat: &goferpb.Stat{Dev: 1, Ino: 100 + g.next, Mode: unix.S_IFREG | 0o644}}
	if req.NoDirStat {
		g.noDir++
	} else {
		r.DirStat = g.dirStat()
	}
	return r, nil
}

// TestCreateDirStatWanted: a creation asks the gofer for its directory's
// attributes only when something read them since the last creation there
// (a tar's stat of the directory at each file); creations in a row that
// nobody reads between (a shell's loop of echo > f$i) skip the
// directory's statx, and the stat that follows asks the gofer once, for
// the attributes as they are after the last creation.
func TestCreateDirStatWanted(t *testing.T) {
	for _, tc := range []struct {
		name string
		// statBetween stats the directory after each creation.
		statBetween bool
		// wantNoDir is how many of the 5 creations skip the statx,
		// wantStats how many gofer Stats the stats (and the last) make.
		wantNoDir, wantStats int
	}{
		{name: "stat after each creation", statBetween: true, wantNoDir: 0, wantStats: 0},
		{name: "creations in a row", wantNoDir: 4, wantStats: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &dirGofer{}
			a := NewAttrCache(g)
			ctx := context.Background()
			if _, err := a.Attach(ctx, &goferpb.AttachRequest{}); err != nil {
				t.Fatal(err)
			}
			stat := func() int64 {
				t.Helper()
				r, err := a.Stat(ctx, &goferpb.StatRequest{Handle: 1})
				if err != nil || r.GetStat() == nil {
					t.Fatalf("stat: %v %v", r, err)
				}
				return r.GetStat().MtimeNs
			}
			for i := 0; i < 5; i++ {
				if _, err := a.Create(ctx, &goferpb.CreateRequest{Dir: 1, Name: []byte("f")}); err != nil {
					t.Fatal(err)
				}
				if tc.statBetween {
					if got := stat(); got != g.mtime {
						t.Fatalf("stat after creation %d: mtime %d, want %d", i, got, g.mtime)
					}
				}
			}
			if got := stat(); got != g.mtime {
				t.Errorf("stat after the creations: mtime %d, want %d", got, g.mtime)
			}
			if g.noDir != tc.wantNoDir || g.stats != tc.wantStats {
				t.Errorf("%d creations without the directory's attributes, %d gofer Stats; want %d and %d", g.noDir, g.stats, tc.wantNoDir, tc.wantStats)
			}
		})
	}
}
