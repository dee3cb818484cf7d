package server

import (
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
)

// leasingEnv is countingEnv whose client takes read leases
// (Hello.read_leases) and marks every call as one whose lease it could
// use (Syscall.lease_wanted), as do's client does for a process with one
// thread. The gofer donates no fds, so every Read is counted.
func leasingEnv(t *testing.T) (*env, *rpcCounter) {
	t.Helper()
	root := newRoot(t)
	p := startGoferProc(t, root)
	rc := &rpcCounter{counts: make(map[string]int)}
	cc, err := grpc.NewClient("unix://"+p.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	gc := goferclient.NewGoferConn(cc, testLog(), goferclient.WithWrap(func(inner grpc.ClientConnInterface) grpc.ClientConnInterface {
		return &countingConn{ClientConnInterface: inner, rc: rc}
	}))
	t.Cleanup(gc.Close)
	e, _ := startedOverGoferConnHello(t, root, gc, &sentrypb.Hello{ClientId: t.Name(), ReadLeases: true})
	e.leaseWanted = true
	return e, rc
}

// TestLeaseGrantCost counts the gofer calls a read lease costs the server.
// An open+close must not pay for a lease the application may never use
// (a 256 KiB read and a Stat per open made open+close 366 → 529 µs): an
// open is leased only what the server's data cache holds already, and the
// first read or fstat takes the lease otherwise. A lease's read asks for
// what the file holds, and a large file's first window, at offset 0, is
// granted (a window that came back full is not a short read).
func TestLeaseGrantCost(t *testing.T) {
	old := releaseDelay
	releaseDelay = time.Hour // Releases come in batches only
	t.Cleanup(func() { releaseDelay = old })
	e, rc := leasingEnv(t)
	freezeClock(e)            // no cached attribute expires during the test
	var leaseNow atomic.Int64 // the read lease registry's clock
	leaseNow.Store(time.Now().UnixNano())
	e.srv.leases.SetClock(func() time.Time { return time.Unix(0, leaseNow.Load()) })
	m := e.mem
	files := map[string]int{"small": 3000, "empty": 0, "large": 1 << 20}
	for name, size := range files {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i * 7)
		}
		if err := os.WriteFile(filepath.Join(e.root, "tmp", name), b, 0644); err != nil {
			t.Fatal(err)
		}
	}
	sb, buf := m.zeros(144), m.zeros(4096)
	path := func(name string) uint64 { return m.str("/tmp/" + name) }
	small, empty, large := path("small"), path("empty"), path("large")
	for _, p := range []uint64{small, empty, large} {
		e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, p, sb, 0) // looked up before
	}
	rc.take()
	var fd uint64
	openRO := func(p uint64) func() *sentrypb.Reply {
		return func() *sentrypb.Reply {
			r := e.sys(1, unix.SYS_OPENAT, atFDCWD64, p, unix.O_RDONLY, 0)
			if r.Errno != 0 {
				t.Fatalf("open: %v", unix.Errno(r.Errno))
			}
			fd = uint64(r.Ret)
			return r
		}
	}
	closeFD := func() *sentrypb.Reply { return e.sys(1, unix.SYS_CLOSE, fd) }
	tests := []struct {
		name string
		call func() *sentrypb.Reply
		want map[string]int
		// lease says the reply carries a lease; window is the data
		// offset and length it must carry.
		lease       bool
		off, length int
	}{
		{"open of an empty file", openRO(empty), map[string]int{"Walk": 1}, false, 0, 0},
		{"fstat of it (no blocks: no lease)", func() *sentrypb.Reply { return e.sys(1, unix.SYS_FSTAT, fd, sb) }, nil, false, 0, 0},
		{"close of it", closeFD, nil, false, 0, 0},
		{"open of a small file never read", openRO(small), map[string]int{"Walk": 1}, false, 0, 0},
		{"close of it", closeFD, nil, false, 0, 0},
		{"open of it again", openRO(small), map[string]int{"Walk": 1}, false, 0, 0},
		{"its first read takes the lease", func() *sentrypb.Reply { return e.sys(1, unix.SYS_READ, fd, buf, 512) }, map[string]int{"Read": 2}, true, 0, 3000},
		{"close of it", closeFD, nil, false, 0, 0},
		// The lease of the read above is live: the open attaches to it.
		{"open of it while leased", openRO(small), map[string]int{"Walk": 1}, true, 0, 0},
		{"close of it", closeFD, nil, false, 0, 0},
		// Its lease expired; the server's data cache still holds the
		// file: an open is granted a lease from it, reading nothing.
		{"open of it once the lease expired", func() *sentrypb.Reply {
			leaseNow.Add(int64(2 * time.Second))
			return openRO(small)()
		}, map[string]int{"Walk": 1}, true, 0, 3000},
		{"close of it", closeFD, nil, false, 0, 0},
		{"open of a large file", openRO(large), map[string]int{"Walk": 1}, false, 0, 0},
		{"its first read takes the window at 0", func() *sentrypb.Reply { return e.sys(1, unix.SYS_READ, fd, buf, 512) }, map[string]int{"Read": 2}, true, 0, leaseWindow},
		{"close of it", closeFD, nil, false, 0, 0},
	}
	for _, tc := range tests {
		r := tc.call()
		got := rc.take()
		delete(got, "Release")
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: gofer calls %s, want %s", tc.name, fmtCounts(got), fmtCounts(tc.want))
		}
		l := r.GetLease()
		if (l != nil) != tc.lease {
			t.Errorf("%s: lease granted: %v, want %v", tc.name, l != nil, tc.lease)
			continue
		}
		if l != nil && !l.Attach && (int(l.DataOffset) != tc.off || len(l.Data) != tc.length) {
			t.Errorf("%s: lease of %d bytes at %d, want %d at %d", tc.name, len(l.Data), l.DataOffset, tc.length, tc.off)
		}
	}
}
