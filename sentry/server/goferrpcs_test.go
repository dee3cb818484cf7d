package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/attrrun"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// rpcCounter counts the gofer RPCs a server sends, by method, as they
// leave for the gofer (below goferclient.GoferConn, as the gofer sees them).
type rpcCounter struct {
	mu     sync.Mutex
	counts map[string]int
	// fsyncHandles counts the handles named by Fsync requests.
	fsyncHandles int
	// failBatches makes every Fsync naming several handles fail (EIO).
	failBatches bool
	// failMerged makes every SetStat merging several calls' changes fail
	// (EIO).
	failMerged bool
	// failSetStats makes every SetStat fail (EIO).
	failSetStats bool
	// noUnlinkMany answers UnlinkMany as a gofer without it does
	// (Unimplemented).
	noUnlinkMany bool
	// failWrites makes every Write fail (ENOSPC); shortWrites makes
	// every Write write only the first half of its bytes, and say so.
	failWrites, shortWrites bool
	// failTruncOpens makes every Open and walk-open with O_TRUNC fail
	// (EIO).
	failTruncOpens bool
	// uncached sends the Writes whose Origin has this seq without it: the
	// gofer makes them, as when its reply cache evicted their entry.
	uncached uint64
}

// carriedKey counts the posted SetStats that rode another call
// (goferclient.CarriedSetStats).
const carriedKey = "SetStat (carried)"

// setStats is how many SetStats counts holds, alone or carried.
func setStats(counts map[string]int) int { return counts["SetStat"] + counts[carriedKey] }

func (r *rpcCounter) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	name := method[strings.LastIndexByte(method, '/')+1:]
	r.mu.Lock()
	r.counts[name]++
	for _, f := range goferclient.CarriedSetStats(opts) {
		r.counts[carriedKey]++
		if r.failSetStats || r.failMerged && f.GetOrigin().GetPart() == attrrun.MergedPart {
			// Sent with a handle no gofer hands out: GoferConn then
			// sends it alone, and it fails below.
			f.Handle = 0
		}
	}
	fail := false
	if f, ok := req.(*goferpb.FsyncRequest); ok {
		r.fsyncHandles += 1 + len(f.Handles)
		fail = r.failBatches && len(f.Handles) > 0
	}
	if f, ok := req.(*goferpb.SetStatRequest); ok && (r.failSetStats || r.failMerged && f.GetOrigin().GetPart() == attrrun.MergedPart) {
		r.mu.Unlock()
		reply.(*goferpb.SetStatReply).Errno = int32(unix.EIO)
		return nil
	}
	if o, ok := req.(*goferpb.OpenRequest); ok && r.failTruncOpens && o.Flags&unix.O_TRUNC != 0 {
		r.mu.Unlock()
		reply.(*goferpb.OpenReply).Errno = int32(unix.EIO)
		return nil
	}
	if w, ok := req.(*goferpb.WalkRequest); ok && r.failTruncOpens && w.Open && w.OpenFlags&unix.O_TRUNC != 0 {
		r.mu.Unlock()
		reply.(*goferpb.WalkReply).Errno = int32(unix.EIO)
		return nil
	}
	if w, ok := req.(*goferpb.WriteRequest); ok && r.uncached != 0 && w.GetOrigin().GetSeq() == r.uncached {
		r.mu.Unlock()
		plain := proto.Clone(w).(*goferpb.WriteRequest)
		plain.Origin = nil
		return invoker(ctx, method, plain, reply, cc, opts...)
	}
	if _, ok := req.(*goferpb.WriteRequest); ok && r.failWrites {
		r.mu.Unlock()
		reply.(*goferpb.WriteReply).Errno = int32(unix.ENOSPC)
		return nil
	}
	if w, ok := req.(*goferpb.WriteRequest); ok && r.shortWrites && len(w.Data) > 1 {
		r.mu.Unlock()
		half := proto.Clone(w).(*goferpb.WriteRequest)
		half.Data = half.Data[:len(half.Data)/2]
		return invoker(ctx, method, half, reply, cc, opts...)
	}
	if _, ok := req.(*goferpb.UnlinkManyRequest); ok && r.noUnlinkMany {
		r.mu.Unlock()
		return status.Error(codes.Unimplemented, "gofer: no method "+method)
	}
	r.mu.Unlock()
	if fail {
		reply.(*goferpb.FsyncReply).Errno = int32(unix.EIO)
		return nil
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// take returns the counts since the last take (Session streams are not
// counted: they are not unary).
func (r *rpcCounter) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts
	r.counts = make(map[string]int)
	return c
}

func fmtCounts(m map[string]int) string {
	var parts []string
	for k, v := range m {
		if v != 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", k, v))
		}
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, " ") + "}"
}

// countingEnv is a started env whose server reaches the gofer through a
// goferclient.GoferConn (as the daemon's does) over a connection that counts RPCs.
func countingEnv(t *testing.T) (*env, *rpcCounter) {
	t.Helper()
	e, rc, _ := countingEnvSock(t)
	return e, rc
}

// countingEnvSock is countingEnv, also returning the server's socket.
func countingEnvSock(t *testing.T) (*env, *rpcCounter, string) {
	t.Helper()
	return countingEnvCfg(t, Config{})
}

