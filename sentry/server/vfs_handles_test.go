package server

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// fdsSettled returns the fds open once at most limit are, or after 5 s:
// closed files' handles are released in batches, after a delay.
func fdsSettled(t *testing.T, limit int) int {
	t.Helper()
	got := openFDs(t)
	for end := time.Now().Add(5 * time.Second); got > limit && time.Now().Before(end); got = openFDs(t) {
		time.Sleep(20 * time.Millisecond)
	}
	return got
}

// TestDentryHandlesBounded: looking up many files keeps a bounded number
// of gofer handles (each an fd of the gofer, in this process here), and a
// file whose handle was evicted is found again by walking from its parent.
// With path leases, an open's stat for its lease (after the handler) must
// not leave its dentry pinned: once every cached handle was pinned, a
// lookup evicted the handle it had just walked to and sent handle 0
// (EBADF).
func TestDentryHandlesBounded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lease bool
	}{{"plain", false}, {"path-lease", true}} {
		t.Run(tc.name, func(t *testing.T) { testDentryHandlesBounded(t, tc.lease) })
	}
}

func testDentryHandlesBounded(t *testing.T, lease bool) {
	e := started(t)
	if lease {
		e = secondClient(t, e, &sentrypb.Hello{PathLeases: true})
	}
	n := 3 * vfs.MaxDentryHandles
	dir := filepath.Join(e.root, "tmp", "many")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("f", i)), make([]byte, i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := openFDs(t)
	m := e.mem
	sb := m.zeros(144)
	statAll := func() {
		for i := range n {
			name := m.str(fmt.Sprint("/tmp/many/f", i))
			if lease {
				// An open asking for a path lease: its reply's
				// opened_stat is read after the handler.
				r := pathSys(e, unix.SYS_OPENAT, uint64(atFDCWD64), name, unix.O_RDONLY, 0)
				if r.Errno != 0 {
					t.Fatalf("open f%d: %v", i, unix.Errno(r.Errno))
				}
				e.ok(1, unix.SYS_CLOSE, uint64(r.Ret))
			}
			e.ok(1, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), name, sb, 0)
			if size := binary.LittleEndian.Uint64(m.bytes(sb+48, 8)); size != uint64(i) {
				t.Fatalf("f%d: size %d", i, size)
			}
		}
	}
	statAll()
	// Besides the dentries' handles, the opens' read-only handles kept
	// across their closes (vfs/kept.go): an O_PATH fd, a read fd and a
	// donated one each.
	limit := before + vfs.MaxDentryHandles + vfs.EvictBatch + 8
	if lease {
		limit += 3 * vfs.MaxKeptHandles
	}
	if got := fdsSettled(t, limit); got > limit {
		t.Fatalf("after looking up %d files this process has %d fds open (%d before): the dentry cache does not bound its gofer handles", n, got, before)
	}
	statAll() // every handle of the first pass was evicted by the second half
	// A file whose handle was evicted can be opened, read and removed.
	path := m.str("/tmp/many/f7")
	fd := uint64(e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), path, unix.O_RDONLY, 0))
	buf := m.zeros(16)
	if got := e.ok(1, unix.SYS_READ, fd, buf, 16); got != 7 {
		t.Fatalf("read f7: %d bytes", got)
	}
	e.ok(1, unix.SYS_CLOSE, fd)
	e.ok(1, unix.SYS_UNLINKAT, uint64(atFDCWD64), path, 0)
	e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), path, sb, 0)
	// The directory's own handle may have been evicted too: chdir and a
	// relative lookup still work.
	e.ok(1, unix.SYS_CHDIR, m.str("/tmp/many"))
	e.ok(1, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), m.str("f9"), sb, 0)
	if got := fdsSettled(t, limit); got > limit {
		t.Fatalf("%d fds open at the end (%d before)", got, before)
	}
}
