package synth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/gofer/gofertest"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mqueue"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// fakeKernel has process 1 (threads 1 and 5, working directory /dir, fds
// 0: a kernel-named file, 3: /dir/file) and a zombie, process 7; it is
// the vfs's Kernel too, forwarding the synthesized files to fs.
type fakeKernel struct {
	fs  *FS
	v   *vfs.VFS
	fds map[int32]*fdesc.File
	cwd *vfs.Dentry
}

func (*fakeKernel) DurabilityHolds(*fdesc.File) bool { return false }
func (*fakeKernel) InotifyClosed(*fdesc.File)        {}
func (*fakeKernel) DropDescriptionLocks(*fdesc.File) {}
func (*fakeKernel) DropLease(*fdesc.File)            {}
func (k *fakeKernel) SynthLookup(c vfs.Caller, dir *vfs.Dentry, name string) (*vfs.Dentry, error) {
	return k.fs.Lookup(c, dir, name)
}
func (k *fakeKernel) SynthReadlink(c vfs.Caller, d *vfs.Dentry) (string, error) {
	return k.fs.Readlink(c, d)
}
func (k *fakeKernel) MagicTarget(c vfs.Caller, d *vfs.Dentry) (*vfs.Dentry, bool, error) {
	return k.fs.MagicTarget(c, d)
}
func (k *fakeKernel) SynthStat(d *vfs.Dentry) *goferpb.Stat                  { return k.fs.Stat(d) }
func (*fakeKernel) ProcOwner(int32) (uint32, uint32, bool)                   { return 0, 0, true }
func (*fakeKernel) KillPriv(fdesc.Call, *vfs.Dentry, uint64, auth.FileAttrs) {}

func (*fakeKernel) ProcGen(pid int32) uint64 { return uint64(pid) }

func (*fakeKernel) Lookup(n int32) (bool, int32) {
	switch n {
	case 1, 7:
		return true, 0
	case 5:
		return false, 1
	}
	return false, 0
}
func (*fakeKernel) IsLiveThread(pid, tid int32) bool { return pid == 1 && (tid == 1 || tid == 5) }
func (*fakeKernel) LiveThreads(pid int32) []int {
	if pid == 1 {
		return []int{1, 5}
	}
	return nil
}
func (*fakeKernel) PIDs() []int { return []int{1, 7} }
func (k *fakeKernel) Links(pid int32) (*vfs.Dentry, *vfs.Dentry, *vfs.Dentry, error) {
	if pid != 1 {
		return nil, nil, nil, unix.ENOENT
	}
	return k.cwd, nil, nil, nil
}
func (k *fakeKernel) FD(pid, fd int32) (*fdesc.File, bool, error) {
	f := k.fds[fd]
	if pid != 1 || f == nil {
		return nil, false, unix.EBADF
	}
	f.IncRef()
	return f, fd == 3, nil
}
func (k *fakeKernel) FDs(pid int32) ([]int32, bool) {
	if pid != 1 {
		return nil, false
	}
	var fds []int32
	for fd := range k.fds {
		fds = append(fds, fd)
	}
	sort.Slice(fds, func(i, j int) bool { return fds[i] < fds[j] })
	return fds, true
}

// kernelFile is a file kind of the kernel's own.
type kernelFile struct{ fdesc.FileBase }

func (kernelFile) Read(fdesc.Call, *fdesc.File, int, int64) ([]byte, error)  { return nil, nil }
func (kernelFile) Write(fdesc.Call, *fdesc.File, []byte, int64) (int, error) { return 0, nil }
func (kernelFile) Stat(fdesc.Call) (*goferpb.Stat, error)                    { return &goferpb.Stat{}, nil }

func (*fakeKernel) FileName(f *fdesc.File) (string, bool) {
	if _, ok := f.Impl.(*kernelFile); ok {
		return "pipe:[42]", true
	}
	return "", false
}
func (*fakeKernel) CallerIDs(vfs.Caller) (int32, int32) { return 1, 5 }
func (*fakeKernel) Source() procfs.Source               { return nil }
func (*fakeKernel) Mqueues() *mqueue.Registry           { return mqueue.NewRegistry(mqueue.Hooks{}) }