// countingEnvCfg is countingEnvSock whose server has Config cfg and
// whose GoferConn has opts.
func countingEnvCfg(t *testing.T, cfg Config, opts ...goferclient.GoferConnOption) (*env, *rpcCounter, string) {
	t.Helper()
	return countingEnvDial(t, cfg, nil, opts...)
}

// postTogether has a test's posted calls go out with its next waited
// call (or SendPosted), however loaded the machine: a test that counts
// what a run of posted calls costs needs them in one frame, which the
// queue's 2 ms timer could split.
func postTogether(o *transport.Options) { o.PostDelay = transport.MaxPostDelay }

// countingEnvDial is countingEnvCfg whose client's connection is dialled
// with dial applied to its options.
func countingEnvDial(t *testing.T, cfg Config, dial []func(*transport.Options), opts ...goferclient.GoferConnOption) (*env, *rpcCounter, string) {
	t.Helper()
	root := newRoot(t)
	p := startGoferProc(t, root)
	rc := &rpcCounter{counts: make(map[string]int)}
	cc, err := grpc.NewClient("unix://"+p.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	// Counted where goferclient.GoferConn hands each call to its stream: the calls
	// are not unary gRPC calls, so a gRPC interceptor sees none.
	gc := goferclient.NewGoferConn(cc, testLog(), append([]goferclient.GoferConnOption{goferclient.WithWrap(func(inner grpc.ClientConnInterface) grpc.ClientConnInterface {
		return &countingConn{ClientConnInterface: inner, rc: rc}
	})}, opts...)...)
	t.Cleanup(gc.Close)
	e, sock := startedOverGoferConnCfg(t, root, gc, &sentrypb.Hello{ClientId: t.Name()}, cfg, dial...)
	return e, rc, sock
}

// freezeClock stops the clock of the server's caches (attrTTL and
// negativeTTL then never pass on their own, however loaded the machine)
// and returns the function that moves it.
func freezeClock(e *env) (advance func(time.Duration)) {
	ac := e.srv.attrs
	var mu sync.Mutex
	now := time.Now()
	ac.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	return func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

// flushReleases sends the Releases the server's clients have queued.
func flushReleases(e *env) {
	e.srv.mu.Lock()
	var ks []*kernel.Kernel
	for c := range e.srv.clients {
		ks = append(ks, c.k)
	}
	e.srv.mu.Unlock()
	for _, k := range ks {
		k.Releases.Flush()
	}
}

// countingConn counts the calls made through it with rc.
type countingConn struct {
	grpc.ClientConnInterface
	rc *rpcCounter
}

func (c *countingConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return c.rc.intercept(ctx, method, args, reply, nil, func(ctx context.Context, method string, args, reply any, _ *grpc.ClientConn, opts ...grpc.CallOption) error {
		return c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
	}, opts...)
}

// TestGoferRPCsPerCall counts the gofer RPCs of common system calls, so
// that a change adding round trips to them fails here. Releases are
// batched off the calls' path (goferclient.ReleaseQueue) and the durability flusher's
// Fsyncs come on their own schedule: neither is counted per call.
func TestGoferRPCsPerCall(t *testing.T) {
	releasesInBatchesOnly(t)
	e, rc := countingEnv(t)
	freezeClock(e) // no cached attribute expires during the test
	m := e.mem
	sb := m.zeros(144)
	buf := m.zeros(4096)
	if err := os.WriteFile(filepath.Join(e.root, "tmp/existing"), make([]byte, 8192), 0644); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n"} {
		if err := os.MkdirAll(filepath.Join(e.root, "etc"), 0755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.root, name), []byte(content), 0644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(e.root, "tmp/archive"), make([]byte, 1<<20), 0644); err != nil {
		t.Fatal(err)
	}
	archive := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/archive"), unix.O_RDONLY, 0))
	passwd, group := m.str("/etc/passwd"), m.str("/etc/group")
	readFile := func(path uint64) {
		fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, path, unix.O_RDONLY, 0))
		e.ok(1, unix.SYS_NEWFSTATAT, fd, m.str(""), sb, unix.AT_EMPTY_PATH)
		e.ok(1, unix.SYS_READ, fd, buf, 4096)
		e.ok(1, unix.SYS_CLOSE, fd)
	}
	// Twice: the second open takes the handle the first kept
	// (vfs/kept.go), whose attributes the first read made stale (atime):
	// its fstat asks the gofer once, and later ones are answered.
	for range 2 {
		readFile(passwd)
		readFile(group)
	}
	times := m.zeros(32)
	if err := os.MkdirAll(filepath.Join(e.root, "tmp/dir/e9"), 0755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 9; i++ {
		if err := os.WriteFile(filepath.Join(e.root, fmt.Sprintf("tmp/dir/e%d", i)), nil, 0644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"tmp/cdir", "tmp/tar"} {
		if err := os.MkdirAll(filepath.Join(e.root, d), 0755); err != nil {
			t.Fatal(err)
		}
		e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str("/"+d), sb, 0) // looked up before
	}
	dents := m.zeros(32768)
	e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str("/tmp/dir"), sb, 0) // looked up before
	for i := 0; i < 3; i++ {
		if err := os.MkdirAll(filepath.Join(e.root, fmt.Sprintf("tmp/tree/t%d/s", i)), 0755); err != nil {
			t.Fatal(err)
		}
	}
	e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str("/tmp/tree"), sb, 0)
	list := func(path string) {
		fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(path), unix.O_RDONLY|unix.O_DIRECTORY, 0))
		for e.ok(1, unix.SYS_GETDENTS64, fd, dents, 32768) != 0 {
		}
		e.ok(1, unix.SYS_CLOSE, fd)
	}
	existing := m.str("/tmp/existing")
	data := m.alloc(make([]byte, 4096))
	// Warm the dentry cache: /tmp/existing looked up, as a process that
	// used it before would have.
	e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, existing, unix.O_RDONLY, 0)))
	rfd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, existing, unix.O_RDWR, 0))
	// A file truncated by an O_TRUNC open, truncate(2) and ftruncate,
	// looked up before.
	if err := os.WriteFile(filepath.Join(e.root, "tmp/trunc"), make([]byte, 100), 0644); err != nil {
		t.Fatal(err)
	}
	trunc := m.str("/tmp/trunc")
	e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, trunc, sb, 0)
	tfd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, trunc, unix.O_RDWR, 0))
	n := 0
	created := ""
	tests := []struct {
		name string
		do   func()
		want map[string]int
	}{
		// The handle the last read-only description of it left is
		// taken (vfs/kept.go): a Walk before.
		{"open+close of a looked-up file", func() {
			e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, existing, unix.O_RDONLY, 0)))
		}, nil},
		// The lookup's Walk opens it too (vfs.PreOpened): 2 Walks
		// before.
		{"open+close of a file never looked up", func() {
			n++
			p := fmt.Sprintf("tmp/dir/u%d", n)
			if err := os.WriteFile(filepath.Join(e.root, p), nil, 0644); err != nil {
				t.Fatal(err)
			}
			e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/"+p), unix.O_RDONLY, 0)))
		}, map[string]int{"Walk": 1}},
		// A library's name: the link's lookup, its Readlink, and the
		// target's lookup, which opens it too (3 Walks before: the
		// target was looked up, then walk-opened).
		{"open+close through a symbolic link never looked up", func() {
			n++
			p := fmt.Sprintf("tmp/dir/lib%d.so", n)
			if err := os.WriteFile(filepath.Join(e.root, p+".1.2"), nil, 0644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Base(p)+".1.2", filepath.Join(e.root, p)); err != nil {
				t.Fatal(err)
			}
			e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/"+p), unix.O_RDONLY, 0)))
		}, map[string]int{"Walk": 2, "Readlink": 1}},
		{"stat of a looked-up file", func() {
			e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, existing, sb, 0)
		}, nil},
		{"fstat after open", func() {
			fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, existing, unix.O_RDONLY, 0))
			e.ok(1, unix.SYS_FSTAT, fd, sb)
			e.ok(1, unix.SYS_CLOSE, fd)
		}, nil},
		{"4 KiB pwrite then fstat", func() {
			e.ok(1, unix.SYS_PWRITE64, rfd, data, 4096, 0)
			e.ok(1, unix.SYS_FSTAT, rfd, sb)
		}, map[string]int{"Write": 1}},
		{"4 KiB pread", func() {
			e.ok(1, unix.SYS_PREAD64, rfd, buf, 4096, 0)
		}, map[string]int{"Read": 1}},
		// A truncation is conditional on the file's version the
		// attribute cache holds (goferclient/conditional.go), and
		// leaves the version after it there: no Stat, no Walk more.
		{"open(O_TRUNC)+close of a looked-up file", func() {
			e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, trunc, unix.O_WRONLY|unix.O_TRUNC, 0)))
		}, map[string]int{"Walk": 1}},
		{"open(O_TRUNC)+write+close of a looked-up file", func() {
			fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, trunc, unix.O_WRONLY|unix.O_TRUNC, 0))
			e.ok(1, unix.SYS_WRITE, fd, data, 100)
			e.ok(1, unix.SYS_CLOSE, fd)
		}, map[string]int{"Walk": 1, "Write": 1}},
		{"truncate of a looked-up file", func() {
			e.ok(1, unix.SYS_TRUNCATE, trunc, 10)
		}, map[string]int{"SetStat": 1}},
		{"ftruncate", func() {
			e.ok(1, unix.SYS_FTRUNCATE, tfd, 20)
		}, map[string]int{"SetStat": 1}},
		{"create+write+close", func() {
			n++
			created = fmt.Sprintf("/tmp/new%d", n)
			fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(created), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0644))
			e.ok(1, unix.SYS_WRITE, fd, data, 4096)
			e.ok(1, unix.SYS_CLOSE, fd)
		}, map[string]int{"Create": 1, "Write": 1}}, // the name never looked up: created without a Walk first
		// The directory's attributes come with the creation's reply.
		{"create, then stat of its directory", func() {
			n++
			fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(fmt.Sprintf("/tmp/cdir/c%d", n)), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0644))
			e.ok(1, unix.SYS_CLOSE, fd)
			e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str("/tmp/cdir"), sb, 0)
			n++
			e.ok(1, unix.SYS_MKDIRAT, atFDCWD64, m.str(fmt.Sprintf("/tmp/cdir/m%d", n)), 0755)
			e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str("/tmp/cdir"), sb, 0)
		}, map[string]int{"Create": 1, "Mkdir": 1}},
		// A name never looked up that exists: the creation finds it
		// (EEXIST), then the open walks to it as without O_CREAT.
		{"open(O_CREAT) of an existing name never looked up", func() {
			n++
			p := fmt.Sprintf("tmp/cdir/x%d", n)
			if err := os.WriteFile(filepath.Join(e.root, p), nil, 0644); err != nil {
				t.Fatal(err)
			}
			e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/"+p), unix.O_CREAT|unix.O_WRONLY, 0644)))
		}, map[string]int{"Create": 1, "Walk": 1}}, // 2 Walks before vfs.PreOpened
		{"open(O_CREAT|O_EXCL) and mkdir of existing names never looked up", func() {
			n++
			p := fmt.Sprintf("tmp/cdir/y%d", n)
			if err := os.WriteFile(filepath.Join(e.root, p), nil, 0644); err != nil {
				t.Fatal(err)
			}
			e.fails(unix.EEXIST, 1, unix.SYS_OPENAT, atFDCWD64, m.str("/"+p), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0644)
			n++
			p = fmt.Sprintf("tmp/cdir/y%d", n)
			if err := os.Mkdir(filepath.Join(e.root, p), 0755); err != nil {
				t.Fatal(err)
			}
			e.fails(unix.EEXIST, 1, unix.SYS_MKDIRAT, atFDCWD64, m.str("/"+p), 0755)
		}, map[string]int{"Create": 1, "Mkdir": 1}},
		// gcc's searches: a name found missing stays so while names are
		// made in other directories, not once one is made in its own.
		{"a missing name, then a creation elsewhere, then the name again", func() {
			n++
			missing := m.str(fmt.Sprintf("/tmp/dir/missing%d", n))
			e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, atFDCWD64, missing, sb, 0)
			e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(fmt.Sprintf("/tmp/cdir/o%d", n)), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0644)))
			e.ok(1, unix.SYS_MKDIRAT, atFDCWD64, m.str(fmt.Sprintf("/tmp/cdir/od%d", n)), 0755)
			e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, atFDCWD64, missing, sb, 0)
		}, map[string]int{"Walk": 1, "Create": 1, "Mkdir": 1}},
		{"a missing name, then a creation in its directory, then the name again", func() {
			n++
			missing := m.str(fmt.Sprintf("/tmp/cdir/missing%d", n))
			e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, atFDCWD64, missing, sb, 0)
			e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(fmt.Sprintf("/tmp/cdir/p%d", n)), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0644)))
			e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, atFDCWD64, missing, sb, 0)
		}, map[string]int{"Walk": 2, "Create": 1}},
		{"lookups of a missing name", func() {
			n++
			missing := m.str(fmt.Sprintf("/tmp/missing%d", n))
			e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, atFDCWD64, missing, sb, 0)
			e.fails(unix.ENOENT, 1, unix.SYS_UNLINKAT, atFDCWD64, missing, 0)
		}, map[string]int{"Walk": 1}},
		// The calls busybox tar x makes for each regular file, as
		// --strace shows them (sendfile left out): /etc/passwd and
		// /etc/group are read from the data cache, and opened through
		// the handles their last descriptions kept (3 Walks before:
		// the two walk-opens).
		{"busybox tar's calls for one file", func() {
			n++
			name := m.str(fmt.Sprintf("/tmp/tar/f%d", n))
			e.ok(1, unix.SYS_READ, archive, buf, 512)
			// The file's directories, made when missing.
			e.fails(unix.EEXIST, 1, unix.SYS_MKDIRAT, atFDCWD64, m.str("/tmp/tar"), 0777)
			e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str("/tmp/tar"), sb, 0)
			e.fails(unix.ENOENT, 1, unix.SYS_UNLINKAT, atFDCWD64, name, 0)
			fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0644))
			e.ok(1, unix.SYS_READ, archive, buf, 3000)
			e.ok(1, unix.SYS_WRITE, fd, buf, 3000)
			e.ok(1, unix.SYS_CLOSE, fd)
			readFile(passwd)
			readFile(group)
			e.ok(1, unix.SYS_FCHOWNAT, atFDCWD64, name, 0, 0, 0)
			e.ok(1, unix.SYS_FCHMODAT, atFDCWD64, name, 0644)
			e.ok(1, unix.SYS_UTIMENSAT, atFDCWD64, name, times, 0)
		}, map[string]int{"Walk": 1, "Read": 2, "Create": 1, "Write": 1, "SetStat": 3}},
		{"listing a directory, then lstat of each entry", func() {
			fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/dir"), unix.O_RDONLY|unix.O_DIRECTORY, 0))
			if n := e.ok(1, unix.SYS_GETDENTS64, fd, dents, 32768); n == 0 {
				t.Fatal("empty listing")
			}
			if n := e.ok(1, unix.SYS_GETDENTS64, fd, dents, 32768); n != 0 {
				t.Fatalf("listing past the end: %d bytes", n)
			}
			for i := 0; i < 10; i++ {
				e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str(fmt.Sprintf("/tmp/dir/e%d", i)), sb, unix.AT_SYMLINK_NOFOLLOW)
			}
			e.ok(1, unix.SYS_CLOSE, fd)
		}, map[string]int{"Walk": 1, "Getdents": 1}},
		// find lists a directory, descends into a subdirectory (whose
		// listing changes that subdirectory's atime), then stats the
		// rest of the entries.
		{"lstat of listed entries after listing a subdirectory", func() {
			list("/tmp/dir")
			e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str("/tmp/dir/e9"), sb, unix.AT_SYMLINK_NOFOLLOW)
			list("/tmp/dir/e9")
			flushReleases(e)
			for i := 0; i < 9; i++ {
				e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str(fmt.Sprintf("/tmp/dir/e%d", i)), sb, unix.AT_SYMLINK_NOFOLLOW)
			}
		}, map[string]int{"Walk": 1, "Getdents": 2, "Release": 1}}, // /tmp/dir's handle kept by the case before
		// find's descent: each directory is known from its parent's
		// listing only, and opened to be listed in turn.
		{"descending into directories known from listings", func() {
			list("/tmp/tree")
			for i := 0; i < 3; i++ {
				list(fmt.Sprintf("/tmp/tree/t%d", i))
				list(fmt.Sprintf("/tmp/tree/t%d/s", i))
			}
		}, map[string]int{"Walk": 7, "Getdents": 7}},
		{"stat of a file just created", func() {
			e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str(created), sb, 0)
		}, nil},
	}
	// What the rounds after the first want, where the first leaves
	// handles kept for them: a directory's, kept by its closed
	// description (vfs/kept.go).
	again := map[string]map[string]int{
		"listing a directory, then lstat of each entry":        {"Getdents": 1},
		"lstat of listed entries after listing a subdirectory": {"Getdents": 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for round := 0; round < 3; round++ {
				rc.take()
				tc.do()
				got := rc.take()
				delete(got, "Fsync") // the flusher's, on its own schedule
				want := tc.want
				if a, ok := again[tc.name]; ok && round > 0 {
					want = a
				}
				if fmtCounts(got) != fmtCounts(want) {
					t.Errorf("round %d: gofer RPCs %s, want %s", round, fmtCounts(got), fmtCounts(want))
				}
			}
		})
	}
	e.ok(1, unix.SYS_CLOSE, rfd)
	e.ok(1, unix.SYS_CLOSE, tfd)
	e.ok(1, unix.SYS_CLOSE, archive)
}

