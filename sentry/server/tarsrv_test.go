package server

import (
	"encoding/binary"
	"fmt"
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
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
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
// granted (a window that came back full is not a short read); an open
// that asks for data is granted only a large file's head.
func TestLeaseGrantCost(t *testing.T) {
	releasesInBatchesOnly(t)
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
		// The handle the last description kept (vfs/kept.go).
		{"open of it again", openRO(small), nil, false, 0, 0},
		{"its first read takes the lease", func() *sentrypb.Reply { return e.sys(1, unix.SYS_READ, fd, buf, 512) }, map[string]int{"Read": 2}, true, 0, 3000},
		{"close of it", closeFD, nil, false, 0, 0},
		// The lease of the read above is live: the open attaches to it.
		{"open of it while leased", openRO(small), nil, true, 0, 0},
		{"close of it", closeFD, nil, false, 0, 0},
		// Its lease expired; the server's data cache still holds the
		// file: an open is granted a lease from it, reading nothing.
		{"open of it once the lease expired", func() *sentrypb.Reply {
			leaseNow.Add(int64(2 * time.Second))
			return openRO(small)()
		}, nil, true, 0, 3000},
		{"close of it", closeFD, nil, false, 0, 0},
		{"open of a large file", openRO(large), map[string]int{"Walk": 1}, false, 0, 0},
		{"its first read takes the window at 0", func() *sentrypb.Reply { return e.sys(1, unix.SYS_READ, fd, buf, 512) }, map[string]int{"Read": 2}, true, 0, leaseWindow},
		{"close of it", closeFD, nil, false, 0, 0},
		// The client expects reads after opens (open_data_wanted): a
		// large file's open is leased its head (a loader reads an ELF
		// header, then maps the file), a read past it the window there.
		{"open of it asking for data", func() *sentrypb.Reply {
			e.openDataWanted = true
			defer func() { e.openDataWanted = false }()
			return openRO(large)()
		}, map[string]int{"Read": 1}, true, 0, openHeadWindow},
		{"a read past its head takes the window there", func() *sentrypb.Reply {
			return e.sys(1, unix.SYS_PREAD64, fd, buf, 512, 100000)
		}, map[string]int{"Read": 2}, true, 100000 &^ 4095, leaseWindow},
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

// goPosted sends a posted system call from tid without waiting: it is
// queued and goes in front of the next message (transport.GoPosted).
func (e *env) goPosted(tid int32, sysno uintptr, args ...uint64) <-chan *sentrypb.Reply {
	e.t.Helper()
	var a [6]uint64
	copy(a[:], args)
	var inputs []*sentrypb.Region
	for _, r := range sysabi.Inputs(sysno, a, e.mem) {
		inputs = append(inputs, &sentrypb.Region{Addr: r.Addr, Data: r.Data})
	}
	ch, err := e.conn.GoPosted(&sentrypb.Call{Tid: tid, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
		Sysno: int32(sysno), Args: a[:], Inputs: inputs, Posted: true}}})
	if err != nil {
		e.t.Fatalf("post %s: %v", syscalls.Name(int32(sysno)), err)
	}
	return ch
}

