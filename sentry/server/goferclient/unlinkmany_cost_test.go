package goferclient

import (
	"context"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
)

// unlinkManyFiles is the size of the run unlinkManyLoop removes: rm -r's
// runs of a directory's files are up to kernel.maxHeldUnlinks (256), most
// of /usr/include's directories have tens of files.
const unlinkManyFiles = 64

// registryObserver tells a read lease registry of the changes an
// AttrCache makes, as the server's leaseObserver does (the calls the
// removals make of it).
type registryObserver struct{ r *readlease.Registry }

func (o registryObserver) Changed(ctx context.Context, dev, ino uint64) {
	o.r.Changed(ctx, readlease.Key{Dev: dev, Ino: ino})
}
func (o registryObserver) ChangedMany(ctx context.Context, inodes []*goferpb.InodeID) {
	keys := make([]readlease.Key, len(inodes))
	for i, in := range inodes {
		keys[i] = readlease.Key{Dev: in.GetDev(), Ino: in.GetIno()}
	}
	o.r.ChangedMany(ctx, keys)
}
func (o registryObserver) ChangedAll(ctx context.Context)                 { o.r.ChangedAll(ctx) }
func (o registryObserver) Observed(ctx context.Context, st *goferpb.Stat) {}
func (o registryObserver) NamesChanged(ctx context.Context, _, ino uint64, known bool) {
	if !known {
		o.r.ChangedPaths(ctx)
		return
	}
	o.r.DirChanged(ctx, ino)
}
func (o registryObserver) Changing(ctx context.Context, inodes []*goferpb.InodeID) func() {
	keys := make([]readlease.Key, len(inodes))
	for i, in := range inodes {
		keys[i] = readlease.Key{Dev: in.GetDev(), Ino: in.GetIno()}
	}
	end, _ := o.r.BeginChange(ctx, keys)
	return end
}
func (o registryObserver) NamesChanging(ctx context.Context, _, ino uint64) func() {
	end, _ := o.r.BeginNamesChange(ctx, ino)
	return end
}

// unlinkManyLoop returns one run of rm -r's removals as the server sends
// it: unlinkManyFiles files of one directory, made on the host before each
// call (raw mknodat, which allocates nothing), removed by one UnlinkMany
// with an Origin each, naming each file's inode (WithChanging), through
// the attribute cache (telling a read lease registry) and GoferConn over
// the framed wire with call channels to an in-process gofer. With leased
// not nil, the files are leased before each run to the remover's own
// client, whose context the run carries: the search key of each, as rm
// -r's listing of the directory brought them (GrantPath); leased runs
// the grant (a benchmark stops its timer around it: not the run's cost).
func unlinkManyLoop(tb testing.TB, leased func(grant func())) func() {
	tb.Helper()
	root := tb.TempDir()
	gc := quietFramedConn(tb, root)
	c := NewAttrCache(goferpb.NewGoferClient(gc))
	reg := readlease.New(time.Second)
	c.SetObserver(registryObserver{reg})
	ctx := context.Background()
	var h *readlease.Holder
	if leased != nil {
		h = reg.NewHolder(func(bool) { h.Take() })
		ctx = readlease.WithHolder(ctx, h)
	}
	a, err := c.Attach(ctx, &goferpb.AttachRequest{})
	if err != nil || a.Errno != 0 {
		tb.Fatalf("Attach: %v %v", err, unix.Errno(a.GetErrno()))
	}
	dirFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(dirFD) })
	req := &goferpb.UnlinkManyRequest{}
	cnames := make([]*byte, unlinkManyFiles)
	for i := range cnames {
		name := fmt.Sprintf("file%03d.h", i)
		if cnames[i], err = unix.BytePtrFromString(name); err != nil {
			tb.Fatal(err)
		}
		req.Dirs = append(req.Dirs, a.Root.Id)
		req.Names = append(req.Names, []byte(name))
		req.Origins = append(req.Origins, &goferpb.Origin{ClientId: "client"})
	}
	inos := make([]uint64, unlinkManyFiles)
	for i := range inos {
		inos[i] = uint64(1000 + i)
	}
	// Leased, the run's lookups found the files' own numbers (inos,
	// which changing holds, are set in place at each run).
	changing := WithChanging(ctx, inos...)
	keys := make([]readlease.Key, unlinkManyFiles)
	var st unix.Stat_t
	grant := func() {
		for i, name := range cnames {
			if _, _, e := unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(dirFD), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0); e != 0 {
				tb.Fatalf("fstatat: %v", e)
			}
			inos[i] = st.Ino
			keys[i] = readlease.PathKey(readlease.PathSearch, st.Ino)
		}
		if _, _, _, ok := reg.GrantPath(h, reg.BeginPath(), keys); !ok {
			tb.Fatal("the listing's grant was refused")
		}
	}
	var seq uint64
	return func() {
		for _, name := range cnames {
			if _, _, e := unix.Syscall6(unix.SYS_MKNODAT, uintptr(dirFD), uintptr(unsafe.Pointer(name)), unix.S_IFREG|0o644, 0, 0, 0); e != 0 {
				tb.Fatalf("mknodat: %v", e)
			}
		}
		if leased != nil {
			leased(grant)
		}
		// Each call's own, as each unlink's Origin is its posted call's.
		for _, o := range req.Origins {
			seq++
			o.Seq = seq
		}
		r, err := c.UnlinkMany(changing, req)
		if err != nil || r.Errno != 0 || len(r.Unlinks) != unlinkManyFiles {
			tb.Fatalf("UnlinkMany: %v, errno %v, %d answers", err, unix.Errno(r.GetErrno()), len(r.GetUnlinks()))
		}
		for _, u := range r.Unlinks {
			if u.Errno != 0 {
				tb.Fatalf("an unlink failed: %v", unix.Errno(u.Errno))
			}
		}
	}
}

// BenchmarkUnlinkMany: the server's and the gofer's side of one run of
// unlinks of rm -r (both in this process) from the attribute cache down;
// -benchmem counts the allocations of the run (divide by unlinkManyFiles
// for a file's).
func BenchmarkUnlinkMany(b *testing.B) {
	call := unlinkManyLoop(b, nil)
	call()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		call()
	}
}

// BenchmarkUnlinkManyLeased is BenchmarkUnlinkMany with the files leased
// to the remover's own client before each run (its listing's search key
// of each; the grant not counted), as rm -r's are: each removal then
// revokes a lease.
func BenchmarkUnlinkManyLeased(b *testing.B) {
	call := unlinkManyLoop(b, func(grant func()) {
		b.StopTimer()
		grant()
		b.StartTimer()
	})
	call()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		call()
	}
}