type testCall struct {
	fdesctest.Call
	v *vfs.VFS
}

func (c *testCall) HandleOf(d *vfs.Dentry) (uint64, error) {
	h, err := c.v.PinHandle(d)
	if err == nil {
		c.v.Unpin(d) // the tests' dentries stay cached: no pin needed past the lookup
	}
	return h, err
}
func (*testCall) MaySearch(*vfs.Dentry) error { return nil }

type fixture struct {
	k    *fakeKernel
	v    *vfs.VFS
	c    *testCall
	ptys *pty.Table
}

func newFixture(t *testing.T, devices []*sentrypb.DeviceNode) *fixture {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dir", "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := gofertest.Start(t, root).Client(t)
	attrs := goferclient.NewAttrCache(g)
	log := hclog.NewNullLogger()
	k := &fakeKernel{fds: map[int32]*fdesc.File{}}
	v, _, err := vfs.New(vfs.Config{Ctx: context.Background(), Gofer: attrs,
		Releases: goferclient.NewReleaseQueue(attrs, log, time.Millisecond), Attrs: attrs, ClientID: t.Name(), Log: log, Kernel: k})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.ReleaseAll)
	nodes, err := CheckDevNodes(devices)
	if err != nil {
		t.Fatal(err)
	}
	ptys := &pty.Table{}
	k.fs, k.v = New(v, k, nodes, ptys, 0), v
	c := &testCall{v: v}
	if k.cwd, err = v.Resolve(c, v.Root, "/dir", true); err != nil {
		t.Fatal(err)
	}
	file, err := v.Resolve(c, v.Root, "/dir/file", true)
	if err != nil {
		t.Fatal(err)
	}
	k.fds[0] = fdesc.NewFile(&kernelFile{}, nil, nil, unix.O_RDONLY)
	k.fds[3] = fdesc.NewFile(&vfs.PathFile{D: file}, file, nil, unix.O_RDWR)
	return &fixture{k: k, v: v, c: c, ptys: ptys}
}

