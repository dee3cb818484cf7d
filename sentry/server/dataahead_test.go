package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// readAhead makes a read of fd asking leases ahead for paths
// (Syscall.ahead_names) and returns its reply.
func (e *env) readAhead(fd, buf uint64, paths ...string) *sentrypb.Reply {
	e.t.Helper()
	a := [6]uint64{fd, buf, 512}
	var inputs []*sentrypb.Region
	for _, r := range sysabi.Inputs(unix.SYS_READ, a, e.mem) {
		inputs = append(inputs, &sentrypb.Region{Addr: r.Addr, Data: r.Data})
	}
	r := e.call(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: unix.SYS_READ, Args: a[:],
		Inputs: inputs, LeaseWanted: true, AheadNames: sentrypb.BytesList(paths)}}})
	e.mem.apply(r.Outputs)
	return r
}

// TestLeasesAhead: a read asking leases ahead (Syscall.ahead_names) is
// granted one, with the file's data and its inode's stat and no
// description, for each path that names a small regular file the
// process may read and the client holds no lease on; the process's
// later open of such a file takes the handle the server's open kept
// (no gofer Walk).
func TestLeasesAhead(t *testing.T) {
	releasesInBatchesOnly(t)
	e, rc := leasingEnv(t)
	freezeClock(e)
	dir := filepath.Join(e.root, "tmp", "ahead")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, size int, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("first", 100, 0o644)
	write("small", 3000, 0o644)
	write("other", 10, 0o644)
	write("empty", 0, 0o644)
	write("big", dataAheadMaxSize+1, 0o644)
	write("secret", 10, 0o600)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("small", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := e.mem
	// The process runs as a user that may not read "secret".
	e.ok(1, unix.SYS_SETRESGID, 1000, 1000, 1000)
	e.ok(1, unix.SYS_SETRESUID, 1000, 1000, 1000)
	fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/ahead/first"), unix.O_RDONLY, 0))
	buf := m.zeros(512)
	tests := []struct {
		name, path string
		leased     bool
	}{
		{"a small regular file", "/tmp/ahead/small", true},
		{"one by a path relative to the cwd", "tmp/ahead/other", true},
		{"the same file again (its lease is live)", "/tmp/ahead/small", false},
		{"the file read (its lease came with the read)", "/tmp/ahead/first", false},
		{"an empty file (no blocks)", "/tmp/ahead/empty", false},
		{"a file over the bound", "/tmp/ahead/big", false},
		{"a file the process may not read", "/tmp/ahead/secret", false},
		{"a directory", "/tmp/ahead/sub", false},
		{"a symbolic link (not followed)", "/tmp/ahead/link", false},
		{"a FIFO (not opened)", "/tmp/ahead/fifo", false},
		{"a missing name", "/tmp/ahead/missing", false},
	}
	leases := map[string]*sentrypb.ReadLease{}
	for _, tc := range tests {
		e.ok(1, unix.SYS_LSEEK, fd, 0, unix.SEEK_SET)
		r := e.readAhead(fd, buf, tc.path)
		if r.Errno != 0 {
			t.Fatalf("%s: read: %v", tc.name, unix.Errno(r.Errno))
		}
		if got := len(r.AheadLeases.GetLeases()); got != map[bool]int{false: 0, true: 1}[tc.leased] {
			t.Errorf("%s: %d leases ahead, want leased %v", tc.name, got, tc.leased)
			continue
		}
		if !tc.leased {
			continue
		}
		l := r.AheadLeases.Leases[0]
		leases[tc.path] = l
		var host unix.Stat_t
		if err := unix.Stat(filepath.Join(e.root, tc.path), &host); err != nil {
			t.Fatal(err)
		}
		var st linux.Stat
		st.UnmarshalBytes(l.Stat)
		if l.File != 0 || l.Attach || l.Id == 0 || l.TtlMs == 0 || st.Ino != host.Ino || l.Ino != host.Ino || l.Size != uint64(host.Size) || len(l.Data) != int(host.Size) {
			t.Errorf("%s: lease %+v (ino %d), want a whole-file lease of ino %d, %d bytes, no description", tc.name, l, st.Ino, host.Ino, host.Size)
		}
	}
	// The process's own open of a file leased ahead walks nothing: the
	// dentry kept the handle of the server's open.
	rc.take()
	r := e.sys(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/ahead/small"), unix.O_RDONLY, 0)
	if r.Errno != 0 {
		t.Fatalf("open: %v", unix.Errno(r.Errno))
	}
	if got := rc.take(); got["Walk"] != 0 || got["Open"] != 0 {
		t.Errorf("the open of a file leased ahead made gofer calls %s, want no Walk or Open", fmtCounts(got))
	}
	// The lease named the file by its inode number as the open's record
	// does, whether or not the gofer gave a handle: the client knows the
	// description's file by it (a posted write to another file holds no
	// read of it back).
	desc := fdRecordFile(t, r.State, int32(r.Ret))
	var st *sentrypb.FileState
	for _, rec := range r.State {
		if f := rec.GetFile(); f != nil && desc != 0 && f.Id == desc {
			st = f
		}
	}
	var host unix.Stat_t
	if err := unix.Stat(filepath.Join(e.root, "/tmp/ahead/small"), &host); err != nil {
		t.Fatal(err)
	}
	l := leases["/tmp/ahead/small"]
	switch {
	case st == nil:
		t.Errorf("no record of the open's description %d", desc)
	case st.Ino != host.Ino:
		t.Errorf("the open's record names inode %d, the file is %d", st.Ino, host.Ino)
	case l == nil:
		t.Errorf("no lease ahead of /tmp/ahead/small")
	case l.Ino != st.Ino:
		t.Errorf("the lease ahead names inode %d, the open's record %d", l.Ino, st.Ino)
	}
}

// TestLeasesAheadBytes: files up to leaseWholeFile are leased ahead
// whole, and one call's leases ahead stop once they carry dataAheadBytes
// (the 11th file of 200,000 bytes passes 2 MiB).
func TestLeasesAheadBytes(t *testing.T) {
	releasesInBatchesOnly(t)
	e, _ := leasingEnv(t)
	freezeClock(e)
	dir := filepath.Join(e.root, "tmp", "aheadbytes")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for i, size := range append([]int{100}, slices.Repeat([]int{200000}, 20)...) {
		name := fmt.Sprintf("f%02d", i)
		if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte{byte(i)}, size), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, "/tmp/aheadbytes/"+name)
	}
	m := e.mem
	fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(paths[0]), unix.O_RDONLY, 0))
	r := e.readAhead(fd, m.zeros(512), paths[1:]...)
	if r.Errno != 0 {
		t.Fatalf("read: %v", unix.Errno(r.Errno))
	}
	ls := r.AheadLeases.GetLeases()
	if len(ls) != 11 {
		t.Errorf("%d leases ahead of 20 files of 200,000 bytes, want 11 (2 MiB)", len(ls))
	}
	for i, l := range ls {
		if len(l.Data) != 200000 || l.Size != 200000 || l.Data[0] != byte(i+1) {
			t.Errorf("lease ahead %d: %d bytes of a file of %d, first %d; want f%02d whole", i, len(l.Data), l.Size, l.Data[0], i+1)
		}
	}
}

