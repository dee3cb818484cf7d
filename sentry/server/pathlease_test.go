package server

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// secondClient connects another client to e's server, with busybox
// started as its PID 1, and returns its env (same root, memory of its
// own).
func secondClient(t testing.TB, e *env, hello *sentrypb.Hello, dial ...func(*transport.Options)) *env {
	t.Helper()
	e2 := &env{t: t, root: e.root, srv: e.srv, mem: newAppMem(), pushCh: make(chan *sentrypb.Push, 1024), sock: e.sock}
	if hello == nil {
		hello = &sentrypb.Hello{}
	}
	hello.ClientId = t.Name() + "-2"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := transport.Options{Hello: hello, OnPush: e2.onPush, HeartbeatInterval: time.Second}
	for _, d := range dial {
		d(&opts)
	}
	conn, err := transport.Dial(ctx, "unix:"+e.sock, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e2.conn = conn
	if r := e2.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start of the second client: errno %v", unix.Errno(r.Errno))
	}
	return e2
}

// pathSys is e.sys with Syscall.path_lease_wanted set.
func pathSys(e *env, sysno uintptr, args ...uint64) *sentrypb.Reply {
	e.t.Helper()
	return pathSysListing(e, false, sysno, args...)
}

// pathSysListing is pathSys, also asking for the listing of the
// directory of the path's last name if listing (dir_listing_wanted).
func pathSysListing(e *env, listing bool, sysno uintptr, args ...uint64) *sentrypb.Reply {
	e.t.Helper()
	var a [6]uint64
	copy(a[:], args)
	var inputs []*sentrypb.Region
	for _, r := range sysabi.Inputs(sysno, a, e.mem) {
		inputs = append(inputs, &sentrypb.Region{Addr: r.Addr, Data: r.Data})
	}
	r := e.call(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
		Sysno: int32(sysno), Args: a[:], Inputs: inputs, PathLeaseWanted: true, DirListingWanted: listing}}})
	e.mem.apply(r.Outputs)
	return r
}

// statIno stats path as e's PID 1 and returns its inode number, or the
// errno.
func statIno(e *env, path string) (uint64, unix.Errno) {
	e.t.Helper()
	sb := e.mem.zeros(144)
	r := e.sys(1, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), e.mem.str(path), sb, 0)
	if r.Errno != 0 {
		return 0, unix.Errno(r.Errno)
	}
	return binary.LittleEndian.Uint64(e.mem.bytes(sb+8, 8)), 0
}

// wantStat is what a stat of path must give: errno, or the inode number
// path sameAs had before ("" for any).
type wantStat struct {
	path   string
	errno  unix.Errno
	sameAs string
}

// TestOtherClientsRemovalsSeen checks that a name another client of the
// same server removed or replaced is found so by this client's next
// lookup, although its dentry tree had cached the name: the dentries
// are per client, and only the client that made the change updated its
// own.
func TestOtherClientsRemovalsSeen(t *testing.T) {
	tests := []struct {
		name string
		// change is made by the other client after this one cached
		// the names it stats before.
		change func(e2 *env)
		before []string
		// after are paths and what a stat of each must give: an
		// errno, or the inode number the path had before (a path,
		// "" for any).
		after []wantStat
	}{
		{
			name:   "unlink",
			before: []string{"/tmp/a"},
			change: func(e2 *env) { e2.ok(1, unix.SYS_UNLINKAT, uint64(atFDCWD64), e2.mem.str("/tmp/a"), 0) },
			after:  []wantStat{{path: "/tmp/a", errno: unix.ENOENT}},
		},
		{
			name:   "rename over",
			before: []string{"/tmp/a", "/tmp/b"},
			change: func(e2 *env) {
				e2.ok(1, unix.SYS_RENAMEAT, uint64(atFDCWD64), e2.mem.str("/tmp/b"), uint64(atFDCWD64), e2.mem.str("/tmp/a"))
			},
			after: []wantStat{{path: "/tmp/a", sameAs: "/tmp/b"}, {path: "/tmp/b", errno: unix.ENOENT}},
		},
		{
			name:   "rename of a directory",
			before: []string{"/tmp/d/x"},
			change: func(e2 *env) {
				e2.ok(1, unix.SYS_RENAMEAT, uint64(atFDCWD64), e2.mem.str("/tmp/d"), uint64(atFDCWD64), e2.mem.str("/tmp/e"))
			},
			after: []wantStat{{path: "/tmp/d/x", errno: unix.ENOENT}, {path: "/tmp/e/x", sameAs: "/tmp/d/x"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			m := e.mem
			for _, f := range []string{"/tmp/a", "/tmp/b"} {
				fd := e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str(f), unix.O_CREAT|unix.O_WRONLY, 0o644)
				e.ok(1, unix.SYS_CLOSE, uint64(fd))
			}
			e.ok(1, unix.SYS_MKDIRAT, uint64(atFDCWD64), m.str("/tmp/d"), 0o755)
			fd := e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/d/x"), unix.O_CREAT|unix.O_WRONLY, 0o644)
			e.ok(1, unix.SYS_CLOSE, uint64(fd))
			inos := map[string]uint64{}
			for _, p := range tc.before {
				ino, errno := statIno(e, p)
				if errno != 0 {
					t.Fatalf("stat %s: %v", p, errno)
				}
				inos[p] = ino
			}
			e2 := secondClient(t, e, nil)
			tc.change(e2)
			for _, a := range tc.after {
				ino, errno := statIno(e, a.path)
				switch {
				case errno != a.errno:
					t.Errorf("stat %s after the other client's %s: errno %v, want %v", a.path, tc.name, errno, a.errno)
				case a.sameAs != "" && ino != inos[a.sameAs]:
					t.Errorf("stat %s after the other client's %s: inode %d, want %s's %d", a.path, tc.name, ino, a.sameAs, inos[a.sameAs])
				}
			}
		})
	}
}

