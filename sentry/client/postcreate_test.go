package client

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// creationLeases keeps, in a new path cache, answers leased as a walk
// from "/" would have them (dir and other are directories' inode
// numbers) and returns the cache and the key of each.
func creationLeases(t *testing.T) (*pathCache, map[string]pathKey) {
	t.Helper()
	pc := newPathCache(nil)
	creds := &pb.ProcessState{Ruid: 1000, Euid: 1000}
	const root, dir, other = 2, 10, 20
	at := leaseStamp{sent: time.Now(), gen: pc.gen}
	type leased struct {
		id   uint64
		kind uint32
		ino  uint64
	}
	lease := func(ls ...leased) *pb.PathLease {
		l := &pb.PathLease{Id: ls[0].id, TtlMs: 1000, Creds: creds}
		for _, x := range ls {
			l.Ids, l.Kinds, l.Inos = append(l.Ids, x.id), append(l.Kinds, x.kind), append(l.Inos, x.ino)
		}
		return l
	}
	key := func(sysno uintptr, path string) pathKey {
		return pathKey{sysno: sysno, creds: credsKey(creds), start: "/", path: path}
	}
	keys := map[string]pathKey{
		"stat of the directory":          key(unix.SYS_STAT, "/d"),
		"a missing name in it":           key(unix.SYS_STAT, "/d/x"),
		"stat of another directory":      key(unix.SYS_STAT, "/e"),
		"a missing name in another":      key(unix.SYS_STAT, "/e/x"),
		"the existence of a name in it":  key(existsCall, "/d/y"),
		"an answer of an unknown lease":  key(unix.SYS_LSTAT, "/e"),
		"the absence of the name":        key(missingCall, "/d/n"),
		"an absence not creatable":       key(missingCall, "/e/n"),
		"an absence in two directories?": key(missingCall, "/d/z"),
	}
	search := func(id, ino uint64) leased { return leased{id, pathSearchKind, ino} }
	attrs := func(id, ino uint64) leased { return leased{id, 1, ino} }
	names := func(id, ino uint64) leased { return leased{id, 2, ino} }
	pc.keepAnswer(keys["stat of the directory"], lease(search(1, root), search(2, dir), attrs(3, dir)), at, pathAnswer{}, false)
	pc.keepAnswer(keys["a missing name in it"], lease(search(1, root), search(2, dir), names(4, dir)), at, pathAnswer{errno: unix.ENOENT}, false)
	pc.keepAnswer(keys["stat of another directory"], lease(search(1, root), search(5, other), attrs(6, other)), at, pathAnswer{}, false)
	pc.keepAnswer(keys["a missing name in another"], lease(search(1, root), search(5, other), names(7, other)), at, pathAnswer{errno: unix.ENOENT}, false)
	pc.keepAnswer(keys["the existence of a name in it"], lease(search(1, root), search(2, dir), search(8, 30)), at, pathAnswer{}, false)
	// A lease without kinds (an older server): its kind is not known.
	pc.keepAnswer(keys["an answer of an unknown lease"], &pb.PathLease{Id: 9, Ids: []uint64{9}, TtlMs: 1000, Creds: creds}, at, pathAnswer{}, false)
	creatable := lease(search(1, root), search(2, dir), names(4, dir))
	creatable.Creatable = true
	pc.keepMissing(keys["the absence of the name"], creatable, at)
	pc.keepMissing(keys["an absence not creatable"], lease(search(1, root), search(5, other), names(7, other)), at)
	twoDirs := lease(search(1, root), names(4, dir), names(7, other))
	twoDirs.Creatable = true
	pc.keepMissing(keys["an absence in two directories?"], twoDirs, at)
	return pc, keys
}

// checkWakes checks that a call waiting for a posted change's reply
// (waitCreations) wakes when reply, which comes 5 ms later, ends the
// change.
func checkWakes(t *testing.T, pc *pathCache, what string, reply func()) {
	t.Helper()
	woke := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		pc.waitCreations()
		woke <- time.Since(start)
	}()
	time.Sleep(5 * time.Millisecond)
	reply()
	if waited := <-woke; waited >= maxCreationWait {
		t.Errorf("a call waited %v for %s reply, which came after 5 ms", waited, what)
	}
}

// TestPathCacheCreation checks what a posted creation in a directory
// holds back until its reply: the answers leasing that directory's
// attributes or missing names, and those of leases of unknown kind; not
// another directory's, nor the existence of names.
func TestPathCacheCreation(t *testing.T) {
	pc, keys := creationLeases(t)
	for _, name := range []string{"an absence not creatable", "an absence in two directories?"} {
		if _, ok := pc.beginCreate(keys[name], nil); ok {
			t.Errorf("%s: a creation may be posted", name)
		}
	}
	dir, ok := pc.beginCreate(keys["the absence of the name"], nil)
	if !ok || dir != 10 {
		t.Fatalf("the absence of a creatable name: directory %d, %v; want 10, true", dir, ok)
	}
	if _, ok := pc.beginCreate(keys["the absence of the name"], nil); ok {
		t.Error("the same name may be created twice")
	}
	blocked := func(name string) bool {
		pc.mu.Lock()
		defer pc.mu.Unlock()
		a := pc.answers[keys[name]]
		if a == nil {
			t.Fatalf("%s: no answer kept", name)
		}
		return pc.blockedLocked(a)
	}
	tests := []struct {
		name    string
		blocked bool
	}{
		{"stat of the directory", true},
		{"a missing name in it", true},
		{"stat of another directory", false},
		{"a missing name in another", false},
		{"the existence of a name in it", false},
		{"an answer of an unknown lease", true},
	}
	for _, tc := range tests {
		if got := blocked(tc.name); got != tc.blocked {
			t.Errorf("%s while the creation is in flight: blocked %v, want %v", tc.name, got, tc.blocked)
		}
	}
	// A call waiting for the creation's reply wakes when it comes.
	checkWakes(t, pc, "the creation's", func() { pc.endCreate(dir, nil) })
	for _, tc := range tests {
		if blocked(tc.name) {
			t.Errorf("%s after the creation's reply: blocked", tc.name)
		}
	}
	// The server revokes the directory's names: the absence goes.
	pc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{4}})
	pc.mu.Lock()
	kept := pc.answerLocked(keys["a missing name in it"]) != nil
	pc.mu.Unlock()
	if kept {
		t.Error("after the revocation of the directory's names: the answer of a missing name in it is kept")
	}
}