// TestAttrRunMerges counts the gofer SetStats of posted attribute calls
// that arrive together, as tar's chown, chmod and utimensat of each
// member do (attrrun.go): consecutive changes of one regular file are one
// SetStat, and the file ends as the calls one by one leave it. A chown
// after a change reads the mode (its set-id rule) and so sends what is
// held first; changes of other files, UTIME_NOW and directories are not
// merged.
func TestAttrRunMerges(t *testing.T) {
	e, rc, _ := countingEnvDial(t, Config{}, []func(*transport.Options){postTogether})
	freezeClock(e)
	m := e.mem
	sb := m.zeros(144)
	timesOf := func(a, b int64) uint64 {
		buf := make([]byte, 32)
		binary.LittleEndian.PutUint64(buf[0:], uint64(a))
		binary.LittleEndian.PutUint64(buf[16:], uint64(b))
		return m.alloc(buf)
	}
	now := m.alloc(func() []byte {
		buf := make([]byte, 32)
		binary.LittleEndian.PutUint64(buf[8:], unix.UTIME_NOW)
		binary.LittleEndian.PutUint64(buf[24:], unix.UTIME_NOW)
		return buf
	}())
	type step struct {
		sysno uintptr
		args  func(p uint64) []uint64
	}
	chown := func(uid, gid uint64) step {
		return step{unix.SYS_CHOWN, func(p uint64) []uint64 { return []uint64{p, uid, gid} }}
	}
	chmod := func(mode uint64) step {
		return step{unix.SYS_CHMOD, func(p uint64) []uint64 { return []uint64{p, mode} }}
	}
	utimes := func(times uint64) step {
		return step{unix.SYS_UTIMENSAT, func(p uint64) []uint64 { return []uint64{atFDCWD64, p, times, 0} }}
	}
	tests := []struct {
		name  string
		dir   bool
		steps []step
		// failMerged fails every merged SetStat (rpcCounter.failMerged).
		failMerged bool
		// other applies the steps from the second on to another file.
		other    bool
		setStats int
		// mode, uid, gid and mtime (seconds) are what the file must end with (mtime
		// -1: not checked).
		mode     os.FileMode
		uid, gid uint32
		mtime    int64
	}{
		{name: "tar's chown, chmod, utimensat", steps: []step{chown(1000, 1001), chmod(0o640), utimes(timesOf(1000, 2000))},
			setStats: 1, mode: 0o640, uid: 1000, gid: 1001, mtime: 2000},
		{name: "chown, then chmod giving set-id bits", steps: []step{chown(1000, 1000), chmod(0o6755), utimes(timesOf(5, 7))},
			setStats: 1, mode: 0o755 | os.ModeSetuid | os.ModeSetgid, uid: 1000, gid: 1000, mtime: 7},
		{name: "chmod giving set-id bits, then chown (which clears them)", steps: []step{chmod(0o6755), chown(1000, 1000)},
			setStats: 2, mode: 0o755, uid: 1000, gid: 1000, mtime: -1},
		{name: "chmod, chmod, utimensat", steps: []step{chmod(0o600), chmod(0o604), utimes(timesOf(3, 4))},
			setStats: 1, mode: 0o604, mtime: 4},
		{name: "UTIME_NOW", steps: []step{chmod(0o600), utimes(now)}, setStats: 2, mode: 0o600, mtime: -1},
		{name: "two files", steps: []step{chmod(0o600), chmod(0o640)}, other: true, setStats: 2, mode: 0o600, mtime: -1},
		{name: "a directory", dir: true, steps: []step{chmod(0o700), utimes(timesOf(8, 9))}, setStats: 2, mode: os.ModeDir | 0o700, mtime: 9},
		// The merged SetStat fails: each call's own is sent after it.
		{name: "a merged SetStat failed", failMerged: true, steps: []step{chown(1000, 1001), chmod(0o6750), utimes(timesOf(11, 12))},
			setStats: 4, mode: 0o750 | os.ModeSetuid | os.ModeSetgid, uid: 1000, gid: 1001, mtime: 12},
	}
	for i, tc := range tests {
		name := fmt.Sprintf("tmp/f%d", i)
		if tc.dir {
			if err := os.Mkdir(filepath.Join(e.root, name), 0o755); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(filepath.Join(e.root, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.root, name+"-other"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		p, other := m.str("/"+name), m.str("/"+name+"-other")
		e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, p, sb, 0) // looked up before
		e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, other, sb, 0)
		rc.take()
		rc.mu.Lock()
		rc.failMerged = tc.failMerged
		rc.mu.Unlock()
		var replies []<-chan *sentrypb.Reply
		for j, s := range tc.steps {
			target := p
			if tc.other && j > 0 {
				target = other
			}
			replies = append(replies, e.goPosted(1, s.sysno, s.args(target)...))
		}
		e.ok(1, unix.SYS_GETPPID) // a waited call: the posted ones go in front of it
		for j, ch := range replies {
			if r := <-ch; r.Errno != 0 {
				t.Errorf("%s: posted call %d: errno %v", tc.name, j, unix.Errno(r.Errno))
			}
		}
		if got := rc.take()["SetStat"]; got != tc.setStats {
			t.Errorf("%s: %d gofer SetStats, want %d", tc.name, got, tc.setStats)
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(e.root, name), &st); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(e.root, name))
		if err != nil {
			t.Fatal(err)
		}
		// The gofer keeps set-id bits the sandbox gave in an attribute of
		// its own: the sandbox's stat shows them.
		e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, p, sb, 0)
		sandboxMode := m.u32(sb + 24)
		wantMode := uint32(tc.mode.Perm())
		if tc.mode&os.ModeSetuid != 0 {
			wantMode |= unix.S_ISUID
		}
		if tc.mode&os.ModeSetgid != 0 {
			wantMode |= unix.S_ISGID
		}
		if sandboxMode&07777 != wantMode || fi.Mode().IsDir() != tc.mode.IsDir() {
			t.Errorf("%s: mode %#o (dir %v), want %#o (dir %v)", tc.name, sandboxMode&07777, fi.Mode().IsDir(), wantMode, tc.mode.IsDir())
		}
		if st.Uid != tc.uid || st.Gid != tc.gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", tc.name, st.Uid, st.Gid, tc.uid, tc.gid)
		}
		if mt := st.Mtim.Sec; tc.mtime >= 0 && mt != tc.mtime {
			t.Errorf("%s: mtime %d, want %d", tc.name, mt, tc.mtime)
		}
	}
}

