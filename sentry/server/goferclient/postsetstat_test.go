package goferclient

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/gofer/gofertest"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// callCounter counts the calls that reach goferCalls by method, and the
// SetStats they carried.
type callCounter struct {
	grpc.ClientConnInterface
	mu      sync.Mutex
	methods map[string]int
	carried int
}

func (c *callCounter) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	err := c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.methods[method[len("/runscdecoupled.gofer.v1.Gofer/"):]]++
	if s, ok := optOf[*beforeSlot](opts); ok && s.sent {
		c.carried += len(s.replies)
	}
	return err
}

func (c *callCounter) counts() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.methods))
	for k, v := range c.methods {
		m[k] = v
	}
	return m, c.carried
}

// oldStream is a Calls stream whose gofer grants no feature (an older
// gofer).
type oldStream struct {
	MsgStream
	first bool
}

func (s *oldStream) RecvMsg(m any) error {
	err := s.MsgStream.RecvMsg(m)
	if r, ok := m.(*goferpb.GoferResult); ok && !s.first {
		s.first = true
		r.Features = 0
	}
	return err
}

// connectCounting starts a gofer on root and a GoferConn to it over the
// transport named, counting its calls.
func connectCounting(t *testing.T, root, transportName string) (*gofertest.Gofer, *GoferConn, *callCounter) {
	t.Helper()
	counter := &callCounter{methods: make(map[string]int)}
	p, gc := connectWrapped(t, root, transportName, func(c grpc.ClientConnInterface) grpc.ClientConnInterface {
		counter.ClientConnInterface = c
		return counter
	})
	return p, gc, counter
}

// connectWrapped starts a gofer on root and a GoferConn to it over the
// transport named, its calls going through wrap's.
func connectWrapped(t *testing.T, root, transportName string, wrap func(grpc.ClientConnInterface) grpc.ClientConnInterface) (*gofertest.Gofer, *GoferConn) {
	t.Helper()
	p := gofertest.New(t, root)
	p.NoCalls = transportName == "unary fallback"
	p.Start()
	t.Cleanup(p.Kill)
	cc := p.Dial(t)
	opts := []GoferConnOption{WithWrap(wrap)}
	switch transportName {
	case "framed":
		target := transport.Target{Network: "unix", Address: p.Sock}
		opts = append(opts, WithStreamDialer(func(ctx context.Context) (MsgStream, error) {
			return transport.DialFramedStream(ctx, target)
		}))
	case "older gofer":
		dial := GRPCStreamDialer(cc)
		opts = append(opts, WithStreamDialer(func(ctx context.Context) (MsgStream, error) {
			st, err := dial(ctx)
			if err != nil {
				return nil, err
			}
			return &oldStream{MsgStream: st}, nil
		}))
	}
	gc := NewGoferConn(cc, hclog.NewNullLogger(), opts...)
	t.Cleanup(gc.Close)
	return p, gc
}

// currentStream is gc's open call stream, nil if none.
func currentStream(gc *GoferConn) *callConn {
	gc.calls.mu.Lock()
	defer gc.calls.mu.Unlock()
	return gc.calls.cur
}

// postResult is what a posted SetStat's Done got.
type postResult struct {
	r   *goferpb.SetStatReply
	err error
}

