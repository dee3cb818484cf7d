package gofer

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestCreationRemovedAtOnce: a creation whose file another thread removes
// before the gofer has opened it succeeds (Linux's mkdir did), with no
// handle, instead of ENOENT.
func TestCreationRemovedAtOnce(t *testing.T) {
	const n = 1500
	cases := []struct {
		name   string
		create func(e *env, name string) (int32, *goferpb.Handle)
	}{
		{"mkdir", func(e *env, name string) (int32, *goferpb.Handle) {
			r, err := e.c.Mkdir(e.ctx, &goferpb.MkdirRequest{Dir: e.rootH, Name: []byte(name), Mode: 0o755})
			if err != nil {
				e.t.Fatal(err)
			}
			return r.GetErrno(), r.GetHandle()
		}},
		{"symlink", func(e *env, name string) (int32, *goferpb.Handle) {
			r, err := e.c.Symlink(e.ctx, &goferpb.SymlinkRequest{Dir: e.rootH, Name: []byte(name), Target: []byte("t")})
			if err != nil {
				e.t.Fatal(err)
			}
			return r.GetErrno(), r.GetHandle()
		}},
		{"mknod", func(e *env, name string) (int32, *goferpb.Handle) {
			r, err := e.c.Mknod(e.ctx, &goferpb.MknodRequest{Dir: e.rootH, Name: []byte(name), Mode: unix.S_IFIFO | 0o600})
			if err != nil {
				e.t.Fatal(err)
			}
			return r.GetErrno(), r.GetHandle()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			var wg sync.WaitGroup
			var stop atomic.Bool
			wg.Add(1)
			go func() {
				// Another thread removing each name as soon as it exists.
				defer wg.Done()
				for i := 0; i < n; i++ {
					p := e.host(fmt.Sprintf("x%d", i))
					for !stop.Load() {
						err := os.Remove(p)
						if err == nil {
							break
						}
						if !os.IsNotExist(err) {
							t.Errorf("remove %s: %v", p, err)
							return
						}
					}
				}
			}()
			for i := 0; i < n; i++ {
				errno, h := c.create(e, fmt.Sprintf("x%d", i))
				if errno != 0 {
					t.Errorf("%s x%d: errno %v", c.name, i, unix.Errno(errno))
					stop.Store(true)
					break
				}
				if h != nil {
					if _, err := e.c.Release(e.ctx, &goferpb.ReleaseRequest{Handles: []uint64{h.GetId()}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			wg.Wait()
		})
	}
}
