package client

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestCopyPathAndSplitName(t *testing.T) {
	tests := []struct {
		path string
		// want is copyPath's path, "" when it refuses p.
		want      string
		dir, name string
	}{
		{path: "d/x", want: "d/x", dir: "d", name: "x"},
		{path: "/tmp/d/x", want: "/tmp/d/x", dir: "/tmp/d", name: "x"},
		{path: "/x", want: "/x", dir: "/", name: "x"},
		{path: "x", want: "x", dir: "", name: "x"},
		{path: "./d/x", want: "d/x", dir: "d", name: "x"},
		{path: "././d", want: "d", dir: "", name: "d"},
		{path: "d/./x", want: "d/x", dir: "d", name: "x"},
		{path: "/./tmp/./x", want: "/tmp/x", dir: "/tmp", name: "x"},
		{path: ".x/y.z", want: ".x/y.z", dir: ".x", name: "y.z"},
		{path: "d//x"},
		{path: "d/../x"},
		{path: "d/x/"},
		{path: "d/."},
		{path: "."},
		{path: "./"},
		{path: ".."},
		{path: "/"},
		{path: ""},
	}
	for _, tc := range tests {
		got, ok := copyPath(tc.path)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("copyPath(%q) = %q, %v, want %q", tc.path, got, ok, tc.want)
		}
		if !ok {
			continue
		}
		if dir, name := splitName(got); dir != tc.dir || name != tc.name {
			t.Errorf("splitName(%q) = %q, %q, want %q, %q", got, dir, name, tc.dir, tc.name)
		}
	}
}

// TestNamesAfter checks what a call's result does to the copies: a
// removal's success (or ENOENT) removes its name, a creation spelled
// otherwise drops every copy when it succeeds unless its parent_stat
// names a directory no copy is of, a revocation kills a copy.
func TestNamesAfter(t *testing.T) {
	const copyIno = 42
	parentStat := func(ino uint64) []byte {
		st := linux.Stat{Ino: ino}
		b := make([]byte, st.SizeBytes())
		st.MarshalBytes(b)
		return b
	}
	tests := []struct {
		name      string
		change    func(c *namesCopy) namesChange
		reply     *pb.Reply
		wantCopy  bool
		wantNameX bool
	}{
		{name: "removed", change: func(c *namesCopy) namesChange { return namesChange{copy: c, name: "x"} },
			reply: &pb.Reply{}, wantCopy: true},
		{name: "removal found nothing", change: func(c *namesCopy) namesChange { return namesChange{copy: c, name: "x"} },
			reply: &pb.Reply{Errno: int32(unix.ENOENT)}, wantCopy: true},
		{name: "removal failed", change: func(c *namesCopy) namesChange { return namesChange{copy: c, name: "x"} },
			reply: &pb.Reply{Errno: int32(unix.EACCES)}, wantCopy: true, wantNameX: true},
		{name: "creation elsewhere, parent not known", change: func(*namesCopy) namesChange { return namesChange{dropOnSuccess: true} },
			reply: &pb.Reply{}},
		{name: "creation elsewhere failed", change: func(*namesCopy) namesChange { return namesChange{dropOnSuccess: true} },
			reply: &pb.Reply{Errno: int32(unix.EEXIST)}, wantCopy: true, wantNameX: true},
		{name: "creation in another directory", change: func(*namesCopy) namesChange { return namesChange{dropOnSuccess: true} },
			reply: &pb.Reply{ParentStat: parentStat(copyIno + 1)}, wantCopy: true, wantNameX: true},
		{name: "creation in the copy's directory by another spelling", change: func(*namesCopy) namesChange { return namesChange{dropOnSuccess: true} },
			reply: &pb.Reply{ParentStat: parentStat(copyIno)}},
		{name: "rmdir of the copy's directory by another spelling", change: func(*namesCopy) namesChange { return namesChange{removedDir: copyIno} },
			reply: &pb.Reply{}},
		{name: "rmdir of another directory", change: func(*namesCopy) namesChange { return namesChange{removedDir: copyIno + 1} },
			reply: &pb.Reply{}, wantCopy: true, wantNameX: true},
		{name: "rmdir of the copy's directory failed", change: func(*namesCopy) namesChange { return namesChange{removedDir: copyIno} },
			reply: &pb.Reply{Errno: int32(unix.ENOTEMPTY)}, wantCopy: true, wantNameX: true},
		// An rmdir the client could not tell the directory of (through
		// an fd whose path it does not know): the reply's removed_ino
		// says which copies go; an older server's reply drops them all.
		{name: "rmdir not modeled, the server names another directory", change: func(*namesCopy) namesChange { return namesChange{dropOnSuccess: true, rmdir: true} },
			reply: &pb.Reply{RemovedIno: copyIno + 1}, wantCopy: true, wantNameX: true},
		{name: "rmdir not modeled, the server names the copy's directory", change: func(*namesCopy) namesChange { return namesChange{dropOnSuccess: true, rmdir: true} },
			reply: &pb.Reply{RemovedIno: copyIno}},
		{name: "rmdir not modeled, the server names none", change: func(*namesCopy) namesChange { return namesChange{dropOnSuccess: true, rmdir: true} },
			reply: &pb.Reply{}},
		{name: "rmdir not modeled failed", change: func(*namesCopy) namesChange { return namesChange{dropOnSuccess: true, rmdir: true} },
			reply: &pb.Reply{Errno: int32(unix.ENOTEMPTY)}, wantCopy: true, wantNameX: true},
		{name: "creation not modeled, a removed_ino ignored", change: func(*namesCopy) namesChange { return namesChange{dropOnSuccess: true} },
			reply: &pb.Reply{RemovedIno: copyIno + 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			c := &namesCopy{names: map[string]bool{"x": false}, ownerMode: 0o700, expires: time.Now().Add(time.Minute)}
			c.hold.dirs = []uint64{copyIno}
			k := pathKey{creds: "c", start: "/", path: "/d"}
			pc.copies = map[pathKey]*namesCopy{k: c}
			pc.namesAfter(tc.change(c), tc.reply)
			got := pc.copyLocked(k)
			if (got != nil) != tc.wantCopy {
				t.Fatalf("copy kept: %v, want %v", got != nil, tc.wantCopy)
			}
			if got == nil {
				return
			}
			if _, ok := got.names["x"]; ok != tc.wantNameX {
				t.Errorf("name x in the copy: %v, want %v", ok, tc.wantNameX)
			}
		})
	}
	// A creation not modeled whose reply names one copy's directory
	// drops that copy alone: the others lack nothing.
	t.Run("creation in one of two copies' directories", func(t *testing.T) {
		pc := newPathCache(nil)
		pc.copies = map[pathKey]*namesCopy{}
		for i, p := range []string{"/d", "/e"} {
			c := &namesCopy{names: map[string]bool{}, expires: time.Now().Add(time.Minute)}
			c.hold.dirs = []uint64{copyIno + uint64(i)}
			pc.copies[pathKey{creds: "c", start: "/", path: p}] = c
		}
		pc.namesAfter(namesChange{dropOnSuccess: true}, &pb.Reply{ParentStat: parentStat(copyIno)})
		if pc.copyLocked(pathKey{creds: "c", start: "/", path: "/d"}) != nil {
			t.Error("the copy of the creation's directory still answers")
		}
		if pc.copyLocked(pathKey{creds: "c", start: "/", path: "/e"}) == nil {
			t.Error("the copy of another directory was dropped")
		}
	})
	t.Run("revoked", func(t *testing.T) {
		pc := newPathCache(nil)
		c := &namesCopy{names: map[string]bool{}, expires: time.Now().Add(time.Minute)}
		c.hold.dirs = []uint64{copyIno}
		pc.holdLocked(&c.hold, []uint64{7})
		k := pathKey{path: "/d"}
		pc.copies = map[pathKey]*namesCopy{k: c}
		pc.revoke(&pb.LeaseRevoke{Ids: []uint64{7}})
		if pc.copyLocked(k) != nil {
			t.Error("a revoked copy still answers")
		}
	})
}