// TestPostedSetStatRides: a posted SetStat rides the next call (no
// SetStat RPC of its own; the call sees its change), or, with no call
// within postDelay, is sent alone; on a stream without FeatureBefore (an
// older gofer, the unary fallback) it is sent alone at once, as without
// the option. A SetStat that fails reports its errno to Done, as alone.
func TestPostedSetStatRides(t *testing.T) {
	tests := []struct {
		name      string
		transport string
		delay     time.Duration
		bad       bool // a handle the gofer does not know: EBADF
		symlink   bool // a symlink's handle: its mode cannot be set
		restart   bool // the gofer restarts while the SetStat is queued
		parts     bool // with a part (the file's change) to apply if it fails
		next      bool // a Stat of the file follows the post
		// want
		queued    bool
		setStats  int // SetStat RPCs
		carried   int
		wantErrno unix.Errno
	}{
		{name: "rides the next call", transport: "grpc stream", delay: time.Hour, next: true, queued: true, setStats: 0, carried: 1},
		{name: "rides on a call channel", transport: "framed", delay: time.Hour, next: true, queued: true, setStats: 0, carried: 1},
		{name: "alone after the delay", transport: "grpc stream", delay: 5 * time.Millisecond, queued: true, setStats: 1},
		{name: "older gofer", transport: "older gofer", delay: time.Hour, next: true, setStats: 1},
		{name: "unary fallback", transport: "unary fallback", delay: time.Hour, next: true, setStats: 1},
		// Re-sent alone (to re-resolve the handle), which fails alike.
		{name: "unknown handle", transport: "grpc stream", delay: time.Hour, bad: true, next: true, queued: true, setStats: 1, carried: 1, wantErrno: unix.EBADF},
		// Rides the new gofer's first call with a handle it does not
		// know, then is sent alone (EBADF again, then with the handle
		// re-resolved).
		{name: "gofer restarted", transport: "framed", delay: time.Hour, restart: true, next: true, queued: true, setStats: 2, carried: 1},
		// The merged change fails; its part is applied before the
		// carrier runs.
		{name: "error applies the parts", transport: "framed", delay: time.Hour, symlink: true, parts: true, next: true, queued: true, carried: 1, wantErrno: unix.EOPNOTSUPP},
		{name: "error applies the parts alone", transport: "grpc stream", delay: 5 * time.Millisecond, symlink: true, parts: true, queued: true, setStats: 2, wantErrno: unix.EOPNOTSUPP},
		{name: "error", transport: "grpc stream", delay: time.Hour, symlink: true, next: true, queued: true, carried: 1, wantErrno: unix.EOPNOTSUPP},
	}
	saved := postDelay
	defer func() { postDelay = saved }()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			postDelay = tc.delay
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("f", filepath.Join(root, "l")); err != nil {
				t.Fatal(err)
			}
			p, gc, counter := connectCounting(t, root, tc.transport)
			c := goferpb.NewGoferClient(gc)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			a, err := c.Attach(ctx, &goferpb.AttachRequest{})
			if err != nil || a.Errno != 0 {
				t.Fatalf("Attach: %v %v", err, unix.Errno(a.GetErrno()))
			}
			w, err := c.Walk(ctx, &goferpb.WalkRequest{Dir: a.Root.Id, Names: [][]byte{[]byte("f")}})
			if err != nil || len(w.GetFiles()) != 1 {
				t.Fatalf("Walk: %v %v", err, w)
			}
			h := w.Files[0].Handle.Id
			target := h
			if tc.bad {
				target = h + 1000
			}
			if tc.symlink {
				lw, err := c.Walk(ctx, &goferpb.WalkRequest{Dir: a.Root.Id, Names: [][]byte{[]byte("l")}})
				if err != nil || len(lw.GetFiles()) != 1 {
					t.Fatalf("Walk: %v %v", err, lw)
				}
				target = lw.Files[0].Handle.Id
			}
			const mtime = int64(1_400_000_000) * 1_000_000_000
			got := make(chan postResult, 1)
			post := &PostSetStat{Done: func(r *goferpb.SetStatReply, err error) { got <- postResult{r, err} }}
			req := &goferpb.SetStatRequest{Handle: target, Mask: unix.STATX_MODE | unix.STATX_MTIME | unix.STATX_ATIME,
				Mode: 0o600, MtimeNs: mtime, AtimeNs: mtime, Origin: &goferpb.Origin{ClientId: "t", Seq: 7, Part: 1}}
			if tc.parts {
				req.Parts = []*goferpb.SetStatRequest{{Handle: h, Mask: req.Mask, Mode: req.Mode, MtimeNs: mtime, AtimeNs: mtime, Origin: &goferpb.Origin{ClientId: "t", Seq: 7}}}
			}
			r, err := c.SetStat(ctx, req, post)
			if err != nil {
				t.Fatal(err)
			}
			if post.Queued != tc.queued {
				t.Fatalf("queued %v, want %v", post.Queued, tc.queued)
			}
			var res postResult
			if !post.Queued {
				res = postResult{r, nil}
			} else if tc.next {
				select {
				case res = <-got:
					t.Fatalf("done before any call carried it: %v", res)
				case <-time.After(20 * time.Millisecond):
				}
			}
			if tc.restart {
				old := currentStream(gc)
				p.Restart()
				// The queued SetStat rides the new stream's first call
				// (not one sent on the old stream before it was found
				// dead, which sends it alone).
				for deadline := time.Now().Add(10 * time.Second); currentStream(gc) == old || currentStream(gc) == nil; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("no new call stream after the gofer restarted")
					}
				}
			}
			if tc.next {
				st, err := c.Stat(ctx, &goferpb.StatRequest{Handle: h})
				if err != nil || st.Errno != 0 {
					t.Fatalf("Stat: %v %v", err, st)
				}
				if want := uint32(0o600); !tc.bad && (!tc.symlink || tc.parts) && st.Stat.Mode&0o7777 != want {
					t.Errorf("the next call saw mode %#o, want %#o", st.Stat.Mode&0o7777, want)
				}
			}
			if post.Queued {
				select {
				case res = <-got:
				case <-time.After(10 * time.Second):
					t.Fatal("no result for the posted SetStat")
				}
			}
			if res.err != nil || unix.Errno(res.r.GetErrno()) != tc.wantErrno {
				t.Fatalf("result: %v errno %v, want %v", res.err, unix.Errno(res.r.GetErrno()), tc.wantErrno)
			}
			if tc.parts && (len(res.r.GetParts()) != 1 || res.r.Parts[0].GetErrno() != 0) {
				t.Errorf("the parts' replies: %v, want one success", res.r.GetParts())
			}
			fi, err := os.Stat(filepath.Join(root, "f"))
			if err != nil {
				t.Fatal(err)
			}
			wantMode := os.FileMode(0o600)
			if tc.bad || tc.symlink && !tc.parts {
				wantMode = 0o644
			}
			if fi.Mode().Perm() != wantMode || (wantMode == 0o600 && fi.ModTime().UnixNano() != mtime) {
				t.Errorf("file mode %v mtime %v, want %v", fi.Mode().Perm(), fi.ModTime(), wantMode)
			}
			methods, carried := counter.counts()
			if methods["SetStat"] != tc.setStats || carried != tc.carried {
				t.Errorf("SetStat RPCs %d, carried %d; want %d, %d (calls %v)", methods["SetStat"], carried, tc.setStats, tc.carried, methods)
			}
			if n := gc.Posted(); n != 0 {
				t.Errorf("%d posted SetStats still out", n)
			}
		})
	}
}