// runWaiting waits until a worker's run of attribute calls waits for its
// thread's next call (awaitRunLocked).
func runWaiting(t *testing.T, e *env) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		e.srv.mu.Lock()
		var cs []*client
		for c := range e.srv.clients {
			cs = append(cs, c)
		}
		e.srv.mu.Unlock()
		for _, c := range cs {
			c.k.Mu.Lock()
			n := c.runsWaiting
			c.k.Mu.Unlock()
			if n > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no run of attribute calls waits for its thread's next call")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAttrRunAcrossBatches counts the gofer SetStats of tar's chown,
// chmod and utimensat of a file when the client's posted queue went out
// between them (its 2 ms timer, sooner on a loaded machine): the run the
// first batch ended stays open while the thread's queue is empty, and
// the next batch's calls join it (attrrun.go). The run ends at the
// thread's next call that cannot join, at a call of another process
// that waits for the posted ones (it may stat the file), or after
// attrRunWait; each sees the changes made.
func TestAttrRunAcrossBatches(t *testing.T) {
	old := attrRunWait
	t.Cleanup(func() { attrRunWait = old })
	e, rc := countingEnv(t)
	freezeClock(e)
	m := e.mem
	sb := m.zeros(144)
	times := func() uint64 {
		buf := make([]byte, 32)
		binary.LittleEndian.PutUint64(buf[0:], 1000)
		binary.LittleEndian.PutUint64(buf[16:], 2000)
		return m.alloc(buf)
	}()
	child := e.fork(1)
	tests := []struct {
		name string
		// cut is the number of calls (chown, chmod, utimensat) in the
		// first batch.
		cut int
		// end is what ends the run: "next" the thread's waited call,
		// "other" a stat of the file by another process, "timer"
		// nothing, "none": it does not wait.
		end string
		// wait is attrRunWait.
		wait time.Duration
	}{
		{"cut after the chown, ended by the next call", 1, "next", time.Minute},
		{"cut after the chmod, ended by the next call", 2, "next", time.Minute},
		// No utimensat (below): the run waits after the chmod.
		{"cut after the chown, ended by another process's stat", 1, "other", time.Minute},
		// No utimensat: the run waits after the chmod.
		{"cut after the chown, no times, ended by the timer", 1, "timer", 20 * time.Millisecond},
		// The times come last: a run that set them does not wait, and
		// its replies come with no other call.
		{"all three in one batch", 3, "none", time.Minute},
	}
	for i, tc := range tests {
		attrRunWait = tc.wait
		name := fmt.Sprintf("tmp/g%d", i)
		if err := os.WriteFile(filepath.Join(e.root, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		p := m.str("/" + name)
		e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, p, sb, 0) // looked up before
		rc.take()
		steps := [][]uint64{{unix.SYS_CHOWN, p, 1000, 1001}, {unix.SYS_CHMOD, p, 0o640}, {unix.SYS_UTIMENSAT, atFDCWD64, p, times, 0}}
		wantMtime := int64(2000)
		if tc.end == "timer" || tc.end == "other" {
			// No utimensat: a run whose change sets the times ends
			// at once, so only without it does the run still wait
			// when the second batch has arrived.
			steps = steps[:2]
			wantMtime = -1
		}
		var replies []<-chan *sentrypb.Reply
		for j, s := range steps {
			if j == tc.cut {
				break
			}
			replies = append(replies, e.goPosted(1, uintptr(s[0]), s[1:]...))
		}
		if err := e.conn.SendPosted(); err != nil {
			t.Fatal(err)
		}
		if tc.end != "none" {
			runWaiting(t, e)
		}
		for _, s := range steps[tc.cut:] {
			replies = append(replies, e.goPosted(1, uintptr(s[0]), s[1:]...))
		}
		if tc.end == "timer" {
			if err := e.conn.SendPosted(); err != nil {
				t.Fatal(err)
			}
		}
		switch tc.end {
		case "next":
			e.ok(1, unix.SYS_GETPPID) // the posted calls go in front of it
		case "other":
			if err := e.conn.SendPosted(); err != nil {
				t.Fatal(err)
			}
			runWaiting(t, e)
			e.ok(child, unix.SYS_NEWFSTATAT, atFDCWD64, p, sb, 0)
			if uid, mode := m.u32(sb+28), m.u32(sb+24); uid != 1000 || mode&0o7777 != 0o640 {
				t.Errorf("%s: the other process's stat: uid %d mode %#o, want 1000 and 0640", tc.name, uid, mode&0o7777)
			}
		}
		for j, ch := range replies {
			select {
			case r := <-ch:
				if r.Errno != 0 {
					t.Errorf("%s: posted call %d: errno %v", tc.name, j, unix.Errno(r.Errno))
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: no reply of posted call %d", tc.name, j)
			}
		}
		if got := setStats(rc.take()); got != 1 {
			t.Errorf("%s: %d gofer SetStats (alone or carried), want 1", tc.name, got)
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(e.root, name), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != 1000 || st.Gid != 1001 || st.Mode&0o7777 != 0o640 || (wantMtime >= 0 && st.Mtim.Sec != wantMtime) {
			t.Errorf("%s: the file's owner %d:%d, mode %#o, mtime %d; want 1000:1001, 0640, mtime %d (-1: any)", tc.name, st.Uid, st.Gid, st.Mode&0o7777, st.Mtim.Sec, wantMtime)
		}
	}
}
