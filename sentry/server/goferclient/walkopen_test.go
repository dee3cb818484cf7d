package goferclient

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/gofer/gofertest"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// quietFramedConn starts an in-process gofer on root that logs as a
// daemon's does (warnings only) and returns a GoferConn to it over the
// framed wire with call channels, as the server's: the cost tests count
// what a call allocates there.
func quietFramedConn(tb testing.TB, root string) *GoferConn {
	tb.Helper()
	p := gofertest.New(tb, root)
	p.Log = hclog.NewNullLogger()
	p.Start()
	tb.Cleanup(p.Kill)
	target := transport.Target{Network: "unix", Address: p.Sock}
	gc := NewGoferConn(p.Dial(tb), hclog.NewNullLogger(), WithStreamDialer(func(ctx context.Context) (MsgStream, error) {
		return transport.DialFramedStream(ctx, target)
	}))
	tb.Cleanup(gc.Close)
	return gc
}

// walkOpenLoop returns one open+close as the server makes it of a file
// it looked up before: a walk-open that takes a donated fd, then the
// Release of its handle (batched on the server; one call each here),
// through GoferConn over the framed wire with call channels to an
// in-process gofer.
func walkOpenLoop(tb testing.TB) func() {
	tb.Helper()
	root := tb.TempDir()
	gc := quietFramedConn(tb, root)
	c := goferpb.NewGoferClient(gc)
	ctx := context.Background()
	a, err := c.Attach(ctx, &goferpb.AttachRequest{})
	if err != nil || a.Errno != 0 {
		tb.Fatalf("Attach: %v %v", err, unix.Errno(a.GetErrno()))
	}
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("data"), 0o644); err != nil {
		tb.Fatal(err)
	}
	walk := &goferpb.WalkRequest{Dir: a.Root.Id, Names: [][]byte{[]byte("f")}, Open: true, OpenFlags: unix.O_RDONLY}
	before := gc.Donations()
	return func() {
		r, err := c.Walk(ctx, walk)
		if err != nil || r.Errno != 0 || r.OpenErrno != 0 || len(r.Files) != 1 {
			tb.Fatalf("walk-open: %v %v", err, r)
		}
		id := r.Files[0].Handle.Id
		if gc.Donations() <= before {
			tb.Fatal("no fd donated")
		}
		if _, err := c.Release(ctx, &goferpb.ReleaseRequest{Handles: []uint64{id}}); err != nil {
			tb.Fatalf("Release: %v", err)
		}
	}
}

// TestWalkOpenCost counts the allocations (server and gofer together,
// deterministic unlike time on a loaded machine) of a walk-open with a
// donated fd and its Release: 132 before the handles of a reply were
// found without protoreflect (on both sides), the gofer's HMAC states
// reused and its debug log's arguments built only when it logs, 99 after.
func TestWalkOpenCost(t *testing.T) {
	call := walkOpenLoop(t)
	call()
	got := testing.AllocsPerRun(300, call)
	t.Logf("%.0f allocations per walk-open and Release", got)
	if got > 112 {
		t.Errorf("%.0f allocations per walk-open and Release, want at most 112", got)
	}
}

// BenchmarkWalkOpen times the server's and the gofer's side of an
// open+close of a file looked up before (both in this process).
func BenchmarkWalkOpen(b *testing.B) {
	call := walkOpenLoop(b)
	call()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		call()
	}
}