// TestFlushSyncsFilesInOneCall checks that making many files' writes
// durable takes one gofer Fsync naming them all, not one per file, and
// that the client is told each file is durable.
func TestFlushSyncsFilesInOneCall(t *testing.T) {
	for _, failBatches := range []bool{false, true} {
		t.Run(fmt.Sprintf("failBatches=%v", failBatches), func(t *testing.T) { testFlushSyncsFiles(t, failBatches) })
	}
}

// testFlushSyncsFiles is TestFlushSyncsFilesInOneCall; with failBatches
// the batched Fsync fails and each file is synced on its own instead.
func testFlushSyncsFiles(t *testing.T, failBatches bool) {
	e, rc := countingEnv(t)
	rc.mu.Lock()
	rc.failBatches = failBatches
	rc.mu.Unlock()
	const files = 20
	data := e.mem.alloc([]byte("durable"))
	var fds []uint64
	for i := 0; i < files; i++ {
		fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, e.mem.str(fmt.Sprintf("/tmp/d%d", i)), unix.O_CREAT|unix.O_WRONLY, 0644))
		e.ok(1, unix.SYS_WRITE, fd, data, 7)
		fds = append(fds, fd)
	}
	rc.take()
	e.ok(1, unix.SYS_SYNC)
	got := rc.take()
	rc.mu.Lock()
	handles := rc.fsyncHandles
	rc.mu.Unlock()
	// sync: the batch of files (the background flusher may have taken
	// some of them in a batch of its own just before) and the root.
	if failBatches {
		if got["Fsync"] < files {
			t.Errorf("batches failing: %d Fsync RPCs, want one per file at least", got["Fsync"])
		}
	} else if got["Fsync"] > 3 || handles < files {
		t.Errorf("sync of %d written files: %d Fsync RPCs naming %d handles in all; want at most 3 naming them all", files, got["Fsync"], handles)
	}
	durable := make(map[uint64]bool)
	pushes := 0
	e.mu.Lock()
	for _, ev := range e.events {
		if p, ok := ev.(*sentrypb.Push); ok && len(durablesOf(p)) > 0 {
			pushes++
			for _, d := range durablesOf(p) {
				durable[d.File] = true
			}
		}
	}
	e.mu.Unlock()
	if len(durable) < files {
		t.Errorf("Durable pushes for %d files, want %d", len(durable), files)
	}
	// One push per batch of files made durable, not one per file.
	if !failBatches && pushes > 3 {
		t.Errorf("%d files made durable in %d pushes, want at most 3", files, pushes)
	}
	for _, fd := range fds {
		e.ok(1, unix.SYS_CLOSE, fd)
	}
}