// TestPathLeaseGrants checks which path calls' replies carry a PathLease
// (the client keeps their answers) and that a change made by another
// client revokes it before that change's reply.
func TestPathLeaseGrants(t *testing.T) {
	e := newEnv(t)
	// newEnv's client asked for no leases; a second one does.
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: %v", unix.Errno(r.Errno))
	}
	m := e.mem
	fd := e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/f"), unix.O_CREAT|unix.O_WRONLY, 0o644)
	e.ok(1, unix.SYS_CLOSE, uint64(fd))
	e.ok(1, unix.SYS_SYMLINKAT, m.str("f"), uint64(atFDCWD64), m.str("/tmp/l"))
	if r := pathSys(e, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), m.str("/tmp/f"), m.zeros(144), 0); r.PathLease != nil {
		t.Errorf("a client that asked for no path leases got one: %v", r.PathLease)
	}
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true})
	lm := l.mem
	if r := l.sys(1, unix.SYS_STAT, lm.str("/tmp/f"), lm.zeros(144)); r.PathLease != nil {
		t.Errorf("a call that wanted no path lease got one: %v", r.PathLease)
	}
	dirfd := l.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), lm.str("/tmp"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	tests := []struct {
		name      string
		sysno     uintptr
		args      []uint64
		wantErrno unix.Errno
		wantLease bool
	}{
		{"stat", unix.SYS_STAT, []uint64{lm.str("/tmp/f"), lm.zeros(144)}, 0, true},
		{"stat relative to the cwd", unix.SYS_STAT, []uint64{lm.str("tmp/f"), lm.zeros(144)}, 0, true},
		{"lstat of a symlink", unix.SYS_LSTAT, []uint64{lm.str("/tmp/l"), lm.zeros(144)}, 0, true},
		{"newfstatat relative to a directory fd", unix.SYS_NEWFSTATAT, []uint64{uint64(dirfd), lm.str("f"), lm.zeros(144), 0}, 0, true},
		{"statx", unix.SYS_STATX, []uint64{uint64(atFDCWD64), lm.str("/tmp/l"), 0, unix.STATX_BASIC_STATS, lm.zeros(256)}, 0, true},
		{"stat of a missing name", unix.SYS_STAT, []uint64{lm.str("/tmp/nope"), lm.zeros(144)}, unix.ENOENT, true},
		{"stat through a file", unix.SYS_STAT, []uint64{lm.str("/tmp/f/x"), lm.zeros(144)}, unix.ENOTDIR, true},
		{"access", unix.SYS_ACCESS, []uint64{lm.str("/tmp/f"), unix.R_OK}, 0, true},
		{"faccessat2 with AT_EACCESS", unix.SYS_FACCESSAT2, []uint64{uint64(atFDCWD64), lm.str("/bin/busybox"), unix.X_OK, unix.AT_EACCESS}, 0, true},
		{"readlink", unix.SYS_READLINK, []uint64{lm.str("/tmp/l"), lm.zeros(64), 64}, 0, true},
		{"readlink of a file", unix.SYS_READLINK, []uint64{lm.str("/tmp/f"), lm.zeros(64), 64}, unix.EINVAL, true},
		{"stat of /proc/self", unix.SYS_STAT, []uint64{lm.str("/proc/self"), lm.zeros(144)}, 0, false},
		{"stat through /proc", unix.SYS_STAT, []uint64{lm.str("/proc/self/cwd/tmp"), lm.zeros(144)}, 0, false},
		{"stat of /dev/null", unix.SYS_STAT, []uint64{lm.str("/dev/null"), lm.zeros(144)}, 0, false},
		{"readlink of /proc/self", unix.SYS_READLINK, []uint64{lm.str("/proc/self"), lm.zeros(64), 64}, 0, false},
		{"newfstatat of an fd (AT_EMPTY_PATH)", unix.SYS_NEWFSTATAT, []uint64{uint64(dirfd), lm.str(""), lm.zeros(144), unix.AT_EMPTY_PATH}, 0, false},
		{"stat relative to a bad fd", unix.SYS_NEWFSTATAT, []uint64{99, lm.str("f"), lm.zeros(144), 0}, unix.EBADF, false},
		{"stat with bad flags", unix.SYS_NEWFSTATAT, []uint64{uint64(atFDCWD64), lm.str("/tmp/f"), lm.zeros(144), 0x8000000}, unix.EINVAL, false},
	}
	var fileIDs, missingIDs []uint64
	for _, tc := range tests {
		r := pathSys(l, tc.sysno, tc.args...)
		if unix.Errno(r.Errno) != tc.wantErrno {
			t.Errorf("%s: errno %v, want %v", tc.name, unix.Errno(r.Errno), tc.wantErrno)
		}
		if (r.PathLease != nil) != tc.wantLease {
			t.Errorf("%s: lease %v, want one: %v", tc.name, r.PathLease, tc.wantLease)
		}
		if r.PathLease != nil {
			// The lease names the credentials and start the answer
			// depends on.
			idx := pathArgs[int32(tc.sysno)]
			relative := !strings.HasPrefix(string(lm.bytes(tc.args[idx[1]], 1)), "/")
			atDirfd := idx[0] >= 0 && tc.args[idx[0]] == uint64(dirfd)
			switch l := r.PathLease; {
			case l.Creds == nil:
				t.Errorf("%s: the lease names no credentials", tc.name)
			case relative && atDirfd && l.DirFile == 0:
				t.Errorf("%s: the lease names no dirfd description", tc.name)
			case relative && !atDirfd && string(l.GetCwd().GetCwd()) != "/":
				t.Errorf("%s: the lease names cwd %v, want /", tc.name, l.Cwd)
			case !relative && (l.Cwd != nil || l.DirFile != 0):
				t.Errorf("%s: an absolute path's lease names a start: %v", tc.name, l)
			}
			if pl := r.PathLease; len(pl.Ids) == 0 || pl.Ids[0] != pl.Id {
				t.Errorf("%s: lease %d holds %v, want it first", tc.name, pl.Id, pl.Ids)
			}
			// A success names the leases its name's existence holds
			// (a mkdir answers EEXIST by them), a failure none.
			if found := len(r.PathLease.SearchIds) > 0; found != (r.Errno == 0) {
				t.Errorf("%s: existence leases %v with errno %v", tc.name, r.PathLease.SearchIds, unix.Errno(r.Errno))
			}
			if r.PathLease.TtlMs == 0 || r.PathLease.TtlMs > 1000 {
				t.Errorf("%s: lease for %d ms", tc.name, r.PathLease.TtlMs)
			}
			switch tc.name {
			case "stat":
				fileIDs = r.PathLease.Ids
			case "stat of a missing name":
				missingIDs = r.PathLease.Ids
			}
		}
	}
	// The other client's chmod of /tmp/f revokes the leases on f (the
	// stat's attributes: its last) before its reply, and no lease of
	// the missing name's answer.
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.ok(1, unix.SYS_FCHMODAT, uint64(atFDCWD64), m.str("/tmp/f"), 0o600)
	}()
	p := l.waitPush(func(p *sentrypb.Push) bool { return p.GetLeaseRevoke() != nil })
	revoked := p.GetLeaseRevoke().Ids
	if !slices.Contains(revoked, fileIDs[len(fileIDs)-1]) {
		t.Errorf("chmod revoked %v, want the attributes' lease of stat /tmp/f (%v)", revoked, fileIDs)
	}
	for _, id := range missingIDs {
		if slices.Contains(revoked, id) {
			t.Errorf("chmod of /tmp/f revoked %v, among them lease %d of the answer of stat /tmp/nope (%v)", revoked, id, missingIDs)
		}
	}
	select {
	case <-done:
		t.Error("the chmod returned before the lease's holder acknowledged its revocation")
	case <-time.After(100 * time.Millisecond):
	}
	l.ackRevoke(t, p)
	select {
	case <-done:
	case <-time.After(800 * time.Millisecond):
		t.Error("the chmod did not return once the revocation was acknowledged")
	}
	// A new name in /tmp revokes the answers that found a name missing
	// there, and not the search of / they also hold.
	r := pathSys(l, unix.SYS_STAT, lm.str("/tmp/g"), lm.zeros(144))
	if r.PathLease == nil || unix.Errno(r.Errno) != unix.ENOENT {
		t.Fatalf("stat of /tmp/g: errno %v, lease %v", unix.Errno(r.Errno), r.PathLease)
	}
	created := make(chan *sentrypb.Reply, 1)
	go func() { created <- e.sys(1, unix.SYS_MKDIRAT, uint64(atFDCWD64), m.str("/tmp/g"), 0o755) }()
	p = l.waitPush(func(p *sentrypb.Push) bool { return p.GetLeaseRevoke() != nil })
	revoked = p.GetLeaseRevoke().Ids
	if ids := r.PathLease.Ids; !slices.ContainsFunc(ids, func(id uint64) bool { return slices.Contains(revoked, id) }) || slices.Contains(revoked, ids[0]) {
		t.Errorf("creation revoked %v, want some of %v but not the first (the search of /)", revoked, ids)
	}
	l.ackRevoke(t, p)
	if r := <-created; r.Errno != 0 {
		t.Errorf("mkdir: %v", unix.Errno(r.Errno))
	}
}

