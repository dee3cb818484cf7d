package server

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
)

// TestOpenOfReplacedName checks that an open of a name this client has
// cached opens what the name refers to now, after another client of the
// same server (or a process on the host, which no server sees) put
// another file there: the cached dentry is stale, and the open walks the
// name again as Linux does after a failed revalidation; it used to fail
// with ENOENT ("was replaced"). A read-only open through the handle the
// last read-only description kept (vfs/kept.go) sees a replacement by
// another party than this server once AttrTTL passed since the gofer last
// confirmed the name, as the attribute cache sees their changes.
func TestOpenOfReplacedName(t *testing.T) {
	tests := []struct {
		name string
		// replace puts a file holding "new" at /tmp/a.
		replace func(t *testing.T, e, e2 *env)
		flags   uint64
		// window says an open sees "old" until AttrTTL passed.
		window bool
	}{
		{"rename over by another client", func(t *testing.T, e, e2 *env) {
			e2.ok(1, unix.SYS_RENAMEAT, uint64(atFDCWD64), e2.mem.str("/tmp/b"), uint64(atFDCWD64), e2.mem.str("/tmp/a"))
		}, unix.O_RDONLY, false},
		{"rename over on the host", func(t *testing.T, e, e2 *env) {
			if err := os.Rename(filepath.Join(e.root, "tmp/b"), filepath.Join(e.root, "tmp/a")); err != nil {
				t.Fatal(err)
			}
		}, unix.O_RDONLY, true},
		{"rename over on the host, open for writing", func(t *testing.T, e, e2 *env) {
			if err := os.Rename(filepath.Join(e.root, "tmp/b"), filepath.Join(e.root, "tmp/a")); err != nil {
				t.Fatal(err)
			}
		}, unix.O_RDWR, false},
		{"rename over, open for writing", func(t *testing.T, e, e2 *env) {
			e2.ok(1, unix.SYS_RENAMEAT, uint64(atFDCWD64), e2.mem.str("/tmp/b"), uint64(atFDCWD64), e2.mem.str("/tmp/a"))
		}, unix.O_RDWR, false},
		{"rename over, O_CREAT open", func(t *testing.T, e, e2 *env) {
			e2.ok(1, unix.SYS_RENAMEAT, uint64(atFDCWD64), e2.mem.str("/tmp/b"), uint64(atFDCWD64), e2.mem.str("/tmp/a"))
		}, unix.O_RDWR | unix.O_CREAT, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			advance := freezeClock(e)
			m := e.mem
			for _, f := range []struct{ path, data string }{{"tmp/a", "old"}, {"tmp/b", "new"}} {
				if err := os.WriteFile(filepath.Join(e.root, f.path), []byte(f.data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Cache /tmp/a's dentry with an open, a read and a close.
			buf := m.zeros(8)
			fd := e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/a"), tc.flags, 0o644)
			if n := e.ok(1, unix.SYS_READ, uint64(fd), buf, 8); string(m.bytes(buf, int(n))) != "old" {
				t.Fatalf("first read: %q", m.bytes(buf, int(n)))
			}
			e.ok(1, unix.SYS_CLOSE, uint64(fd))
			e2 := secondClient(t, e, nil)
			tc.replace(t, e, e2)
			if tc.window {
				fd = e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/a"), tc.flags, 0o644)
				if n := e.ok(1, unix.SYS_READ, uint64(fd), buf, 8); string(m.bytes(buf, int(n))) != "old" {
					t.Errorf("read within AttrTTL of the replacement: %q, want \"old\"", m.bytes(buf, int(n)))
				}
				e.ok(1, unix.SYS_CLOSE, uint64(fd))
				advance(goferclient.AttrTTL)
			}
			fd = e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/a"), tc.flags, 0o644)
			if n := e.ok(1, unix.SYS_READ, uint64(fd), buf, 8); string(m.bytes(buf, int(n))) != "new" {
				t.Errorf("read after the replacement: %q, want \"new\"", m.bytes(buf, int(n)))
			}
			e.ok(1, unix.SYS_CLOSE, uint64(fd))
		})
	}
}