// TestAttrCacheCoherence checks that the attributes the server caches
// follow its own changes at once and another party's within attrTTL.
func TestAttrCacheCoherence(t *testing.T) {
	e, rc := countingEnv(t)
	advance := freezeClock(e)
	m := e.mem
	path := m.str("/tmp/f")
	sb := m.zeros(144)
	statPath := func() (size int64, mode, nlink uint32) {
		e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, path, sb, 0)
		return int64(binary.LittleEndian.Uint64(m.bytes(sb+48, 8))), m.u32(sb + 24), uint32(binary.LittleEndian.Uint64(m.bytes(sb+16, 8)))
	}
	fstat := func(fd uint64) (size int64, nlink uint32) {
		e.ok(1, unix.SYS_FSTAT, fd, sb)
		return int64(binary.LittleEndian.Uint64(m.bytes(sb+48, 8))), uint32(binary.LittleEndian.Uint64(m.bytes(sb+16, 8)))
	}
	fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, path, unix.O_CREAT|unix.O_RDWR, 0644))
	if size, _, _ := statPath(); size != 0 {
		t.Fatalf("new file: size %d", size)
	}
	e.ok(1, unix.SYS_WRITE, fd, m.alloc([]byte("hello")), 5)
	if size, _, _ := statPath(); size != 5 {
		t.Errorf("after a write of 5 bytes: stat size %d", size)
	}
	e.ok(1, unix.SYS_FCHMODAT, atFDCWD64, path, 0600)
	if _, mode, _ := statPath(); mode != unix.S_IFREG|0600 {
		t.Errorf("after chmod 0600: mode %o", mode)
	}
	e.ok(1, unix.SYS_FTRUNCATE, fd, 2)
	if size, _ := fstat(fd); size != 2 {
		t.Errorf("after ftruncate 2: fstat size %d", size)
	}
	e.ok(1, unix.SYS_LINKAT, atFDCWD64, path, atFDCWD64, m.str("/tmp/g"), 0)
	if _, nlink := fstat(fd); nlink != 2 {
		t.Errorf("after link: nlink %d", nlink)
	}
	e.ok(1, unix.SYS_UNLINKAT, atFDCWD64, m.str("/tmp/g"), 0)
	if _, nlink := fstat(fd); nlink != 1 {
		t.Errorf("after unlinking the second name: fstat nlink %d", nlink)
	}
	e.ok(1, unix.SYS_CLOSE, fd)

	// A creation's reply carries its directory's new attributes: the
	// next stat of the directory shows the new link count and mtime
	// without asking the gofer, as the host does.
	dirStat := func() (nlink uint64, mtime int64) {
		e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str("/tmp"), sb, 0)
		return binary.LittleEndian.Uint64(m.bytes(sb+16, 8)), int64(binary.LittleEndian.Uint64(m.bytes(sb+88, 8)))*1e9 + int64(binary.LittleEndian.Uint64(m.bytes(sb+96, 8)))
	}
	dirStat()
	e.ok(1, unix.SYS_MKDIRAT, atFDCWD64, m.str("/tmp/sub"), 0755)
	e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/sub/f"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0644)))
	e.ok(1, unix.SYS_MKDIRAT, atFDCWD64, m.str("/tmp/sub2"), 0755)
	rc.take()
	nlink, mtime := dirStat()
	if got := rc.take(); got["Stat"] != 0 {
		t.Errorf("stat of a directory after a creation in it made %d Stat RPCs", got["Stat"])
	}
	var hostDir unix.Stat_t
	if err := unix.Stat(filepath.Join(e.root, "tmp"), &hostDir); err != nil {
		t.Fatal(err)
	}
	if nlink != uint64(hostDir.Nlink) || mtime != hostDir.Mtim.Nano() {
		t.Errorf("directory after mkdir: nlink %d mtime %d, the host says %d, %d", nlink, mtime, hostDir.Nlink, hostDir.Mtim.Nano())
	}

	// Another party changes a file behind the server's back: seen once
	// attrTTL has passed, not before (no Stat RPC within it).
	host := filepath.Join(e.root, "tmp/h")
	if err := os.WriteFile(host, []byte("12"), 0644); err != nil {
		t.Fatal(err)
	}
	hpath := m.str("/tmp/h")
	hsize := func() int64 {
		e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, hpath, sb, 0)
		return int64(binary.LittleEndian.Uint64(m.bytes(sb+48, 8)))
	}
	if s := hsize(); s != 2 {
		t.Fatalf("host file: size %d", s)
	}
	if err := os.WriteFile(host, []byte("12345"), 0644); err != nil {
		t.Fatal(err)
	}
	rc.take()
	if s := hsize(); s != 2 {
		t.Errorf("within attrTTL of the last stat: size %d, want the cached 2", s)
	}
	if got := rc.take(); got["Stat"] != 0 {
		t.Errorf("stat within attrTTL made %d Stat RPCs", got["Stat"])
	}
	advance(goferclient.AttrTTL)
	if s := hsize(); s != 5 {
		t.Errorf("after attrTTL: size %d, want 5", s)
	}

	// O_APPEND finds the end of the file afresh, whatever is cached.
	afd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, hpath, unix.O_WRONLY|unix.O_APPEND, 0))
	if err := os.WriteFile(host, []byte("1234567"), 0644); err != nil {
		t.Fatal(err)
	}
	e.ok(1, unix.SYS_WRITE, afd, m.alloc([]byte("8")), 1)
	e.ok(1, unix.SYS_CLOSE, afd)
	if b, _ := os.ReadFile(host); string(b) != "12345678" {
		t.Errorf("append to a file grown behind the cache: %q, want 12345678", b)
	}
}

