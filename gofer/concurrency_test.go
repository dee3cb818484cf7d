package gofer

import (
	"fmt"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestConcurrentUse hammers one file and one directory from many goroutines
// (opens that upgrade fds, I/O, fsync, listings, walks and releases) so that
// the race detector and the fd reference counting get exercised.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	f := e.create(e.rootH, "f", unix.O_RDONLY, 0o644)
	e.open(f, unix.O_WRONLY) // Upgrades to O_RDWR; later opens must keep both.
	d := e.mkdir(e.rootH, "d")
	for i := 0; i < 50; i++ {
		e.create(d, fmt.Sprintf("e%02d", i), unix.O_WRONLY, 0o644)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	report := func(what string, r interface{ GetErrno() int32 }, err error) {
		if err != nil || r.GetErrno() != 0 {
			errs <- fmt.Errorf("%s: %v errno %v", what, err, unix.Errno(r.GetErrno()))
		}
	}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				seq := uint64(g*1000 + i + 1)
				r1, err := e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: f, Flags: uint32([]int{unix.O_RDONLY, unix.O_WRONLY, unix.O_RDWR}[i%3])})
				report("open", r1, err)
				r2, err := e.c.Write(e.ctx, &goferpb.WriteRequest{Handle: f, Offset: uint64(g * 8), Data: []byte("01234567"), Seq: seq})
				report("write", r2, err)
				r3, err := e.c.Read(e.ctx, &goferpb.ReadRequest{Handle: f, Offset: 0, Length: 64})
				report("read", r3, err)
				r4, err := e.c.Fsync(e.ctx, &goferpb.FsyncRequest{Handle: f, DataOnly: i%2 == 0})
				report("fsync", r4, err)
				r5, err := e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: d, Count: 20})
				report("getdents", r5, err)
				r6, err := e.walk(d, fmt.Sprintf("e%02d", i))
				report("walk", r6, err)
				if len(r6.GetFiles()) == 1 {
					h := r6.GetFiles()[0].GetHandle().GetId()
					go e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{h}})
					e.c.Stat(e.ctx, &goferpb.StatRequest{Handle: h}) // EBADF or a stat: both fine.
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.stat(f).GetSize(); got != 64 {
		t.Errorf("size %d, want 64", got)
	}
}
