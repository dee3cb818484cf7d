package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/gofer"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// onlyVFS returns the mount namespace of e's one client.
func onlyVFS(t *testing.T, e *env) *vfs.VFS {
	t.Helper()
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	if len(e.srv.clients) != 1 {
		t.Fatalf("%d clients, want 1", len(e.srv.clients))
	}
	for c := range e.srv.clients {
		return c.k.VFS
	}
	return nil
}

// TestKeptHandles checks when a read-only open takes the gofer handle the
// file's last read-only description kept (vfs/kept.go) instead of a
// walk-open: while nothing could have changed what the open opens, and
// the gofer confirmed the name less than AttrTTL ago.
func TestKeptHandles(t *testing.T) {
	e, rc := countingEnv(t)
	advance := freezeClock(e)
	v := onlyVFS(t, e)
	m := e.mem
	sb := m.zeros(144)
	n := 0
	tests := []struct {
		name string
		// between runs after the file was read once (its handle kept);
		// path is the file's, host its host path.
		between func(path, host string)
		// walks is the gofer Walks of the next read of the file (0: it
		// took the kept handle), want the content it reads; after, if
		// set, runs then.
		walks int
		want  string
		after func(path string)
	}{
		{"nothing between", func(string, string) {}, 0, "v1", nil},
		{"AttrTTL passed", func(string, string) { advance(goferclient.AttrTTL) }, 1, "v1", nil},
		{"a write through this server", func(path, _ string) {
			fd := e.open(path, unix.O_WRONLY)
			e.ok(1, unix.SYS_PWRITE64, fd, m.alloc([]byte("v2")), 2, 0)
			e.ok(1, unix.SYS_CLOSE, fd)
		}, 1, "v2", nil},
		{"a chmod through this server", func(path, _ string) {
			e.ok(1, unix.SYS_FCHMODAT, atFDCWD64, m.str(path), 0640)
		}, 1, "v1", nil},
		// A removal drops what it changed (its directory, the inode the
		// gofer names), not every kept handle.
		{"an unlink of another file through this server", func(path, _ string) {
			e.ok(1, unix.SYS_CLOSE, e.open(path+"-other", unix.O_CREAT|unix.O_WRONLY))
			e.ok(1, unix.SYS_UNLINKAT, atFDCWD64, m.str(path+"-other"), 0)
		}, 0, "v1", nil},
		{"an unlink of another name of the file through this server", func(path, host string) {
			if err := os.Link(host, host+"-link"); err != nil {
				t.Fatal(err)
			}
			e.ok(1, unix.SYS_UNLINKAT, atFDCWD64, m.str(path+"-link"), 0)
		}, 1, "v1", nil},
		{"a rename of another file over another name of it through this server", func(path, host string) {
			if err := os.Link(host, host+"-link"); err != nil {
				t.Fatal(err)
			}
			e.ok(1, unix.SYS_CLOSE, e.open(path+"-new", unix.O_CREAT|unix.O_WRONLY))
			e.ok(1, unix.SYS_RENAMEAT, atFDCWD64, m.str(path+"-new"), atFDCWD64, m.str(path+"-link"))
		}, 1, "v1", nil},
		{"an O_RDWR open and close (no write)", func(path, _ string) {
			e.ok(1, unix.SYS_CLOSE, e.open(path, unix.O_RDWR))
		}, 0, "v1", nil},
		{"a stat", func(path, _ string) {
			e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, m.str(path), sb, 0)
		}, 0, "v1", nil},
		// The coherence rule's window: a name the host replaced is
		// seen once AttrTTL has passed since the gofer last confirmed
		// it, as a change of the file's attributes is.
		{"the host renames another file over it", func(_, host string) {
			if err := os.WriteFile(host+".new", []byte("v3"), 0644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(host+".new", host); err != nil {
				t.Fatal(err)
			}
		}, 0, "v1", func(path string) {
			advance(goferclient.AttrTTL)
			if got := e.readFileAt(path); got != "v3" {
				t.Errorf("after AttrTTL: read %q, want v3", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n++
			path := fmt.Sprintf("/tmp/k%d", n)
			host := filepath.Join(e.root, path)
			if err := os.WriteFile(host, []byte("v1"), 0644); err != nil {
				t.Fatal(err)
			}
			if got := e.readFileAt(path); got != "v1" {
				t.Fatalf("first read %q", got)
			}
			tc.between(path, host)
			rc.take()
			reused := v.KeptReused()
			if got := e.readFileAt(path); got != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
			if got := rc.take()["Walk"]; got != tc.walks {
				t.Errorf("%d gofer Walks, want %d", got, tc.walks)
			}
			if took := v.KeptReused() - reused; took != uint64(1-tc.walks) {
				t.Errorf("%d opens took a kept handle, want %d", took, 1-tc.walks)
			}
			if tc.after != nil {
				tc.after(path)
			}
		})
	}
}

// TestKeptHandleGoes checks that a kept handle does not outlive what it
// was kept for: an unlink of its file removes the file on the host (no
// silly rename: a kept handle is no open description), and a client
// keeps at most vfs.MaxKeptHandles, released with the client.
func TestKeptHandleGoes(t *testing.T) {
	e, _ := countingEnv(t)
	freezeClock(e)
	v := onlyVFS(t, e)
	host := filepath.Join(e.root, "tmp/u")
	if err := os.WriteFile(host, []byte("u"), 0644); err != nil {
		t.Fatal(err)
	}
	e.readFileAt("/tmp/u")
	if v.KeptHandles() != 1 {
		t.Fatalf("%d kept handles after one read, want 1", v.KeptHandles())
	}
	e.ok(1, unix.SYS_UNLINKAT, atFDCWD64, e.mem.str("/tmp/u"), 0)
	if _, err := os.Lstat(host); !os.IsNotExist(err) {
		t.Errorf("unlinked file on the host: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.root, gofer.SillyDirName)); len(ents) != 0 {
		t.Errorf("silly-renamed files: %v", ents)
	}
	if v.KeptHandles() != 0 {
		t.Errorf("%d kept handles after the unlink, want 0", v.KeptHandles())
	}
	e.fails(unix.ENOENT, 1, unix.SYS_OPENAT, atFDCWD64, e.mem.str("/tmp/u"), unix.O_RDONLY, 0)

	for i := range vfs.MaxKeptHandles + 6 {
		p := fmt.Sprintf("tmp/b%d", i)
		if err := os.WriteFile(filepath.Join(e.root, p), []byte("b"), 0644); err != nil {
			t.Fatal(err)
		}
		e.readFileAt("/" + p)
	}
	if got := v.KeptHandles(); got != vfs.MaxKeptHandles {
		t.Errorf("%d kept handles after reading %d files, want %d", got, vfs.MaxKeptHandles+6, vfs.MaxKeptHandles)
	}
	reused := v.KeptReused()
	e.readFileAt("/tmp/b0") // pushed out: walked to again
	e.readFileAt(fmt.Sprintf("/tmp/b%d", vfs.MaxKeptHandles+5))
	if took := v.KeptReused() - reused; took != 1 {
		t.Errorf("%d opens took a kept handle, want 1 (the newest file's)", took)
	}
	v.ReleaseAll()
	if got := v.KeptHandles(); got != 0 {
		t.Errorf("%d kept handles after ReleaseAll", got)
	}
}

// TestKeptClosedDirHandles: the gofer handle of a closed directory
// description stays on its dentry for the next open of the directory
// (fts, in GNU rm -r, opens and lists each directory, closes it and opens
// it again at once), while nothing could have changed it, and only the
// latest few closed directories keep theirs: find opens each directory
// once, and their handles would push out those still to be used.
func TestKeptClosedDirHandles(t *testing.T) {
	const dirs = 6
	tests := []struct {
		name string
		// between runs after dirs d0..d5 were each opened, listed and
		// closed in turn; then reopen is opened and listed.
		between func(e *env)
		reopen  string
		// walks is the gofer Walks of the reopen (0: it took the kept
		// handle); want the names its listing holds.
		walks int
		want  []string
	}{
		{"the last one closed", func(*env) {}, "d5", 0, []string{"f"}},
		{"one of the latest few", func(*env) {}, "d2", 0, []string{"f"}},
		{"one closed before the latest few", func(*env) {}, "d1", 1, []string{"f"}},
		{"a name made in it meanwhile", func(e *env) {
			e.ok(1, unix.SYS_CLOSE, e.open("/tmp/k/d5/g", unix.O_CREAT|unix.O_WRONLY))
		}, "d5", 1, []string{"f", "g"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, rc := countingEnv(t)
			freezeClock(e)
			for i := 0; i < dirs; i++ {
				if err := os.MkdirAll(filepath.Join(e.root, fmt.Sprintf("tmp/k/d%d", i)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(e.root, fmt.Sprintf("tmp/k/d%d/f", i)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			list := func(name string) []string { return dirNames(e, "/tmp/k/"+name) }
			for i := 0; i < dirs; i++ {
				list(fmt.Sprintf("d%d", i))
			}
			tc.between(e)
			rc.take()
			got := list(tc.reopen)
			if walks := rc.take()["Walk"]; walks != tc.walks {
				t.Errorf("the open of %s made %d gofer Walks, want %d", tc.reopen, walks, tc.walks)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s lists %q, want %q", tc.reopen, got, tc.want)
			}
			if n := onlyVFS(t, e).KeptHandles(); n > vfs.MaxKeptClosedDirs+1 {
				t.Errorf("%d handles kept after %d directories closed, want at most %d", n, dirs+1, vfs.MaxKeptClosedDirs+1)
			}
		})
	}
}