// TestCreatedHandleAlias checks that the writes behind posted under a
// posted creation's handle count under the file's gofer handle once its
// reply named it, and so do those posted under it later.
func TestCreatedHandleAlias(t *testing.T) {
	rc := newReadCache(nil)
	created := createdHandleOf(provisionalDesc | 5)
	first := rc.postBegin(dataChange, created, 0, 0)
	rc.aliasHandle(created, "gofer-handle")
	second := rc.postBegin(dataChange, created, 0, 0)
	count := func() (int, int) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return rc.dataPosted["gofer-handle"], rc.dataPosted[created]
	}
	steps := []struct {
		name          string
		do            func()
		file, created int
	}{
		{"both in flight", func() {}, 2, 0},
		{"the first answered", func() { rc.postEnd(first) }, 1, 0},
		{"the second answered", func() { rc.postEnd(second) }, 0, 0},
	}
	for _, s := range steps {
		s.do()
		if f, c := count(); f != s.file || c != s.created {
			t.Errorf("%s: %d counted under the file's handle, %d under the creation's; want %d, %d", s.name, f, c, s.file, s.created)
		}
	}
}

// TestKeepUnlinkAnswer checks which unlink answers the path cache keeps:
// a failure with ENOENT (with the name's absence, creatable as the lease
// says), never a removal, even under a lease.
func TestKeepUnlinkAnswer(t *testing.T) {
	creds := &pb.ProcessState{Ruid: 1000, Euid: 1000}
	tests := []struct {
		name      string
		errno     unix.Errno
		creatable bool
		// kept says the unlink's answer is kept; missing is the
		// absence's ret (-1: none kept).
		kept    bool
		missing int
	}{
		{name: "ENOENT, creatable", errno: unix.ENOENT, creatable: true, kept: true, missing: 1},
		{name: "ENOENT", errno: unix.ENOENT, kept: true, missing: 0},
		{name: "a removal", errno: 0, creatable: true, kept: false, missing: -1},
		{name: "EACCES", errno: unix.EACCES, kept: false, missing: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			k := pathKey{sysno: unix.SYS_UNLINK, creds: credsKey(creds), start: "/", path: "/d/n"}
			l := &pb.PathLease{Id: 1, Ids: []uint64{1, 2}, Kinds: []uint32{0, 2}, Inos: []uint64{2, 10}, TtlMs: 1000,
				Creds: creds, Creatable: tc.creatable}
			reply := &pb.Reply{Errno: int32(tc.errno), PathLease: l}
			pc.keep(k, unix.SYS_UNLINK, [6]uint64{}, reply, leaseStamp{sent: time.Now(), gen: pc.gen})
			pc.mu.Lock()
			defer pc.mu.Unlock()
			if got := pc.answerLocked(k) != nil; got != tc.kept {
				t.Errorf("the unlink's answer kept: %v, want %v", got, tc.kept)
			}
			m := k
			m.sysno = missingCall
			a := pc.answerLocked(m)
			switch {
			case tc.missing < 0 && a != nil:
				t.Errorf("the name's absence kept: %+v", a)
			case tc.missing >= 0 && (a == nil || a.ret != uint64(tc.missing) || a.errno != unix.ENOENT):
				t.Errorf("the name's absence: %+v, want ret %d", a, tc.missing)
			}
		})
	}
}

// TestWaitCreationsWhile: a wait for one posted creation's reply is
// woken by every creation's reply, and waits on while its own has not
// come (another creation's reply woke a file's creation waiting for its
// directory's mkdir, which then went without the copy that reply
// brought); it ends at once when its own comes, and at the bound if
// none does.
func TestWaitCreationsWhile(t *testing.T) {
	const mine, other = 1, 2
	tests := []struct {
		name string
		// ends are the directories whose creations end, in order,
		// each once the wait is waiting.
		ends []uint64
		// late says the wait runs out (maxCreationWait).
		late bool
	}{
		{name: "its own reply", ends: []uint64{mine}},
		{name: "another's reply first", ends: []uint64{other, mine}},
		{name: "only another's reply", ends: []uint64{other}, late: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			pc.dirsChanging = map[uint64]int{mine: 1, other: 1}
			go func() {
				for _, d := range tc.ends {
					// The waiter's channel (made anew for each
					// wait) is there: it waits.
					for {
						pc.mu.Lock()
						waiting := pc.creationDone != nil
						pc.mu.Unlock()
						if waiting {
							break
						}
						time.Sleep(time.Millisecond)
					}
					pc.endCreate(d, nil)
				}
			}()
			pc.waitCreationsWhile(func() bool { return pc.dirsChanging[mine] > 0 })
			pc.mu.Lock()
			left := pc.dirsChanging[mine]
			pc.mu.Unlock()
			if late := pc.creationWaitsLate.Load() > 0; late != tc.late {
				t.Errorf("the wait ran out: %v, want %v", late, tc.late)
			}
			if !tc.late && left != 0 {
				t.Errorf("the wait ended before its creation's reply (%d left)", left)
			}
		})
	}
}