// TestResolveSynth: the walk through the synthesized directories, links
// and magic links, each to the path the namespace names it by or to
// Linux's errno.
func TestResolveSynth(t *testing.T) {
	f := newFixture(t, []*sentrypb.DeviceNode{{Name: "fuse", Mode: unix.S_IFCHR | 0o666, Major: 10, Minor: 229}})
	if _, err := f.ptys.New(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		follow bool
		want   string // a path, or "link:" and the link's text
		errno  unix.Errno
		// pid and tid, if not 0, are the dentry's process and thread.
		pid, tid int32
	}{
		{path: "/proc/self", want: "link:1"},
		{path: "/proc/thread-self", want: "link:1/task/5"},
		{path: "/proc/self/cwd", follow: true, want: "/dir"},
		{path: "/proc/1/cwd", want: "link:/dir"},
		{path: "/proc/1/fd/3", follow: true, want: "/dir/file"},
		{path: "/proc/1/fd/3", want: "link:/dir/file"},
		{path: "/proc/1/fd/0", want: "link:pipe:[42]"},
		{path: "/proc/1/fd/9", errno: unix.ENOENT},
		{path: "/proc/1/task/5", want: "/proc/1/task/5"},
		{path: "/proc/1/task/6", errno: unix.ENOENT},
		{path: "/proc/5", want: "/proc/5", pid: 1, tid: 5},
		{path: "/proc/1/task/5/stat", want: "/proc/1/task/5/stat", pid: 1, tid: 5},
		{path: "/proc/7/cwd", follow: true, errno: unix.ENOENT},
		{path: "/proc/8", errno: unix.ENOENT},
		{path: "/proc/01", errno: unix.ENOENT},
		{path: "/proc/meminfo", want: "/proc/meminfo"},
		{path: "/dev/null", want: "/dev/null"},
		{path: "/dev/stdin", want: "link:/proc/self/fd/0"},
		{path: "/dev/pts/0", want: "/dev/pts/0"},
		{path: "/dev/pts/1", errno: unix.ENOENT},
		{path: "/dev/fuse", want: "/dev/fuse"},
		{path: "/dev/nothing", errno: unix.ENOENT},
	} {
		t.Run(tc.path, func(t *testing.T) {
			d, err := f.v.Resolve(f.c, f.v.Root, tc.path, tc.follow)
			if tc.errno != 0 {
				if got := syserr.ErrnoOf(err); got != tc.errno {
					t.Fatalf("Resolve = %v, want %v", err, tc.errno)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if link, ok := strings.CutPrefix(tc.want, "link:"); ok {
				got, err := f.v.Readlink(f.c, d)
				if err != nil || got != link {
					t.Fatalf("Readlink = %q, %v; want %q", got, err, link)
				}
				return
			}
			if p, _ := f.v.PathOf(d); p != tc.want {
				t.Fatalf("resolved to %q, want %q", p, tc.want)
			}
			if tc.pid != 0 && (d.PID != tc.pid || d.TID != tc.tid) {
				t.Fatalf("process %d thread %d, want %d %d", d.PID, d.TID, tc.pid, tc.tid)
			}
		})
	}
}

// TestStatAndList: a device's numbers, and what a synthesized directory
// lists.
func TestStatAndList(t *testing.T) {
	f := newFixture(t, []*sentrypb.DeviceNode{{Name: "fuse", Mode: unix.S_IFCHR | 0o600, Major: 10, Minor: 229, Uid: 7}})
	for _, tc := range []struct {
		path       string
		rdev       uint64
		uid        uint32
		mode       uint32
		nlinkOfDir bool
	}{
		{path: "/dev/null", rdev: 1<<8 | 3, mode: unix.S_IFCHR | 0o666},
		{path: "/dev/urandom", rdev: 1<<8 | 9, mode: unix.S_IFCHR | 0o666},
		{path: "/dev/tty", rdev: 5 << 8, mode: unix.S_IFCHR | 0o666},
		{path: "/dev/fuse", rdev: unix.Mkdev(10, 229), uid: 7, mode: unix.S_IFCHR | 0o600},
		{path: "/proc/1", mode: unix.S_IFDIR | 0o555, nlinkOfDir: true},
	} {
		d, err := f.v.Resolve(f.c, f.v.Root, tc.path, false)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		st := f.k.fs.Stat(d)
		if st.Rdev != tc.rdev || st.Uid != tc.uid || st.Mode != tc.mode || st.Dev != vfs.SynthDev || (st.Nlink == 2) != tc.nlinkOfDir {
			t.Errorf("%s: stat %v", tc.path, st)
		}
	}
	names := func(p string) []string {
		t.Helper()
		d, err := f.v.Resolve(f.c, f.v.Root, p, true)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range f.k.fs.List(0, d) {
			out = append(out, e.Name)
		}
		return out
	}
	has := func(list []string, want ...string) {
		t.Helper()
		for _, w := range want {
			found := false
			for _, n := range list {
				found = found || n == w
			}
			if !found {
				t.Errorf("%q lacks %q", list, w)
			}
		}
	}
	has(names("/proc"), "self", "thread-self", "1", "7", "meminfo")
	has(names("/proc/1"), "cwd", "exe", "fd", "fdinfo", "task", "status")
	has(names("/dev"), "null", "tty", "pts", "fuse", "stdin")
	if got := strings.Join(names("/proc/1/fd"), ","); got != "0,3" {
		t.Errorf("/proc/1/fd lists %q", got)
	}
	if got := strings.Join(names("/proc/1/task"), ","); got != "1,5" {
		t.Errorf("/proc/1/task lists %q", got)
	}
}

// TestProcFile: an fdinfo file's content, and what a /proc file refuses.
func TestProcFile(t *testing.T) {
	f := newFixture(t, nil)
	f.k.fds[3].OffRep.Store(11)
	d, err := f.v.Resolve(f.c, f.v.Root, "/proc/1/fdinfo/3", false)
	if err != nil {
		t.Fatal(err)
	}
	file, err := f.k.fs.OpenProcFile(d, unix.O_RDONLY, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer file.DecRef()
	b, err := file.Impl.Read(f.c, file, 4096, 0)
	if want := string(procfs.FDInfo(11, unix.O_RDWR|unix.O_CLOEXEC, 1)); err != nil || string(b) != want {
		t.Errorf("fdinfo = %q, %v; want %q", b, err, want)
	}
	if _, err := f.k.fs.OpenProcFile(d, unix.O_WRONLY, unix.O_WRONLY); !errors.Is(err, unix.EACCES) {
		t.Errorf("open fdinfo for writing: %v, want EACCES", err)
	}
}

// TestCheckDevNodes: what Hello.devices may list.
func TestCheckDevNodes(t *testing.T) {
	chr := func(name string, major, minor uint32) *sentrypb.DeviceNode {
		return &sentrypb.DeviceNode{Name: name, Mode: unix.S_IFCHR | 0o666, Major: major, Minor: minor}
	}
	for _, tc := range []struct {
		name  string
		nodes []*sentrypb.DeviceNode
		keep  int
		ok    bool
	}{
		{"a new node", []*sentrypb.DeviceNode{chr("fuse", 10, 229)}, 1, true},
		{"the sentry's own null", []*sentrypb.DeviceNode{chr("null", 1, 3), chr("tty", 5, 0), chr("ptmx", 5, 2)}, 0, true},
		{"another device as null", []*sentrypb.DeviceNode{chr("null", 1, 5)}, 0, false},
		{"a name the sentry's /dev has", []*sentrypb.DeviceNode{chr("shm", 1, 1)}, 0, false},
		{"twice", []*sentrypb.DeviceNode{chr("x", 1, 1), chr("x", 1, 1)}, 0, false},
		{"not in /dev", []*sentrypb.DeviceNode{chr("a/b", 1, 1)}, 0, false},
		{"a regular file", []*sentrypb.DeviceNode{{Name: "f", Mode: unix.S_IFREG | 0o644}}, 0, false},
		{"nil", []*sentrypb.DeviceNode{nil}, 0, false},
		{"too many", make([]*sentrypb.DeviceNode, MaxDevNodes+1), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckDevNodes(tc.nodes)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrDevNode)) {
				t.Fatalf("CheckDevNodes: %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && len(got) != tc.keep {
				t.Fatalf("kept %d nodes, want %d", len(got), tc.keep)
			}
		})
	}
	if kind, ok := DevKindOfMinor(5); !ok || kind != vfs.DevZero {
		t.Errorf("1:5 is %v, %v", kind, ok)
	}
}

// TestBornNs: the synthesized files' times are the client host's boot in
// whole seconds, the same for two Hellos of one client.
func TestBornNs(t *testing.T) {
	const boot = 1_700_000_000*int64(time.Second) + 250_000_000
	for _, tc := range []struct {
		name     string
		realtime int64
		boottime int64
	}{
		{"first hello", boot + 5*int64(time.Second), 5 * int64(time.Second)},
		{"reconnect an hour later", boot + 3605*int64(time.Second) + 7, 3605*int64(time.Second) + 7},
	} {
		got := BornNs(&sentrypb.ClockSample{Realtime: tc.realtime, Boottime: tc.boottime})
		if want := boot - 250_000_000; got != want {
			t.Errorf("%s: BornNs = %d, want %d", tc.name, got, want)
		}
	}
	if got := BornNs(nil); got <= 0 {
		t.Errorf("BornNs(nil) = %d, want now", got)
	}
}