// TestPathLeaseListing checks that a getdents64 whose client names the
// path it opened the directory by gets the lstat answers of the entries
// it listed (find's next calls), only when that path still names the
// directory listed.
func TestPathLeaseListing(t *testing.T) {
	e := started(t)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true})
	m := l.mem
	for _, f := range []string{"/tmp/a", "/tmp/b"} {
		fd := l.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str(f), unix.O_CREAT|unix.O_WRONLY, 0o644)
		l.ok(1, unix.SYS_CLOSE, uint64(fd))
	}
	l.ok(1, unix.SYS_SYMLINKAT, m.str("a"), uint64(atFDCWD64), m.str("/tmp/l"))
	inos := map[string]uint64{}
	for _, n := range []string{"a", "b", "l"} {
		sb := m.zeros(144)
		l.ok(1, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), m.str("/tmp/"+n), sb, unix.AT_SYMLINK_NOFOLLOW)
		inos[n] = binary.LittleEndian.Uint64(m.bytes(sb+8, 8))
	}
	list := func(dir, named string) *sentrypb.Reply {
		fd := l.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str(dir), unix.O_RDONLY|unix.O_DIRECTORY, 0)
		defer l.ok(1, unix.SYS_CLOSE, uint64(fd))
		buf := m.zeros(4096)
		r := l.call(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
			Sysno: unix.SYS_GETDENTS64, Args: []uint64{uint64(fd), buf, 4096, 0, 0, 0},
			PathLeaseWanted: true, ListingPath: []byte(named)}}})
		if r.Errno != 0 {
			t.Fatalf("getdents64 of %s: %v", dir, unix.Errno(r.Errno))
		}
		return r
	}
	tests := []struct {
		name, dir, named string
		want             []string
	}{
		{"by its path", "/tmp", "/tmp", []string{"a", "b", "l"}},
		{"by a relative path", "/tmp", "tmp", []string{"a", "b", "l"}},
		{"by a path with ..", "/tmp", "/tmp/../tmp", []string{"a", "b", "l"}},
		{"by another directory's path", "/tmp", "/bin", nil},
		{"by no path: relative to the fd", "/tmp", "", []string{"a", "b", "l"}},
		{"/proc", "/proc", "/proc", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := list(tc.dir, tc.named)
			got := map[string]uint64{}
			for _, ls := range r.Listed {
				got[string(ls.Name)] = binary.LittleEndian.Uint64(ls.Stat[8:16])
			}
			if len(tc.want) == 0 {
				if len(r.Listed) != 0 || r.PathLease != nil {
					t.Errorf("listed %v, lease %v: want none", got, r.PathLease)
				}
				return
			}
			if r.PathLease == nil {
				t.Fatal("no lease for the listed answers")
			}
			if byFD := r.PathLease.DirFile != 0; byFD != (tc.named == "") {
				t.Errorf("lease names dir_file %d for listing path %q", r.PathLease.DirFile, tc.named)
			}
			for _, ls := range r.Listed {
				if len(ls.Ids) != 2 {
					t.Errorf("%s holds leases %v, want 2 of its own", ls.Name, ls.Ids)
				}
			}
			for _, n := range tc.want {
				if got[n] != inos[n] {
					t.Errorf("%s: inode %d, want %d (all: %v)", n, got[n], inos[n], got)
				}
			}
		})
	}
}

