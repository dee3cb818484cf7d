package gofer

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestSetIDStripped: by default an application cannot leave a set-id
// regular file on the host, by create or chmod; WithAllowSetuid keeps the
// bits.
func TestSetIDStripped(t *testing.T) {
	for _, allow := range []bool{false, true} {
		e := newEnv(t, WithAllowSetuid(allow))
		f := e.create(e.rootH, "f", unix.O_RDWR, 0o6755)
		g := e.create(e.rootH, "g", unix.O_RDWR, 0o755)
		d := e.mkdir(e.rootH, "d")
		for _, tc := range []struct {
			name      string
			h         uint64
			mode      uint32 // 0: no chmod, just stat
			want      uint32
			wantAllow uint32
		}{
			{"create 6755", f, 0, 0o755, 0o6755},
			{"chmod 6755", g, 0o6755, 0o755, 0o6755},
			{"chmod 2755", g, 0o2755, 0o755, 0o2755},
			{"chmod dir 6755 (a directory runs nothing)", d, 0o6755, 0o6755, 0o6755},
		} {
			if tc.mode != 0 {
				must(t, tc.name, must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: tc.h, Mask: unix.STATX_MODE, Mode: tc.mode})))
			}
			h, err := e.srv.lookup(tc.h)
			if err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			err = unix.Fstat(h.fd, &st)
			h.decRef()
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if allow {
				want = tc.wantAllow
			}
			if got := st.Mode & 0o7777; got != want {
				t.Errorf("allow=%v %s: host mode %#o, want %#o", allow, tc.name, got, want)
			}
		}
	}
}

// TestSetIDKeptForSandbox: the bits the host file does not carry are
// still what the gofer reports, through every reply that carries a
// mode (Create, Stat, Walk, a listing, SetStat), and a chown keeps them.
func TestSetIDKeptForSandbox(t *testing.T) {
	e := newEnv(t)
	f := e.create(e.rootH, "f", unix.O_RDWR, 0o4755)
	g := e.create(e.rootH, "g", unix.O_RDWR, 0o755)
	d := e.mkdir(e.rootH, "d")
	for _, tc := range []struct {
		name string
		h    uint64
		mode uint32 // 0: no chmod, just stat
		want uint32
	}{
		{"create 4755", f, 0, 0o4755},
		{"chmod 6755", g, 0o6755, 0o6755},
		{"chmod 2745", g, 0o2745, 0o2745},
		{"chmod 0755 clears", g, 0o755, 0o755},
		{"chmod 4700", g, 0o4700, 0o4700},
		{"chmod dir 6755", d, 0o6755, 0o6755},
		{"chmod dir 2755", d, 0o2755, 0o2755},
	} {
		if tc.mode != 0 {
			r := must(t, tc.name, must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: tc.h, Mask: unix.STATX_MODE, Mode: tc.mode})))
			if got := r.GetStat().GetMode() & 0o7777; got != tc.want {
				t.Errorf("%s: SetStat reply mode %#o, want %#o", tc.name, got, tc.want)
			}
		}
		if got := e.stat(tc.h).GetMode() & 0o7777; got != tc.want {
			t.Errorf("%s: Stat mode %#o, want %#o", tc.name, got, tc.want)
		}
	}
	// Every path that reports a mode: Walk, a listing with attributes.
	r := must(t, "walk", must2(e.walk(e.rootH, "f")))
	if got := r.GetFiles()[0].GetStat().GetMode() & 0o7777; got != 0o4755 {
		t.Errorf("walk f: mode %#o, want 04755", got)
	}
	ls := must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH, Count: 100, Plus: true})))
	want := map[string]uint32{"f": 0o4755, "g": 0o4700, "d": 0o2755}
	for i, ent := range ls.GetEntries() {
		if w, ok := want[string(ent.GetName())]; ok {
			if got := ls.GetStats()[i].GetMode() & 0o7777; got != w {
				t.Errorf("listing %s: mode %#o, want %#o", ent.GetName(), got, w)
			}
			delete(want, string(ent.GetName()))
		}
	}
	if len(want) != 0 {
		t.Errorf("listing lacks %v", want)
	}
	// A chown without a mode keeps the bits (the seal names the owner).
	must(t, "chown", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: f, Mask: unix.STATX_UID | unix.STATX_GID, Uid: 123, Gid: 456})))
	if st := e.stat(f); st.GetMode()&0o7777 != 0o4755 || st.GetUid() != 123 {
		t.Errorf("after chown: mode %#o uid %d, want 04755 uid 123", st.GetMode()&0o7777, st.GetUid())
	}
	// The host file has none of them.
	for _, name := range []string{"f", "g"} {
		var st unix.Stat_t
		if err := unix.Stat(e.host(name), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			t.Errorf("host %s: mode %#o has set-id bits", name, st.Mode&0o7777)
		}
	}
}

