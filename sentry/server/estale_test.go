package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestResentCreationOfRemovedFile re-sends, to a successor server, calls
// that created a file and calls that then removed it, all executed by a
// server killed before their replies reached the client. The re-sent
// calls must get the first execution's results (Linux: the creation
// succeeded once, the removal succeeded), not ESTALE: the gofer answers
// them from its reply cache, and the file a cached creation made is gone.
// It runs over each way a server reaches the gofer: directly (no session:
// the dead server's handles stay), and through a goferclient.GoferConn, whose call
// stream is a gofer session the gofer ends, releasing the dead server's
// handles, when the server dies; and with the dead server given time to
// release the handles itself (released), as one that lived a little
// longer after the calls would.
func TestResentCreationOfRemovedFile(t *testing.T) {
	type step struct {
		name  string
		sysno uintptr
		args  func(m *appMem) []uint64
	}
	str := func(m *appMem, s string) uint64 { return m.str(s) }
	const wronly = unix.O_CREAT | unix.O_WRONLY | unix.O_EXCL
	shapes := []struct {
		name string
		// setup makes files under the root before the lost calls.
		setup func(root string) error
		steps []step
		// gone are paths that must not exist in the end, there paths
		// that must.
		gone, there []string
	}{
		{name: "mkdir+rmdir", steps: []step{
			{"mkdir", unix.SYS_MKDIR, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/d"), 0755} }},
			{"rmdir", unix.SYS_RMDIR, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/d")} }},
		}, gone: []string{"tmp/d"}},
		{name: "mkdir+rename+rmdir", steps: []step{
			{"mkdir", unix.SYS_MKDIR, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/d"), 0755} }},
			{"rename", unix.SYS_RENAME, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/d"), str(m, "/tmp/e")} }},
			{"rmdir", unix.SYS_RMDIR, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/e")} }},
		}, gone: []string{"tmp/d", "tmp/e"}},
		{name: "mkdir+rename", steps: []step{
			{"mkdir", unix.SYS_MKDIR, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/d"), 0755} }},
			{"rename", unix.SYS_RENAME, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/d"), str(m, "/tmp/e")} }},
		}, gone: []string{"tmp/d"}, there: []string{"tmp/e"}},
		{name: "create+unlink", steps: []step{
			// The file stays open (another thread removed it): the
			// gofer keeps the dead server's opened handle as an orphan.
			{"open", unix.SYS_OPENAT, func(m *appMem) []uint64 { return []uint64{uint64(atFDCWD64), str(m, "/tmp/f"), wronly, 0644} }},
			{"unlink", unix.SYS_UNLINK, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/f")} }},
		}, gone: []string{"tmp/f"}},
		{name: "symlink+unlink", steps: []step{
			{"symlink", unix.SYS_SYMLINK, func(m *appMem) []uint64 { return []uint64{str(m, "target"), str(m, "/tmp/s")} }},
			{"unlink", unix.SYS_UNLINK, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/s")} }},
		}, gone: []string{"tmp/s"}},
		{name: "mknod+unlink", steps: []step{
			{"mknod", unix.SYS_MKNOD, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/p"), unix.S_IFIFO | 0600, 0} }},
			{"unlink", unix.SYS_UNLINK, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/p")} }},
		}, gone: []string{"tmp/p"}},
		{name: "bind+unlink", steps: []step{
			{"socket", unix.SYS_SOCKET, func(m *appMem) []uint64 { return []uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0} }},
			{"bind", unix.SYS_BIND, func(m *appMem) []uint64 {
				sa := append([]byte{unix.AF_UNIX, 0}, "/tmp/sock\x00"...)
				return []uint64{3, m.alloc(sa), uint64(len(sa))}
			}},
			{"unlink", unix.SYS_UNLINK, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/sock")} }},
		}, gone: []string{"tmp/sock"}},
		{name: "link+unlink", setup: func(root string) error { return os.WriteFile(filepath.Join(root, "tmp/x"), []byte("x"), 0644) }, steps: []step{
			{"link", unix.SYS_LINK, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/x"), str(m, "/tmp/l")} }},
			{"unlink", unix.SYS_UNLINK, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/l")} }},
		}, gone: []string{"tmp/l"}, there: []string{"tmp/x"}},
		{name: "rename+unlink", setup: func(root string) error { return os.WriteFile(filepath.Join(root, "tmp/x"), []byte("x"), 0644) }, steps: []step{
			{"rename", unix.SYS_RENAME, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/x"), str(m, "/tmp/y")} }},
			{"unlink", unix.SYS_UNLINK, func(m *appMem) []uint64 { return []uint64{str(m, "/tmp/y")} }},
		}, gone: []string{"tmp/x", "tmp/y"}},
	}
	paths := []struct {
		name                 string
		donate, viaGoferConn bool
	}{
		{"direct", false, false},
		{"session", false, true},
		{"session-framed", true, true},
	}
	for _, p := range paths {
		for _, released := range []bool{false, true} {
			for _, sh := range shapes {
				name := p.name + "/" + sh.name
				if released {
					name += "/released"
				}
				t.Run(name, func(t *testing.T) {
					r := newReplayerVia(t, p.donate, p.viaGoferConn)
					r.start()
					if sh.setup != nil {
						if err := sh.setup(r.root); err != nil {
							t.Fatal(err)
						}
					}
					calls := make([]*sentrypb.Call, len(sh.steps))
					first := make([]*sentrypb.Reply, len(sh.steps))
					for i, s := range sh.steps {
						calls[i] = r.syscallCall(1, s.sysno, s.args(r.mem)...)
						first[i] = r.call(calls[i], true)
						if first[i].Errno != 0 {
							t.Fatalf("%s: errno %v", s.name, unix.Errno(first[i].Errno))
						}
					}
					if released {
						// Long enough for the dying server to send its
						// delayed Releases (goferclient.ReleaseQueue).
						time.Sleep(10 * releaseDelay)
					}
					r.recover(nil)
					for i, s := range sh.steps {
						again := r.call(calls[i], false)
						if again.Errno != first[i].Errno || again.Ret != first[i].Ret {
							t.Errorf("%s re-sent: ret %d errno %v, first ret %d errno %v", s.name, again.Ret, unix.Errno(again.Errno), first[i].Ret, unix.Errno(first[i].Errno))
						}
					}
					for _, g := range sh.gone {
						if _, err := os.Lstat(filepath.Join(r.root, g)); !os.IsNotExist(err) {
							t.Errorf("%s: %v, want it gone", g, err)
						}
					}
					for _, g := range sh.there {
						if _, err := os.Lstat(filepath.Join(r.root, g)); err != nil {
							t.Errorf("%s: %v", g, err)
						}
					}
					// The successor goes on: the names can be made again.
					r.ok(1, unix.SYS_MKDIR, r.mem.str("/tmp/d"), 0755)
					r.ok(1, unix.SYS_RMDIR, r.mem.str("/tmp/d"))
				})
			}
		}
	}
}