// TestPathLeaseParentStat checks that the reply of a creation that made
// its name, when it wants a path lease, carries the stat answer of the
// directory it made it in (Reply.parent_stat), and that of one that made
// none, or may not have, carries none.
func TestPathLeaseParentStat(t *testing.T) {
	e := started(t)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true})
	m := l.mem
	tmpIno, errno := statIno(l, "/tmp")
	if errno != 0 {
		t.Fatalf("stat /tmp: %v", errno)
	}
	rootIno, errno := statIno(l, "/")
	if errno != 0 {
		t.Fatalf("stat /: %v", errno)
	}
	tests := []struct {
		name      string
		sysno     uintptr
		args      []uint64
		wantErrno unix.Errno
		// wantIno is the inode of the directory whose stat the reply
		// carries (0: none).
		wantIno uint64
	}{
		{"mkdir", unix.SYS_MKDIRAT, []uint64{uint64(atFDCWD64), m.str("/tmp/pd"), 0o755}, 0, tmpIno},
		{"mkdir with a trailing slash", unix.SYS_MKDIR, []uint64{m.str("/tmp/pe/"), 0o755}, 0, tmpIno},
		{"mkdir of a name that exists", unix.SYS_MKDIR, []uint64{m.str("/tmp/pd"), 0o755}, unix.EEXIST, 0},
		{"open with O_CREAT|O_EXCL", unix.SYS_OPENAT, []uint64{uint64(atFDCWD64), m.str("/tmp/pd/f"), unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY, 0o644}, 0, 1},
		{"open with O_CREAT alone", unix.SYS_OPENAT, []uint64{uint64(atFDCWD64), m.str("/tmp/pd/g"), unix.O_CREAT | unix.O_WRONLY, 0o644}, 0, 0},
		// The directory it is made in is the start: the working
		// directory, "/" here (sysabi.ParentPath's ".").
		{"mkdir of a name without a directory part", unix.SYS_MKDIR, []uint64{m.str("ph"), 0o755}, 0, rootIno},
	}
	for _, tc := range tests {
		r := pathSys(l, tc.sysno, tc.args...)
		if unix.Errno(r.Errno) != tc.wantErrno {
			t.Errorf("%s: errno %v, want %v", tc.name, unix.Errno(r.Errno), tc.wantErrno)
		}
		if tc.wantIno == 0 {
			if len(r.ParentStat) != 0 || r.PathLease != nil {
				t.Errorf("%s: parent stat %d bytes, lease %v; want none", tc.name, len(r.ParentStat), r.PathLease)
			}
			continue
		}
		if len(r.ParentStat) < 16 || r.PathLease == nil || len(r.PathLease.Ids) == 0 {
			t.Errorf("%s: parent stat %d bytes, lease %v; want both", tc.name, len(r.ParentStat), r.PathLease)
			continue
		}
		got := binary.LittleEndian.Uint64(r.ParentStat[8:16])
		if tc.wantIno == 1 {
			tc.wantIno, _ = statIno(l, "/tmp/pd")
		}
		if got != tc.wantIno {
			t.Errorf("%s: parent stat of inode %d, want %d", tc.name, got, tc.wantIno)
		}
	}
}