// TestSetIDAttributeSealed: an attribute the gofer did not write (forged
// by a local user who may write the file, copied from another file, left
// by a gofer with another key, or voided by a chown on the host) adds
// nothing; a gofer with the same key reads it.
func TestSetIDAttributeSealed(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	e := newEnv(t, WithHandleKeyFile(key))
	f := e.create(e.rootH, "f", unix.O_RDWR, 0o6755)
	e.create(e.rootH, "g", unix.O_RDWR, 0o755)
	e.create(e.rootH, "h", unix.O_RDWR, 0o755)
	e.create(e.rootH, "own", unix.O_RDWR, 0o755)
	must(t, "chmod own", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: e.walkOne(e.rootH, "own"), Mask: unix.STATX_MODE, Mode: 0o4755})))
	if got := e.stat(f).GetMode() & 0o7777; got != 0o6755 {
		t.Fatalf("f: mode %#o, want 06755", got)
	}
	buf := make([]byte, 64)
	n, err := unix.Getxattr(e.host("f"), setIDXattr, buf)
	if err != nil {
		t.Fatalf("f has no %s: %v", setIDXattr, err)
	}
	sealed := append([]byte(nil), buf[:n]...)
	forged := append([]byte(nil), sealed...)
	forged[len(forged)-1] ^= 1
	for name, v := range map[string][]byte{"g": sealed, "h": forged} {
		if err := unix.Setxattr(e.host(name), setIDXattr, v, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(e.host("own"), 1, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want uint32
	}{{"f", 0o6755}, {"g", 0o755}, {"h", 0o755}, {"own", 0o755}} {
		if got := e.stat(e.walkOne(e.rootH, tc.name)).GetMode() & 0o7777; got != tc.want {
			t.Errorf("%s: mode %#o, want %#o", tc.name, got, tc.want)
		}
	}

	// A successor gofer: same key, same bits; another key, none.
	for _, tc := range []struct {
		name string
		opts []Option
		want uint32
	}{
		{"same key", []Option{WithHandleKeyFile(key)}, 0o6755},
		{"other key", nil, 0o755},
	} {
		srv, err := NewServer(e.root, testLogger(), tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if got := srv.readSetID(mustOpenPath(t, e.host("f")), mustStat(t, e.host("f"))); 0o755|got != tc.want {
			t.Errorf("%s: set-id bits %#o, want %#o", tc.name, got, tc.want&^0o777)
		}
		srv.Close()
	}
}

func mustOpenPath(t *testing.T, p string) int {
	t.Helper()
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func mustStat(t *testing.T, p string) *goferpb.Stat {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return statFromStat(&st)
}

// TestSetIDCacheFollowsChanges: the bits a stat read are remembered only
// while the file's ctime, owner and group stay: an attribute removed on
// the host is seen at the next stat.
func TestSetIDCacheFollowsChanges(t *testing.T) {
	e := newEnv(t)
	f := e.create(e.rootH, "f", unix.O_RDWR, 0o4755)
	for i, tc := range []struct {
		change func() error
		want   uint32
	}{
		{nil, 0o4755},
		{nil, 0o4755}, // from the cache
		{func() error { return unix.Removexattr(e.host("f"), setIDXattr) }, 0o755},
		{func() error { return unix.Chmod(e.host("f"), 0o700) }, 0o700},
	} {
		if tc.change != nil {
			if err := tc.change(); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.stat(f).GetMode() & 0o7777; got != tc.want {
			t.Errorf("stat %d: mode %#o, want %#o", i, got, tc.want)
		}
	}
	if n := len(e.srv.setIDs.m); n == 0 {
		t.Errorf("nothing cached")
	}
}

// TestChmodWithoutSetIDReadsNoAttribute: a chmod that leaves the sandbox
// no set-id bits (tar's of every file it extracts) removes the attribute
// without a stat and reports the mode without reading the attribute
// back; a later stat is answered from the cache. What it reports is
// what a read would have said, set-id bits there before or not, and a
// chmod that sets them again reads them.
func TestChmodWithoutSetIDReadsNoAttribute(t *testing.T) {
	e := newEnv(t)
	plain := e.create(e.rootH, "plain", unix.O_RDWR, 0o644)
	setuid := e.create(e.rootH, "setuid", unix.O_RDWR, 0o4755)
	for _, tc := range []struct {
		name      string
		h         uint64
		mask      uint32
		mode      uint32
		want      uint32
		wantReads uint64 // attribute reads by the SetStat and a Stat after it
	}{
		{"chmod 0600 of a file without bits", plain, unix.STATX_MODE, 0o600, 0o600, 0},
		{"chmod 0644 of a setuid file", setuid, unix.STATX_MODE, 0o644, 0o644, 0},
		{"chown, chmod and times merged", plain, unix.STATX_MODE | unix.STATX_UID | unix.STATX_GID | unix.STATX_MTIME, 0o640, 0o640, 0},
		{"chmod 4755 sets them again", setuid, unix.STATX_MODE, 0o4755, 0o4755, 1},
		{"chmod 0755 clears them", setuid, unix.STATX_MODE, 0o755, 0o755, 0},
	} {
		before := e.srv.setIDs.misses
		r := must(t, tc.name, must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: tc.h, Mask: tc.mask, Mode: tc.mode, MtimeNs: 1e9})))
		if got := r.GetStat().GetMode() & 0o7777; got != tc.want {
			t.Errorf("%s: SetStat reply mode %#o, want %#o", tc.name, got, tc.want)
		}
		if got := e.stat(tc.h).GetMode() & 0o7777; got != tc.want {
			t.Errorf("%s: Stat mode %#o, want %#o", tc.name, got, tc.want)
		}
		if reads := e.srv.setIDs.misses - before; reads != tc.wantReads {
			t.Errorf("%s: %d reads of the set-id attribute, want %d", tc.name, reads, tc.wantReads)
		}
	}
	for _, name := range []string{"plain", "setuid"} {
		if _, err := unix.Getxattr(e.host(name), setIDXattr, make([]byte, 64)); err != unix.ENODATA {
			t.Errorf("host %s: set-id attribute after a chmod without bits: %v, want ENODATA", name, err)
		}
	}
}

// TestSetIDPutNoneAfterChange: a removal's "no bits" is not cached if
// the gofer changed an attribute after it (a chmod setting bits through
// another handle, say): the next stat reads it.
func TestSetIDPutNoneAfterChange(t *testing.T) {
	st := &goferpb.Stat{Dev: 1, Ino: 2, CtimeNs: 3}
	id := fileID{dev: 1, ino: 2}
	for _, tc := range []struct {
		name      string
		changes   int // forgets after the removal
		wantCache bool
	}{
		{"no change since", 0, true},
		{"a change since", 1, false},
		{"two changes since", 2, false},
	} {
		var c setIDCache
		gen := c.forget(id)
		for i := 0; i < tc.changes; i++ {
			c.forget(id)
		}
		if got := c.putNone(st, gen); got != tc.wantCache {
			t.Errorf("%s: putNone %v, want %v", tc.name, got, tc.wantCache)
		}
		_, _, ok := c.get(st)
		if ok != tc.wantCache {
			t.Errorf("%s: cached %v, want %v", tc.name, ok, tc.wantCache)
		}
	}
}

// TestChmodOfNewFileRemovesNothing: a chmod without set-id bits of a file
// the gofer created (tar's of every file it extracts), through its handle
// or a clone of it, tries no removal of the attribute: the file has none.
// A handle walked to the file, or to one made on the host, still
// removes it, and once the gofer stored an attribute (a setuid chmod
// through another handle) the new file's handle removes it too.
func TestChmodOfNewFileRemovesNothing(t *testing.T) {
	e := newEnv(t)
	fresh := e.create(e.rootH, "fresh", unix.O_WRONLY, 0o644)
	clone := must(t, "clone", must2(e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: fresh, Clone: true}))).GetFiles()[0].GetHandle().GetId()
	walked := e.walkOne(e.rootH, "fresh")
	writeHostFile(t, e.host("onhost"), "x")
	onHost := e.walkOne(e.rootH, "onhost")
	for _, tc := range []struct {
		name         string
		h            uint64
		mode         uint32
		wantRemovals uint64
	}{
		{"the created handle", fresh, 0o600, 0},
		{"its clone", clone, 0o640, 0},
		{"a handle walked to it", walked, 0o644, 1},
		{"setuid through the walked handle", walked, 0o4755, 0},
		{"the created handle after a stored attribute", fresh, 0o755, 1},
		{"its clone after a stored attribute", clone, 0o644, 1},
		{"a file made on the host", onHost, 0o600, 1},
	} {
		before := e.srv.setIDs.removals.Load()
		r := must(t, tc.name, must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: tc.h, Mask: unix.STATX_MODE, Mode: tc.mode})))
		if got := r.GetStat().GetMode() & 0o7777; got != tc.mode {
			t.Errorf("%s: SetStat reply mode %#o, want %#o", tc.name, got, tc.mode)
		}
		if got := e.stat(tc.h).GetMode() & 0o7777; got != tc.mode {
			t.Errorf("%s: Stat mode %#o, want %#o", tc.name, got, tc.mode)
		}
		if got := e.srv.setIDs.removals.Load() - before; got != tc.wantRemovals {
			t.Errorf("%s: %d removals of the set-id attribute, want %d", tc.name, got, tc.wantRemovals)
		}
	}
	if _, err := unix.Getxattr(e.host("fresh"), setIDXattr, make([]byte, 64)); err != unix.ENODATA {
		t.Errorf("host fresh: set-id attribute after a chmod without bits: %v, want ENODATA", err)
	}
}