// TestNegativeDentries checks that a name found missing is not walked to
// again, and is found at once when a client of the same server makes it,
// within negativeTTL when another party does.
func TestNegativeDentries(t *testing.T) {
	e, rc := countingEnv(t)
	advance := freezeClock(e)
	m := e.mem
	sb := m.zeros(144)
	e2 := secondClient(t, e, nil)

	for _, tc := range []struct {
		name    string
		create  func(path string)
		advance time.Duration
	}{
		{"made by the same client", func(p string) {
			e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(p), unix.O_CREAT|unix.O_WRONLY, 0644)))
		}, 0},
		{"made by another client of the server", func(p string) {
			e2.ok(1, unix.SYS_MKDIRAT, atFDCWD64, e2.mem.str(p), 0755)
		}, 0},
		{"made on the host, seen after negativeTTL", func(p string) {
			if err := os.WriteFile(filepath.Join(e.root, p), nil, 0644); err != nil {
				t.Fatal(err)
			}
			// Within negativeTTL the name is still believed missing,
			// without asking the gofer.
			rc.take()
			e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str(p), sb, 0)
			if got := rc.take(); got["Walk"] != 0 {
				t.Errorf("lookup of a negative dentry made %d Walks", got["Walk"])
			}
		}, vfs.NegativeTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := "/tmp/" + strings.ReplaceAll(tc.name, " ", "_")
			e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str(p), sb, 0)
			tc.create(p)
			advance(tc.advance)
			e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str(p), sb, 0)
		})
	}
}