// TestCopyDirPath checks the absolute path of a copy's directory from its
// key, as keepCwdCopy compares it with the new working directory's.
func TestCopyDirPath(t *testing.T) {
	cwd := cwdStart(&pb.FsState{Cwd: []byte("/tmp/a b"), CwdHandle: []byte{1, 2}})
	for _, tc := range []struct {
		k    pathKey
		want string
		ok   bool
	}{
		{pathKey{start: "/", path: "/x/w"}, "/x/w", true},
		{pathKey{start: cwd, path: "w"}, "/tmp/a b/w", true},
		{pathKey{start: cwd, path: "d/w"}, "/tmp/a b/d/w", true},
		{pathKey{start: cwd}, "/tmp/a b", true},
		{pathKey{start: "fd 7", path: "w"}, "", false},
		{pathKey{start: "/", path: "w"}, "w", false},
	} {
		if got, ok := copyDirPath(tc.k); got != tc.want || ok != tc.ok {
			t.Errorf("copyDirPath(%+v) = %q, %v; want %q, %v", tc.k, got, ok, tc.want, tc.ok)
		}
	}
}

// TestDirPathKey: a mkdir's trailing slashes are dropped from its key;
// nothing is left of "/".
func TestDirPathKey(t *testing.T) {
	for _, tc := range []struct {
		path, want string
		ok         bool
	}{
		{"a", "a", true},
		{"a/", "a", true},
		{"/tmp/go-build1/b010/", "/tmp/go-build1/b010", true},
		{"a//", "a", true},
		{"/", "", false},
		{"//", "", false},
	} {
		if got, ok := dirPathKey(tc.path); got != tc.want || ok != tc.ok {
			t.Errorf("dirPathKey(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}
