package server

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Leases ahead (docs/ARCHITECTURE.md, "The client's read cache"; the
// client's side: sentry/client/dataahead.go).
//
// A waited read or sendfile of a file the client opened posted, from a
// listing's answer (cat f*), may name the files the process is likely to
// open and read next (Syscall.ahead_names: the names after it in the
// listing). The server opens each as the process would, read-only, and
// grants a read lease on it as it would at a read of it
// (leaseContent: registered before the read, so a change in between
// fails the grant), sent with no description in Reply.ahead_leases, but
// naming the file by its inode number as its descriptions' records do
// (ReadLease.ino, FileState.ino: the gofer's, which a server restart
// keeps). The client attaches the lease to the description its posted
// open of the same inode makes, so that the process's reads and
// sendfiles of it are answered and posted without a round trip, and
// knows that description's file by the number: a posted copy into
// another file (cat f* > out) holds none of its reads back.
// Each description opened here is released at once: its gofer handle
// stays on the dentry (vfs/kept.go), which the process's own open takes,
// so the files cost the gofer no more calls than the process's opens and
// reads did.

// maxDataAhead bounds the files one call asks leases ahead for: as
// many as a client keeps handles (vfs.MaxKeptHandles), each file's kept
// for the process's own open (pushed out after the handles closed
// descriptions kept).
const maxDataAhead = vfs.MaxKeptHandles

// dataAheadMaxSize bounds the size of a file leased ahead: the whole
// file, as an open's lease takes it (leaseWholeFile); a larger one would
// be leased a window the process may not read. (64 KiB before: cp -r of
// c++/12 waited for the fstat of each of its 38 larger sources, whose
// reply brought the same whole-file lease.)
const dataAheadMaxSize = leaseWholeFile

// dataAheadBytes bounds the data one call's leases ahead carry: its reply
// waits for them, and the client keeps them.
const dataAheadBytes = 2 << 20

// dataAheadBudget bounds the time one call spends granting leases ahead
// (its reply waits for them).
const dataAheadBudget = 200 * time.Millisecond

// dataAheadCalls are the calls whose reply may carry leases ahead (the
// client's dataAheadCalls).
var dataAheadCalls = map[int32]bool{
	unix.SYS_READ: true, unix.SYS_READV: true, unix.SYS_PREAD64: true, unix.SYS_PREADV: true, unix.SYS_SENDFILE: true,
	unix.SYS_COPY_FILE_RANGE: true, unix.SYS_FSTAT: true, unix.SYS_NEWFSTATAT: true,
}

// grantLeasesAhead adds to c's reply the read leases ahead its call
// asked for (names), when its client takes leases now.
func grantLeasesAhead(k *kernel.Kernel, c *kernel.Task, names []string) {
	h := k.LeaseHolder
	if h == nil || c.Reply == nil || len(names) == 0 || !dataAheadCalls[c.Sysno] || h.Disabled() || k.Inotify.Any() {
		return
	}
	if len(names) > maxDataAhead {
		names = names[:maxDataAhead]
	}
	// The opens walk as the caller: its credentials, cwd and root, and
	// nothing of the call's own context (its path lease, its memory).
	oc := &kernel.Task{Kernel: k, Thread: c.Thread, Sysno: unix.SYS_OPENAT, Intr: c.Intr, Dead: c.Dead}
	defer oc.UnpinAll()
	deadline := time.Now().Add(dataAheadBudget)
	bytes := 0
	for _, name := range names {
		if time.Now().After(deadline) || bytes >= dataAheadBytes || h.Disabled() {
			return
		}
		if l := leaseAhead(k, h, oc, name); l != nil {
			if c.Reply.AheadLeases == nil {
				c.Reply.AheadLeases = &sentrypb.AheadLeases{}
			}
			c.Reply.AheadLeases.Leases = append(c.Reply.AheadLeases.Leases, l)
			bytes += len(l.Data)
		}
	}
}

// leaseAhead opens path for oc's process (syscalls.OpenAhead) and grants
// a lease on its file if it is small and k holds none on it yet.
func leaseAhead(k *kernel.Kernel, h *readlease.Holder, oc *kernel.Task, path string) (l *sentrypb.ReadLease) {
	f, err := syscalls.OpenAhead(oc, path)
	if err != nil {
		return nil
	}
	defer f.DecRef()
	g, ok := f.Impl.(*vfs.GoferFile)
	d := vfs.DentryOf(f)
	if !ok || g.Memfd != nil || d == nil {
		return nil
	}
	dev, ino, known := k.Attrs.InodeOf(g.Handle)
	if !known {
		return nil
	}
	key := readlease.Key{Dev: dev, Ino: ino}
	if _, live := k.ReadLeases.Live(h, key); live {
		return nil // the client holds it
	}
	if size, sized := k.Attrs.SizeOf(g.Handle); sized && size > dataAheadMaxSize {
		return nil
	}
	if l = leaseContent(k, h, g, d, key, 0, false); l != nil {
		// The file as its descriptions' records name it: the client
		// tells by it whether a posted write may be to this file.
		l.Ino = kernel.FileIno(d)
	}
	return l
}