// TestDataCache checks that a small file read whole is read again from
// the server's cache, and that its data follows this server's changes at
// once and another party's at the next open or after attrTTL.
func TestDataCache(t *testing.T) {
	e, rc := countingEnv(t)
	advance := freezeClock(e)
	m := e.mem
	host := filepath.Join(e.root, "tmp/small")
	if err := os.WriteFile(host, []byte("version one"), 0644); err != nil {
		t.Fatal(err)
	}
	path := m.str("/tmp/small")
	fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, path, unix.O_RDONLY, 0))
	read := func(fd uint64) (string, int) {
		rc.take()
		s := e.preadStr(fd, 4096, 0)
		return s, rc.take()["Read"]
	}
	if s, n := read(fd); s != "version one" || n != 1 {
		t.Fatalf("first read: %q with %d Read RPCs", s, n)
	}
	if s, n := read(fd); s != "version one" || n != 0 {
		t.Errorf("second read: %q with %d Read RPCs, want the cached data and none", s, n)
	}
	// The reads moved the atime: a stat asks the gofer.
	e.ok(1, unix.SYS_FSTAT, fd, m.zeros(144))
	if n := rc.take()["Stat"]; n != 1 {
		t.Errorf("fstat after a read: %d Stat RPCs, want 1", n)
	}
	// A write through this server: seen at once.
	wfd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, path, unix.O_WRONLY, 0))
	e.ok(1, unix.SYS_PWRITE64, wfd, m.alloc([]byte("VERSION")), 7, 0)
	if s, _ := read(fd); s != "VERSION one" {
		t.Errorf("after a write through the server: %q", s)
	}
	e.ok(1, unix.SYS_FTRUNCATE, wfd, 3)
	if s, _ := read(fd); s != "VER" {
		t.Errorf("after ftruncate: %q", s)
	}
	e.ok(1, unix.SYS_CLOSE, wfd)
	read(fd) // cache "VER"
	// The host rewrites the file: an open sees it (its walk refreshes
	// the attributes), and so does the open fd once attrTTL passed.
	time.Sleep(10 * time.Millisecond) // a new mtime
	if err := os.WriteFile(host, []byte("host"), 0644); err != nil {
		t.Fatal(err)
	}
	fd2 := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, path, unix.O_RDONLY, 0))
	if s, _ := read(fd2); s != "host" {
		t.Errorf("open after the host's change: %q, want host", s)
	}
	e.ok(1, unix.SYS_CLOSE, fd2)
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(host, []byte("host 2"), 0644); err != nil {
		t.Fatal(err)
	}
	advance(goferclient.AttrTTL)
	if s, _ := read(fd); s != "host 2" {
		t.Errorf("open fd after the host's change and attrTTL: %q, want host 2", s)
	}
	e.ok(1, unix.SYS_CLOSE, fd)
}