// TestSetStatSkipsNoopAttrs: tar's merged SetStat of a file it made (chown
// to the owner it made it as, chmod to the mode it made it with, and the
// mtime it restores) makes no fchownat and no fchmodat (one statx
// instead), while every SetStat still leaves the file with the owner,
// mode (set-id bits the sandbox's) and times asked for, and a later ctime.
// A chown or chmod that changes something runs; a chmod after a chown that
// ran runs if the file had host set-id bits (the chown may clear them:
// --allow-setuid); without times in the
// request neither is left out (the ctime must move); nor a chown of a
// file the gofer did not make (a no-op chown still drops the host's file
// capabilities), nor a chmod of a symlink (which must fail).
func TestSetStatSkipsNoopAttrs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another owner needs root")
	}
	e := newEnv(t)
	writeHostFile(t, e.host("onhost"), "x")
	if err := os.Chmod(e.host("onhost"), 0o644); err != nil {
		t.Fatal(err)
	}
	onHost := e.walkOne(e.rootH, "onhost")
	if err := os.Symlink("onhost", e.host("link")); err != nil {
		t.Fatal(err)
	}
	link := e.walkOne(e.rootH, "link")
	withSetuid := newEnv(t, WithAllowSetuid(true))
	const owner = unix.STATX_UID | unix.STATX_GID
	const times = unix.STATX_ATIME | unix.STATX_MTIME
	for i, tc := range []struct {
		name string
		// h is the handle to change; 0: a file the gofer creates with
		// made (0644 if 0), on a gofer with --allow-setuid if setuid.
		h          uint64
		made       uint32
		setuid     bool
		mask       uint32
		uid, gid   uint32
		mode       uint32
		wantSkips  uint64
		wantErrno  unix.Errno
		wantMode   uint32 // with set-id bits, as Stat reports them
		wantUID    uint32
		wantCtimes bool // the ctime moves
	}{
		{name: "tar's: owner and mode as made, times", mask: owner | unix.STATX_MODE | times, mode: 0o644, wantSkips: 2, wantMode: 0o644, wantCtimes: true},
		{name: "owner as made, another mode", mask: owner | unix.STATX_MODE | times, mode: 0o600, wantSkips: 1, wantMode: 0o600, wantCtimes: true},
		{name: "another owner, mode as made", mask: owner | unix.STATX_MODE | times, uid: 42, gid: 42, mode: 0o644, wantSkips: 1, wantMode: 0o644, wantUID: 42, wantCtimes: true},
		{name: "owner alone as made, times", mask: owner | times, wantSkips: 1, wantMode: 0o644, wantCtimes: true},
		{name: "mode alone as made, times", mask: unix.STATX_MODE | times, mode: 0o644, wantSkips: 1, wantMode: 0o644, wantCtimes: true},
		{name: "set-id bits over the mode as made", mask: owner | unix.STATX_MODE | times, mode: 0o4644, wantSkips: 2, wantMode: 0o4644, wantCtimes: true},
		{name: "no times", mask: owner | unix.STATX_MODE, mode: 0o644, wantSkips: 0, wantMode: 0o644, wantCtimes: true},
		{name: "a file made on the host", h: onHost, mask: owner | unix.STATX_MODE | times, mode: 0o644, wantSkips: 1, wantMode: 0o644, wantCtimes: true},
		{name: "--allow-setuid: owner and set-id mode as made", made: 0o4755, setuid: true, mask: owner | unix.STATX_MODE | times, mode: 0o4755, wantSkips: 2, wantMode: 0o4755, wantCtimes: true},
		{name: "--allow-setuid: another owner, set-id mode as made", made: 0o4755, setuid: true, mask: owner | unix.STATX_MODE | times, uid: 42, gid: 42, mode: 0o4755, wantSkips: 0, wantMode: 0o4755, wantUID: 42, wantCtimes: true},
		{name: "a symlink's mode", h: link, mask: unix.STATX_MODE | times, mode: 0o777, wantErrno: unix.EOPNOTSUPP},
	} {
		e := e
		if tc.setuid {
			e = withSetuid
		}
		h := tc.h
		if h == 0 {
			made := tc.made
			if made == 0 {
				made = 0o644
			}
			h = e.create(e.rootH, fmt.Sprintf("f%d", i), unix.O_WRONLY, made)
		}
		before := e.stat(h)
		// The ctime's clock ticks coarsely: a change right after the
		// creation could keep its ctime.
		time.Sleep(10 * time.Millisecond)
		const mtime = int64(1_000_000_123)
		skips := e.srv.noopAttrSkips.Load()
		r, err := e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: h, Mask: tc.mask, Uid: tc.uid, Gid: tc.gid, Mode: tc.mode, AtimeNs: mtime, MtimeNs: mtime})
		if err != nil {
			t.Fatalf("%s: SetStat: %v", tc.name, err)
		}
		if got := e.srv.noopAttrSkips.Load() - skips; got != tc.wantSkips {
			t.Errorf("%s: %d chowns and chmods left out, want %d", tc.name, got, tc.wantSkips)
		}
		if got := unix.Errno(r.GetErrno()); got != tc.wantErrno {
			t.Errorf("%s: errno %v, want %v", tc.name, got, tc.wantErrno)
		}
		if tc.wantErrno != 0 {
			continue
		}
		for what, st := range map[string]*goferpb.Stat{"reply": r.GetStat(), "stat": e.stat(h)} {
			if got := st.GetMode() & 0o7777; got != tc.wantMode {
				t.Errorf("%s: %s mode %#o, want %#o", tc.name, what, got, tc.wantMode)
			}
			if st.GetUid() != tc.wantUID || st.GetGid() != tc.wantUID {
				t.Errorf("%s: %s owner %d:%d, want %d:%d", tc.name, what, st.GetUid(), st.GetGid(), tc.wantUID, tc.wantUID)
			}
			if tc.mask&times != 0 && st.GetMtimeNs() != mtime {
				t.Errorf("%s: %s mtime %d, want %d", tc.name, what, st.GetMtimeNs(), mtime)
			}
			if tc.wantCtimes && st.GetCtimeNs() <= before.GetCtimeNs() {
				t.Errorf("%s: %s ctime %d, not after %d", tc.name, what, st.GetCtimeNs(), before.GetCtimeNs())
			}
		}
	}
}

// BenchmarkTarSetStat times the gofer's side of tar's merged SetStat of a
// file it made (owner and mode as made, times restored), from the handle
// lookup to the reply's stat, without the call's transport.
func BenchmarkTarSetStat(b *testing.B) {
	e := newEnv(b)
	h := e.create(e.rootH, "f", unix.O_WRONLY, 0o644)
	req := &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_UID | unix.STATX_GID | unix.STATX_MODE | unix.STATX_ATIME | unix.STATX_MTIME,
		Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid()), Mode: 0o644, AtimeNs: 1e9, MtimeNs: 1e9}
	b.ReportAllocs()
	var before, after unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &before); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, _, err := e.srv.setStat(req); err != nil {
			b.Fatal(err)
		}
	}
	if err := unix.Getrusage(unix.RUSAGE_SELF, &after); err != nil {
		b.Fatal(err)
	}
	cpu := func(r *unix.Rusage) int64 { return r.Utime.Nano() + r.Stime.Nano() }
	// The process's CPU, not the wall: other work on the machine does
	// not count.
	b.ReportMetric(float64(cpu(&after)-cpu(&before))/float64(b.N), "cpu-ns/op")
}