// TestPathLeaseModeOnlyCalls checks that the answers of access and
// readlink of a directory hold its search lease and not its attributes'
// (modeOnlyCalls): a name made in the directory revokes a stat's answer
// of it and not theirs (gcc's access and readlink of /tmp, where every
// compilation makes its temporary files), and a chmod of it revokes
// them.
func TestPathLeaseModeOnlyCalls(t *testing.T) {
	e := newEnv(t)
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: %v", unix.Errno(r.Errno))
	}
	m := e.mem
	e.ok(1, unix.SYS_MKDIRAT, uint64(atFDCWD64), m.str("/tmp/d"), 0o755)
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true})
	lm := l.mem
	ino, errno := statIno(l, "/tmp/d")
	if errno != 0 {
		t.Fatalf("stat /tmp/d: %v", errno)
	}
	tests := []struct {
		name      string
		sysno     uintptr
		args      []uint64
		wantErrno unix.Errno
		// attrs: the answer holds the directory's attributes.
		attrs bool
	}{
		{"stat", unix.SYS_STAT, []uint64{lm.str("/tmp/d"), lm.zeros(144)}, 0, true},
		{"access", unix.SYS_ACCESS, []uint64{lm.str("/tmp/d"), unix.R_OK | unix.W_OK | unix.X_OK}, 0, false},
		{"faccessat", unix.SYS_FACCESSAT, []uint64{uint64(atFDCWD64), lm.str("/tmp/d/"), unix.X_OK}, 0, false},
		{"faccessat2", unix.SYS_FACCESSAT2, []uint64{uint64(atFDCWD64), lm.str("/tmp/d"), unix.W_OK, unix.AT_EACCESS}, 0, false},
		{"readlink", unix.SYS_READLINK, []uint64{lm.str("/tmp/d"), lm.zeros(64), 64}, unix.EINVAL, false},
		{"readlinkat", unix.SYS_READLINKAT, []uint64{uint64(atFDCWD64), lm.str("/tmp/d"), lm.zeros(64), 64}, unix.EINVAL, false},
	}
	attrsKind := uint32(readlease.PathAttrs)
	var attrsID uint64
	var modeOnlyIDs []uint64
	for _, tc := range tests {
		r := pathSys(l, tc.sysno, tc.args...)
		if unix.Errno(r.Errno) != tc.wantErrno || r.PathLease == nil {
			t.Fatalf("%s: errno %v (want %v), lease %v", tc.name, unix.Errno(r.Errno), tc.wantErrno, r.PathLease)
		}
		pl := r.PathLease
		held := uint64(0)
		for i, kind := range pl.Kinds {
			if kind == attrsKind && pl.Inos[i] == ino {
				held = pl.Ids[i]
			}
		}
		if (held != 0) != tc.attrs {
			t.Errorf("%s: lease kinds %v of inodes %v; want the attributes of /tmp/d (%d) held: %v", tc.name, pl.Kinds, pl.Inos, ino, tc.attrs)
		}
		if tc.attrs {
			attrsID = held
		} else {
			modeOnlyIDs = append(modeOnlyIDs, pl.Ids...)
		}
	}
	// revokedBy runs change as e's PID 1 and returns the lease ids it
	// revoked of l's, acknowledging them.
	revokedBy := func(what string, sysno uintptr, args ...uint64) []uint64 {
		t.Helper()
		done := make(chan *sentrypb.Reply, 1)
		go func() { done <- e.sys(1, sysno, args...) }()
		p := l.waitPush(func(p *sentrypb.Push) bool { return p.GetLeaseRevoke() != nil })
		l.ackRevoke(t, p)
		if r := <-done; r.Errno != 0 {
			t.Fatalf("%s: %v", what, unix.Errno(r.Errno))
		}
		return p.GetLeaseRevoke().Ids
	}
	revoked := revokedBy("mkdir /tmp/d/x", unix.SYS_MKDIRAT, uint64(atFDCWD64), m.str("/tmp/d/x"), 0o755)
	if !slices.Contains(revoked, attrsID) {
		t.Errorf("a name made in /tmp/d revoked %v, not the attributes' lease %d of its stat", revoked, attrsID)
	}
	for _, id := range modeOnlyIDs {
		if slices.Contains(revoked, id) {
			t.Errorf("a name made in /tmp/d revoked %v, among them lease %d of an access or readlink answer (%v)", revoked, id, modeOnlyIDs)
		}
	}
	revoked = revokedBy("chmod /tmp/d", unix.SYS_FCHMODAT, uint64(atFDCWD64), m.str("/tmp/d"), 0o700)
	if !slices.ContainsFunc(modeOnlyIDs, func(id uint64) bool { return slices.Contains(revoked, id) }) {
		t.Errorf("a chmod of /tmp/d revoked %v, none of the access and readlink answers' leases %v", revoked, modeOnlyIDs)
	}
}