// TestPostedSetStatAllocs counts what a posted SetStat costs the gofer
// client: queued as the caller made it (no copy: the caller changes it
// no more, PostSetStat), and carried as one copy with its parts, mapped
// to real ids in place (not a copy of it and one more of each part).
func TestPostedSetStatAllocs(t *testing.T) {
	if !setStatHandleOnly {
		t.Error("SetStatRequest's handle fields changed: mapSetStat maps them by protoreflect, an allocation each")
	}
	const vid, real = 1, 101
	part := func(mask uint32) *goferpb.SetStatRequest {
		return &goferpb.SetStatRequest{Handle: vid, Mask: mask, Uid: 1000, Gid: 1000, Mode: 0o644,
			MtimeNs: 7, AtimeNs: 7, Origin: &goferpb.Origin{ClientId: "t", Seq: 9, Part: 1}}
	}
	for _, tc := range []struct {
		name string
		req  *goferpb.SetStatRequest
	}{
		{"alone", part(unix.STATX_MODE)},
		{"merged of three", func() *goferpb.SetStatRequest {
			m := part(unix.STATX_UID | unix.STATX_GID | unix.STATX_MODE | unix.STATX_MTIME | unix.STATX_ATIME)
			m.Parts = []*goferpb.SetStatRequest{part(unix.STATX_UID | unix.STATX_GID), part(unix.STATX_MODE), part(unix.STATX_MTIME | unix.STATX_ATIME)}
			return m
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &GoferConn{handles: map[uint64]*vhandle{vid: {real: real}}, postDelay: time.Hour,
				calls: &goferCalls{cur: &callConn{features: goferpb.FeatureBefore}}}
			defer func() {
				if g.postTimer != nil {
					g.postTimer.Stop()
				}
			}()
			p := &PostSetStat{Done: func(*goferpb.SetStatReply, error) {}}
			if !g.post(context.Background(), tc.req, p) || !p.Queued {
				t.Fatal("not queued")
			}
			if g.posted[0].req != tc.req {
				t.Error("the queued request is a copy")
			}
			s := g.carried(g.posted)
			if m := s.reqs[0]; m.Handle != real || len(m.Parts) != len(tc.req.Parts) {
				t.Fatalf("carried %v, want handle %d and %d parts", m, real, len(tc.req.Parts))
			}
			for _, mp := range s.reqs[0].Parts {
				if mp.Handle != real {
					t.Errorf("carried part %v, want handle %d", mp, real)
				}
			}
			if tc.req.Handle != vid || len(tc.req.Parts) > 0 && tc.req.Parts[0].Handle != vid {
				t.Errorf("the caller's request was mapped: %v", tc.req)
			}
			clone := testing.AllocsPerRun(50, func() { proto.Clone(tc.req) })
			// The slot and its slice, and one copy.
			got := testing.AllocsPerRun(50, func() { g.carried(g.posted[:1]) })
			if want := clone + 2; got > want {
				t.Errorf("%.0f allocations to carry it, want at most %.0f (a copy: %.0f)", got, want, clone)
			}
		})
	}
}
