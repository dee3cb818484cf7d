package client

import (
	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Listings at their end (docs/ARCHITECTURE.md, "The client's path cache").
//
// find, ls and every readdir loop call getdents64 until it returns 0;
// the last call asks the server nothing it does not know (busybox find:
// one per directory, 834 over /usr/include). The server's description
// keeps its listing's cursor, and once that reached the directory's end
// every getdents64 of it returns 0 (names made since are not listed)
// until an lseek moves it; the reply of the getdents64 that got there
// says so (Reply.listing_eof). The client then answers the next
// getdents64 of that description with 0 itself, while no lseek of it
// was made since, no other fd table holds the description (another
// process's lseek is not seen here), and the buffer is not NULL
// (EFAULT).
//
// In a process of several threads (the go command's os.ReadDir), another
// thread's lseek or getdents64 of the description may run on the server
// before or after the call: the reply marks the end only if no such call
// was in flight when the call was counted nor began since
// (process.aloneOnOffsetLocked), checked and marked under the process's
// callOrder; an lseek forgets the mark again once it is counted, so a
// mark noted just before the count goes too. A thread answers from the
// mark, under callOrder, while no other thread's call in flight may move
// the description's offset or remove an fd (othersQuietLocked).
//
// The marks (pathCache.listingEnds) follow a posted open's description
// to the server's (replacing any the server's id had), go with a close
// of any fd of the description and with a recovery.

// noteListingEnd records whether the description of t's getdents64 of fd
// is at its listing's end by the call's reply; oc is what beginOrdered
// counted of the call (ordered: it counted it, the process has several
// threads).
func (t *task) noteListingEnd(fd int32, reply *pb.Reply, oc orderedCall, ordered bool) {
	pc := t.c.pcache
	if pc == nil {
		return
	}
	desc, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if !ok {
		return
	}
	atEnd := reply.ListingEof && reply.Errno == 0
	if ordered {
		p := t.proc
		p.callOrder.Lock()
		defer p.callOrder.Unlock()
		atEnd = atEnd && p.aloneOnOffsetLocked(oc, desc)
	} else {
		atEnd = atEnd && t.singleThreaded()
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	delete(pc.aheadFresh, desc) // its listing began (dirahead.go)
	if !atEnd {
		delete(pc.listingEnds, desc)
		return
	}
	markDescription(&pc.listingEnds, desc)
}

// listingAtEnd answers t's getdents64 (args) with 0 if its description
// is at its listing's end (see above).
func (t *task) listingAtEnd(args [6]uint64) bool {
	pc := t.c.pcache
	if pc == nil || args[1] == 0 {
		return false
	}
	single := t.singleThreaded()
	if !single {
		if !t.threadedPosting() {
			return false
		}
		p := t.proc
		p.callOrder.Lock()
		defer p.callOrder.Unlock()
	}
	desc, ok := t.c.ids.soleDescription(t.proc.pid, int32(args[0]))
	if !ok || !single && !t.proc.othersQuietLocked(desc, true) {
		return false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if !pc.listingEnds[desc] {
		return false
	}
	t.answeredLocked(pc)
	return true
}

// forgetListingEnd forgets the mark of the description of fd, which t's
// lseek is about to move or t closes (all of them if the fd's
// description is not known). A closed description that lives on
// through another fd is asked again (the mark only saves a call).
func (t *task) forgetListingEnd(fd int32) {
	t.forgetDescriptionMark(fd, func(pc *pathCache) map[uint64]bool { return pc.listingEnds })
}

// markDescription adds desc to the marks *m (started afresh once they
// hold maxOpenPaths: a mark only saves a call). Precondition: the path
// cache's mu.
func markDescription(m *map[uint64]bool, desc uint64) {
	if *m == nil || len(*m) >= maxOpenPaths {
		*m = make(map[uint64]bool)
	}
	(*m)[desc] = true
}

// forgetDescriptionMark removes the description of t's fd from the
// marks of the path cache that marks picks (all of them if the fd's
// description is not known).
func (t *task) forgetDescriptionMark(fd int32, marks func(*pathCache) map[uint64]bool) {
	pc := t.c.pcache
	if pc == nil {
		return
	}
	desc, ok := t.c.ids.fileOf(t.proc.pid, fd)
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if !ok {
		clear(marks(pc))
		return
	}
	delete(marks(pc), desc)
}
