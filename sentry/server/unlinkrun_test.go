package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// TestUnlinkRunOneCall counts the gofer calls of posted unlinks that
// arrive together, as rm -r's of a directory's files do (kernel's
// unlinkrun.go): a run of them is one UnlinkMany, rmdirs and closes
// between them included (GNU rm -r's close of a directory's fd, then its
// rmdir); a symlink's and a single unlink's removal are not held (an
// Unlink each, in the calls' order). Each call's reply has the errno it
// would have had alone (a name removed behind the server's back: ENOENT,
// the same name twice: the second ENOENT, a directory not yet emptied:
// ENOTEMPTY), a gofer without UnlinkMany gets the removals one by one,
// and a waited call after the run finds the names gone.
func TestUnlinkRunOneCall(t *testing.T) {
	type op struct {
		// name is removed relative to the tree's directory; rmdir
		// removes a directory. atFD: by unlinkat relative to an fd of
		// the directory. close closes that fd instead.
		name         string
		rmdir, close bool
		want         unix.Errno
	}
	tests := []struct {
		name string
		// dirs, files and symlinks are made in the directory before the
		// calls (and looked up by the server); gone are removed on the
		// host after that.
		files, symlinks, dirs, gone []string
		atFD                        bool
		// old: the gofer has no UnlinkMany (each removal alone).
		old  bool
		ops  []op
		want map[string]int
	}{
		{
			name:  "a run",
			files: []string{"a", "b", "c"},
			ops:   []op{{name: "a"}, {name: "b"}, {name: "c"}},
			want:  map[string]int{"UnlinkMany": 1},
		},
		{
			name:  "by unlinkat relative to the directory's fd",
			files: []string{"a", "b", "c"},
			atFD:  true,
			ops:   []op{{name: "a"}, {name: "b"}, {name: "c"}},
			want:  map[string]int{"UnlinkMany": 1},
		},
		{
			name:  "a name removed behind the server's back",
			files: []string{"a", "b", "c"},
			gone:  []string{"b"},
			ops:   []op{{name: "a"}, {name: "b", want: unix.ENOENT}, {name: "c"}},
			want:  map[string]int{"UnlinkMany": 1},
		},
		{
			name:  "the same name twice",
			files: []string{"a", "b"},
			ops:   []op{{name: "a"}, {name: "a", want: unix.ENOENT}, {name: "b"}},
			want:  map[string]int{"UnlinkMany": 1},
		},
		{
			// a is held, the symlink's removal sends it first (alone:
			// one held), then b and c are a run again.
			name:     "a symlink is not held",
			files:    []string{"a", "b", "c"},
			symlinks: []string{"l"},
			ops:      []op{{name: "a"}, {name: "l"}, {name: "b"}, {name: "c"}},
			want:     map[string]int{"Unlink": 2, "UnlinkMany": 1},
		},
		{
			name:  "an rmdir joins the run",
			files: []string{"a", "b", "c"},
			dirs:  []string{"d"},
			ops:   []op{{name: "a"}, {name: "b"}, {name: "d", rmdir: true}, {name: "c"}},
			want:  map[string]int{"UnlinkMany": 1},
		},
		{
			name:  "a directory emptied in the run",
			dirs:  []string{"d"},
			files: []string{"d/x"},
			ops:   []op{{name: "d", rmdir: true, want: unix.ENOTEMPTY}, {name: "d/x"}, {name: "d", rmdir: true}},
			want:  map[string]int{"UnlinkMany": 1},
		},
		{
			name:  "a close between removals",
			files: []string{"a", "b"},
			dirs:  []string{"d"},
			atFD:  true,
			ops:   []op{{name: "a"}, {name: "b"}, {close: true}, {name: "d", rmdir: true}},
			want:  map[string]int{"UnlinkMany": 1},
		},

		{
			name:  "a gofer without UnlinkMany",
			files: []string{"a", "b", "c"},
			old:   true,
			ops:   []op{{name: "a"}, {name: "b"}, {name: "c"}},
			want:  map[string]int{"Unlink": 3, "UnlinkMany": 1},
		},
		{
			name:  "a single unlink",
			files: []string{"a"},
			ops:   []op{{name: "a"}},
			want:  map[string]int{"Unlink": 1},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, rc, _ := countingEnvDial(t, Config{}, []func(*transport.Options){postTogether})
			rc.noUnlinkMany = tc.old
			m := e.mem
			sb := m.zeros(144)
			dir := fmt.Sprintf("tmp/u%d", i)
			host := filepath.Join(e.root, dir)
			if err := os.Mkdir(host, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, d := range tc.dirs {
				if err := os.Mkdir(filepath.Join(host, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(host, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, l := range tc.symlinks {
				if err := os.Symlink("a", filepath.Join(host, l)); err != nil {
					t.Fatal(err)
				}
			}
			for _, names := range [][]string{tc.dirs, tc.files, tc.symlinks} {
				for _, n := range names {
					e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str("/"+dir+"/"+n), sb, unix.AT_SYMLINK_NOFOLLOW)
				}
			}
			for _, g := range tc.gone {
				if err := os.Remove(filepath.Join(host, g)); err != nil {
					t.Fatal(err)
				}
			}
			var dirfd uint64
			if tc.atFD {
				dirfd = uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/"+dir), unix.O_RDONLY|unix.O_DIRECTORY, 0))
			}
			rc.take()
			var replies []<-chan *sentrypb.Reply
			for _, o := range tc.ops {
				switch {
				case o.close:
					replies = append(replies, e.goPosted(1, unix.SYS_CLOSE, dirfd))
				case o.rmdir:
					replies = append(replies, e.goPosted(1, unix.SYS_UNLINKAT, atFDCWD64, m.str("/"+dir+"/"+o.name), unix.AT_REMOVEDIR))
				case tc.atFD:
					replies = append(replies, e.goPosted(1, unix.SYS_UNLINKAT, dirfd, m.str(o.name), 0))
				default:
					replies = append(replies, e.goPosted(1, unix.SYS_UNLINK, m.str("/"+dir+"/"+o.name)))
				}
			}
			// Waited: it takes the posted calls along, and runs after
			// them.
			e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str("/"+dir+"/"+tc.ops[0].name), sb, unix.AT_SYMLINK_NOFOLLOW)
			for j, ch := range replies {
				select {
				case r := <-ch:
					if got := unix.Errno(r.Errno); got != tc.ops[j].want {
						t.Errorf("posted removal %d (%s): errno %v, want %v", j, tc.ops[j].name, got, tc.ops[j].want)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("no reply of posted removal %d", j)
				}
			}
			counts := rc.take()
			got := map[string]int{"Unlink": counts["Unlink"], "UnlinkMany": counts["UnlinkMany"]}
			want := map[string]int{"Unlink": tc.want["Unlink"], "UnlinkMany": tc.want["UnlinkMany"]}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("gofer removals %v, want %v (all calls: %s)", got, want, fmtCounts(counts))
			}
			for _, o := range tc.ops {
				if o.close {
					continue
				}
				if _, err := os.Lstat(filepath.Join(host, o.name)); !os.IsNotExist(err) {
					t.Errorf("%s is still on the host (%v)", o.name, err)
				}
			}
		})
	}
}

// TestUnlinkAtListedDirNoWalk checks that removals relative to the fd of
// a directory opened from the handle its listing ahead brought (rm -r's
// walk: the directory's dentry has no handle of its own) go through the
// description's handle, with no Walk to the directory: a run of posted
// unlinkats (the fd closed inside it, as GNU rm does before it removes
// the directory), and a waited one.
func TestUnlinkAtListedDirNoWalk(t *testing.T) {
	releasesInBatchesOnly(t)
	e, rc, _ := countingEnvSock(t)
	freezeClock(e) // no kept handle ages out during the test
	l := secondClient(t, e, &sentrypb.Hello{PathLeases: true, CompleteNames: true}, postTogether)
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(e.root, "tmp", "ud", d), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"f", "g", "h"} {
			if err := os.WriteFile(filepath.Join(e.root, "tmp", "ud", d, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	open, listing, _ := dirCalls(t, l)
	top := open("/tmp/ud")
	if r := listing(top, &sentrypb.Syscall{PathLeaseWanted: true, ListingPath: []byte("/tmp/ud"), ListingAhead: maxAheadDirs}); r.Errno != 0 || len(r.Ahead) != 2 {
		t.Fatalf("listing of /tmp/ud: %v, %d listings ahead, want a's and b's", unix.Errno(r.Errno), len(r.Ahead))
	}
	m := l.mem

	// a: posted removals of its files, its fd's close, its rmdir
	// relative to the fd of /tmp/ud.
	rc.take()
	fd := open("/tmp/ud/a")
	replies := []<-chan *sentrypb.Reply{
		l.goPosted(1, unix.SYS_UNLINKAT, fd, m.str("f"), 0),
		l.goPosted(1, unix.SYS_UNLINKAT, fd, m.str("g"), 0),
		l.goPosted(1, unix.SYS_UNLINKAT, fd, m.str("h"), 0),
		l.goPosted(1, unix.SYS_CLOSE, fd),
		l.goPosted(1, unix.SYS_UNLINKAT, top, m.str("a"), unix.AT_REMOVEDIR),
	}
	// Waited: it takes the posted calls along, and runs after them (an
	// fstat: a lookup of a would walk to it).
	l.ok(1, unix.SYS_FSTAT, top, m.zeros(144))
	for j, ch := range replies {
		select {
		case r := <-ch:
			if r.Errno != 0 {
				t.Errorf("posted call %d: %v", j, unix.Errno(r.Errno))
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no reply of posted call %d", j)
		}
	}
	if got := rc.take(); got["Walk"] != 0 || got["UnlinkMany"] != 1 {
		t.Errorf("a's removals made gofer calls %s, want one UnlinkMany and no Walk", fmtCounts(got))
	}

	// b: a waited removal, then the rest posted after the fd's close.
	fd = open("/tmp/ud/b")
	l.ok(1, unix.SYS_UNLINKAT, fd, m.str("f"), 0)
	if got := rc.take(); got["Walk"] != 0 || got["Unlink"] != 1 {
		t.Errorf("b/f's waited removal made gofer calls %s, want one Unlink and no Walk", fmtCounts(got))
	}
	l.sys(1, unix.SYS_CLOSE, fd)
	l.sys(1, unix.SYS_CLOSE, top)
	for _, d := range []string{"a", "b/f"} {
		if _, err := os.Lstat(filepath.Join(e.root, "tmp", "ud", d)); !os.IsNotExist(err) {
			t.Errorf("%s is still on the host (%v)", d, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(e.root, "tmp", "ud", "b", "g")); err != nil {
		t.Errorf("b/g: %v", err)
	}
}