// TestListingStats checks that the attributes a directory listing
// brought answer a stat only until a change goes through the server, and
// for at most attrTTL.
func TestListingStats(t *testing.T) {
	e, rc := countingEnv(t)
	advance := freezeClock(e)
	m := e.mem
	if err := os.MkdirAll(filepath.Join(e.root, "tmp/ls"), 0755); err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(e.root, "tmp/ls/a")
	if err := os.WriteFile(host, nil, 0644); err != nil {
		t.Fatal(err)
	}
	sb, dents, path := m.zeros(144), m.zeros(4096), m.str("/tmp/ls/a")
	list := func() {
		fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/ls"), unix.O_RDONLY|unix.O_DIRECTORY, 0))
		e.ok(1, unix.SYS_GETDENTS64, fd, dents, 4096)
		e.ok(1, unix.SYS_CLOSE, fd)
	}
	mode := func() uint32 {
		e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, path, sb, unix.AT_SYMLINK_NOFOLLOW)
		return m.u32(sb+24) & 07777
	}
	list()
	rc.take()
	if got := mode(); got != 0644 {
		t.Errorf("listed mode %o", got)
	}
	if n := rc.take(); n["Walk"]+n["Stat"] != 0 {
		t.Errorf("stat after a listing: %s, want no RPC", fmtCounts(n))
	}
	e.ok(1, unix.SYS_FCHMODAT, atFDCWD64, path, 0600)
	if got := mode(); got != 0600 {
		t.Errorf("after chmod 0600 through the server: mode %o", got)
	}
	list()
	if err := os.Chmod(host, 0640); err != nil {
		t.Fatal(err)
	}
	advance(goferclient.AttrTTL)
	if got := mode(); got != 0640 {
		t.Errorf("after the host's chmod and attrTTL: mode %o, want 640", got)
	}
}

