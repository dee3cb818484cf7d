package client

import (
	"cmp"
	"slices"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// An unsent posted open moved to its dup's fd (docs/ARCHITECTURE.md,
// "fts walks").
//
// fts (GNU find, rm -r) opens each directory relative to its parent's
// fd (openat(parent, name) = 3, posted: postopen.go), dups the new fd
// (fcntl(3, F_DUPFD_CLOEXEC, 3) = 4, posted: fdpipe.go), lists it through
// fd 3 (answered from a listing ahead, whose posted getdents64 only
// moves the cursor: dirahead.go) and closes fd 3, keeping fd 4: three
// posted calls and a close a directory for one open. When the dup names
// the fd of the task's newest unsent open, nothing was posted since but
// that open, and the dup makes a free fd with the close-on-exec flag
// the open set, it is posted to be taken back (unsentOpen.dup). When fd
// 3's close then comes while the open, the dup and the listing's call
// are still unsent and the last calls posted, with nothing posted on fd
// 3 but that listing (no F_SETFD, no lseek: they would act on fd 4), the
// dup is taken back and the open and the listing's call are edited to
// name fd 4 (Syscall.install_fd, the getdents64's fd): the close is not
// sent either (remoteSession.DropPosted, under the send lock). The
// server then opens the same description at fd 4, with the same cursor
// and flags, and never sees fd 3, as it would have after the close; fd
// 4 was free there, as in the client's copy of the table when the dup
// took it. The open stays the task's newest unsent one, now of fd 4: a
// close of fd 4 that follows may take the open and its listing back
// (unpostOpen: an empty directory rm -r removes). A recovery re-sends the
// edited calls as they are. A listing's call that asks for listings
// ahead, sent at once otherwise, is held for that close (answerAhead),
// which sends it; it is never taken back. GNU find over /usr/include:
// posted calls 7,796 -> 6,407, 703 of 834 opens moved; rm -r of a copy:
// 14,358 -> 12,853, 747 of 833 (TestFtsDupMove).

// unsentDup is a posted dup of an unsent open's fd that may be taken back
// when that fd is closed (moveOpenToDup).
type unsentDup struct {
	call *pb.Call
	// fd is the dup's new fd, cloexec its close-on-exec flag.
	fd      int32
	cloexec bool
}

// dupOfUnsentOpen returns the task's newest unsent open if a dup of fd
// oldfd of description desc (in the task's table) to newfd, with
// close-on-exec flag cloexec, which replaced no open fd (replaced), may
// move that open there when oldfd is closed (see above).
func (t *task) dupOfUnsentOpen(desc uint64, oldfd int32, cloexec, replaced bool) *unsentOpen {
	o := t.unsentOpens.top()
	if o == nil || replaced || o.po.desc != desc || o.po.fd != oldfd || o.cloexec != cloexec ||
		o.dup != nil || o.listing != nil || o.nSeeks != 0 || o.call.Seq != t.c.conn.issued.Load() {
		return nil
	}
	return o
}

// moveOpenToDup moves o, the unsent open of fd o.po.fd of table, which
// is being closed (postClose took the fd), to the fd of its dup (see
// above), and reports whether it did: the close is then not sent, and o
// is the task's newest unsent open again, of the dup's fd.
func (t *task) moveOpenToDup(table uint64, o *unsentOpen) bool {
	// The dup was made with the open's close-on-exec flag
	// (dupOfUnsentOpen); a call posted on either fd since (an F_SETFD,
	// an lseek: unsentOpen.seeks) is in the queue among tail's calls,
	// and the queue's check refuses it.
	d, closed := o.dup, o.po.fd
	if d == nil {
		return false
	}
	if o.listingAsks {
		// Held for this close (answerAhead): the server lists ahead
		// now, whether the open moved or not.
		defer t.c.conn.sendPosted()
	}
	tail := make([]*pb.Call, 0, 3)
	tail = append(tail, o.call, d.call)
	if o.listing != nil {
		tail = append(tail, o.listing)
	}
	// In the order posted, as the queue holds them: the listing may
	// come before the dup.
	slices.SortFunc(tail, func(a, b *pb.Call) int { return cmp.Compare(a.Seq, b.Seq) })
	open, listing := o.call.GetSyscall(), o.listing.GetSyscall()
	// Under the send lock: the open's reply (openDone) reads po.fd.
	edit := func() {
		*open.InstallFd, o.po.fd = d.fd, d.fd
		if listing != nil {
			listing.Args[0] = uint64(uint32(d.fd))
		}
	}
	if open.InstallFd == nil || !t.c.conn.DropPosted(tail, d.call, edit) {
		return false
	}
	// The dup's count of posted calls on its fd is the open's now; the
	// open's on the closed fd goes.
	t.c.ids.mu.Lock()
	t.c.ids.postedFD(table, closed, -1)
	t.c.ids.mu.Unlock()
	o.dup = nil
	if !o.listingAsks {
		// A listing that asked is never taken back: the walk waits
		// for what it asked.
		t.unsentOpens.push(o)
	}
	t.c.opens.movedToDup.Add(1)
	return true
}

// A dup closed unsent.
//
// GNU find dups the fd of each directory it is in
// (fcntl(dir, F_DUPFD_CLOEXEC, 0) = 4), handles one entry, and closes
// fd 4: a posted dup and a posted close each time, twice a directory.
// When the close of a dup of a gofer file's description (a directory's,
// a regular file's: any other close may do what the client does not
// know of, as an mqueue's ends the process's mq_notify registration)
// comes while the dup is unsent, no
// call posted after it names that fd or makes an fd the server would
// choose (a posted open names its own, Syscall.install_fd; an F_DUPFD
// takes the lowest free, which the dup held), and the process holds no
// lock (takeFD: the close would have waited), the dup is taken back
// (remoteSession.DropPostedIf) and the close not sent: the server never
// sees the fd, as after the close (the description's last close may come
// at the close of its old fd instead, a call the client already
// answered). Not in a sandbox that made an inotify instance. Such a dup is
// posted in the take-back tail (fdpipe.go pipelineDup), so the queue's
// timer, heartbeats and due sends leave it queued a few post delays: a
// directory's entries handled past the post delay no longer send it.

// postedDup is the task's newest posted dup (task.lastDup).
type postedDup struct {
	call  *pb.Call
	table uint64
	fd    int32
}

// dropDup takes back the task's newest posted dup if it made fd of
// table, which the caller is closing (postClose took the fd), and it may
// (see above); the close is then not sent either.
func (t *task) dropDup(table uint64, fd int32) bool {
	d := t.lastDup
	if d.call == nil || d.table != table || d.fd != fd {
		// The close of another fd (find closes the directory's own
		// fd before the dup's) leaves it.
		return false
	}
	t.lastDup = postedDup{}
	if t.c.inotifyUsed.Load() {
		return false
	}
	if !t.c.conn.DropPostedIf(d.call, func(c *pb.Call) bool { return fdNeutral(c, fd) }) {
		return false
	}
	// The dup's count of posted calls on fd goes with it.
	t.c.ids.mu.Lock()
	t.c.ids.postedFD(table, fd, -1)
	t.c.ids.mu.Unlock()
	t.c.opens.dupsDropped.Add(1)
	return true
}

// fdNeutral says whether posted call c neither names fd nor makes an fd
// the server chooses: whether it does the same with fd open or not
// (dropDup). Only the calls fts's walk posts between a dup and its
// close are known so (and a write of another fd: find's output, flushed
// in the middle of a directory).
func fdNeutral(c *pb.Call, fd int32) bool {
	sc := c.GetSyscall()
	if sc == nil || len(sc.Args) < 3 || int32(sc.Args[0]) == fd {
		return false
	}
	switch uintptr(sc.Sysno) {
	case unix.SYS_OPENAT:
		return sc.InstallFd != nil && *sc.InstallFd != fd
	case unix.SYS_GETDENTS64, unix.SYS_CLOSE, unix.SYS_UNLINKAT, unix.SYS_LSEEK, unix.SYS_WRITE:
		return true
	case unix.SYS_FCNTL:
		return sc.Args[1] == unix.F_SETFD || sc.Args[1] == unix.F_SETFL
	}
	return false
}
