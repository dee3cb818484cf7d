package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// BenchmarkOpenClose times open(O_RDONLY) + close of a file looked up
// before, through the server and an in-process gofer reached as the
// daemon reaches its own: GoferConn over the framed wire, with call
// channels and donated fds. The close's Release is batched, as in the
// daemon. The client is the test's framed connection.
func BenchmarkOpenClose(b *testing.B) {
	root := newRoot(b)
	p := startGoferProc(b, root)
	target := transport.Target{Network: "unix", Address: p.Sock}
	gc := goferclient.NewGoferConn(p.Dial(b), testLog(), goferclient.WithStreamDialer(func(ctx context.Context) (goferclient.MsgStream, error) {
		return transport.DialFramedStream(ctx, target)
	}))
	b.Cleanup(gc.Close)
	e, _ := startedOverGoferConn(b, root, gc)
	if err := os.WriteFile(filepath.Join(root, "tmp", "f"), []byte("data"), 0o644); err != nil {
		b.Fatal(err)
	}
	path := e.mem.str("/tmp/f")
	openClose := func() {
		e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, path, unix.O_RDONLY, 0)))
	}
	openClose()
	if gc.Donations() == 0 {
		b.Fatal("no fd donated: not the daemons' set-up")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		openClose()
	}
}