// TestNamesCachedAfterOthersRemovals checks that the names a client
// finds or makes after another client of the server removed a name (any
// name: the server counts removals, not which) are trusted without a
// Walk, and that one removed by the other client later is walked to
// again. Dentries made by a listing or a create once went untrusted for
// good after the first removal by another client, and every lookup of
// them walked (an rm -r after another client's cost 70 % more).
func TestNamesCachedAfterOthersRemovals(t *testing.T) {
	e, rc := countingEnv(t)
	m := e.mem
	sb := m.zeros(144)
	e2 := secondClient(t, e, nil)
	dir := filepath.Join(e.root, "tmp/others")
	if err := os.MkdirAll(dir, 0755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		// find has e find or make /tmp/others/NAME (given as path).
		find func(path string)
		// removedAfter has e2 remove the name after e found it: e must
		// walk to it again.
		removedAfter bool
	}{
		{name: "listed", find: func(p string) {
			if err := os.WriteFile(filepath.Join(e.root, p), nil, 0644); err != nil {
				t.Fatal(err)
			}
			fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/others"), unix.O_RDONLY|unix.O_DIRECTORY, 0))
			e.ok(1, unix.SYS_GETDENTS64, fd, m.zeros(4096), 4096)
			e.ok(1, unix.SYS_CLOSE, fd)
		}},
		{name: "created", find: func(p string) {
			e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(p), unix.O_CREAT|unix.O_WRONLY, 0644)))
		}},
		{name: "made directory", find: func(p string) {
			e.ok(1, unix.SYS_MKDIRAT, atFDCWD64, m.str(p), 0755)
		}},
		{name: "listed then removed by the other", removedAfter: true, find: func(p string) {
			if err := os.WriteFile(filepath.Join(e.root, p), nil, 0644); err != nil {
				t.Fatal(err)
			}
			fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/others"), unix.O_RDONLY|unix.O_DIRECTORY, 0))
			e.ok(1, unix.SYS_GETDENTS64, fd, m.zeros(4096), 4096)
			e.ok(1, unix.SYS_CLOSE, fd)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := "/tmp/others/" + strings.ReplaceAll(tc.name, " ", "_")
			// Another client's removal first, of a name of its own.
			gone := p + ".gone"
			e2.ok(1, unix.SYS_CLOSE, uint64(e2.ok(1, unix.SYS_OPENAT, atFDCWD64, e2.mem.str(gone), unix.O_CREAT|unix.O_WRONLY, 0644)))
			e2.ok(1, unix.SYS_UNLINKAT, atFDCWD64, e2.mem.str(gone), 0)
			tc.find(p)
			if tc.removedAfter {
				e2.ok(1, unix.SYS_UNLINKAT, atFDCWD64, e2.mem.str(p), 0)
			}
			rc.take()
			if tc.removedAfter {
				e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str(p), sb, unix.AT_SYMLINK_NOFOLLOW)
				if got := rc.take(); got["Walk"] == 0 {
					t.Errorf("stat of a name the other client removed after: gofer calls %s, want a Walk", fmtCounts(got))
				}
				return
			}
			e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str(p), sb, unix.AT_SYMLINK_NOFOLLOW)
			if got := rc.take(); got["Walk"] != 0 {
				t.Errorf("stat of a name %s after the other client's removal: gofer calls %s, want no Walk", tc.name, fmtCounts(got))
			}
		})
	}
}