// TestLeasesAheadKeptThroughCopies: the handles of the files a call
// leased ahead stay kept until the process opens each (cp -r: open,
// copy, close, file after file, in the listing's order), though each
// close keeps the closed description's handle too (vfs.MaxKeptHandles):
// those still to be used go last. Pushed out oldest first, a batch as
// large as the bound had the close of the asking file push out the next
// file's handle, and each copy's close the one after it: every source
// was walk-opened twice.
func TestLeasesAheadKeptThroughCopies(t *testing.T) {
	releasesInBatchesOnly(t)
	e, rc := leasingEnv(t)
	freezeClock(e)
	dir := filepath.Join(e.root, "tmp", "copied")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const files = 2*vfs.MaxKeptHandles + 1
	var paths []string
	for i := 0; i < files; i++ {
		name := fmt.Sprintf("f%03d", i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, "/tmp/copied/"+name)
	}
	m := e.mem
	fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(paths[0]), unix.O_RDONLY, 0))
	r := e.readAhead(fd, m.zeros(512), paths[1:]...)
	if r.Errno != 0 {
		t.Fatalf("read: %v", unix.Errno(r.Errno))
	}
	leased := len(r.AheadLeases.GetLeases())
	if leased == 0 || leased > maxDataAhead {
		t.Fatalf("%d leases ahead of %d asked, want 1 to %d", leased, files-1, maxDataAhead)
	}
	e.ok(1, unix.SYS_CLOSE, fd)
	rc.take()
	walked := 0
	for _, p := range paths[1 : 1+leased] {
		fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(p), unix.O_RDONLY, 0))
		got := rc.take()
		walked += got["Walk"] + got["Open"]
		e.ok(1, unix.SYS_CLOSE, fd)
	}
	if walked != 0 {
		t.Errorf("the opens of %d files leased ahead, each closed before the next, made %d gofer Walks and Opens, want none (their kept handles)", leased, walked)
	}
}
