package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Posted fcntl(F_SETFL) of a regular file (docs/COMPATIBILITY.md,
// "Pipelined calls"), a directory or /dev/null (pipeFile.unpollable).
//
// Go's os.Open puts every file it opens in non-blocking mode for its
// poller and, when the poller refuses a regular file or a directory,
// back (F_GETFL, F_SETFL, epoll_ctl, F_GETFL, F_SETFL): two forwarded
// calls an open. On such a file O_NONBLOCK changes no read or write, so
// F_SETFL that changes only that flag cannot fail and tells nothing: it
// is posted
// after the client sets the flags in its copy of the description's
// (pipelineState.files), and F_GETFL answers from that copy
// (statusFlagsOnClient). While such a call has no reply the records of
// the description that arrive are older than it: they leave the copy's
// flags as they are (pipelineState.setflPosted), and a posted open's
// provisional description hands its flags and count to the server's
// when the open's reply names it (settleSetfl). One that changes nothing
// is answered without being sent.
//
// Unlike most posted calls, a process with several threads posts it too
// (Go's processes always have several), while no close, close_range,
// dup2, dup3 or execve of another thread is in flight (threadorder.go).
// The fd table must be the process's alone (another process could
// change it at any time).

// setflPostable are the flags F_SETFL may change on Linux.
const setflPostable = unix.O_APPEND | unix.O_NONBLOCK | unix.O_ASYNC | unix.O_DIRECT | unix.O_NOATIME

// postSetfl posts fcntl(fd, F_SETFL, args[2]) when it changes only
// O_NONBLOCK of an unpollable description, or answers it when it
// changes nothing (see above).
func (t *task) postSetfl(sysno uintptr, args [6]uint64) (uint64, unix.Errno, bool) {
	p := t.proc
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	ps := &t.c.pipe
	desc, old, verdict := t.c.decideSetfl(p, int32(args[0]), uint32(args[2]))
	switch verdict {
	case setflForward:
		return 0, 0, false
	case setflUnchanged:
		t.cached = true
		return 0, 0, true
	}
	if !t.post(sysno, args, nil, func(*pb.Reply) { ps.setflDone(desc, -1) }) {
		ps.setflDone(desc, int64(old))
		return 0, 0, false
	}
	return 0, 0, true
}

// setflVerdict is what becomes of F_SETFL(fd, arg) by process p.
type setflVerdict int

const (
	// setflForward: sent, and waited for.
	setflForward setflVerdict = iota
	// setflUnchanged: changes nothing; answered 0.
	setflUnchanged
	// setflPost: the copy's flags are set, the call is to be posted.
	setflPost
)

// decideSetfl decides F_SETFL(fd, arg) by process p, and for setflPost
// sets the flags in the client's copy and counts the call posted:
// desc is the description, old its flags before. Precondition:
// p.callOrder is held.
func (c *client) decideSetfl(p *process, fd int32, arg uint32) (desc uint64, old uint32, v setflVerdict) {
	if !p.othersQuietLocked(0, false) {
		// A removal another thread sent may run before this call.
		return 0, 0, setflForward
	}
	desc, ok := c.ids.soleFD(p.pid, fd)
	if !ok {
		return 0, 0, setflForward
	}
	ps := &c.pipe
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if desc, ok = ps.currentLocked(desc); !ok {
		return 0, 0, setflForward
	}
	f, known := ps.files[desc]
	old = f.flags
	flags := old&^setflPostable | arg&setflPostable
	switch {
	case !known || !f.unpollable() || old&(unix.O_PATH|unix.O_ASYNC) != 0 || (flags^old)&^unix.O_NONBLOCK != 0:
		return 0, 0, setflForward
	case flags == old:
		return desc, old, setflUnchanged
	}
	f.flags = flags
	ps.files[desc] = f
	if ps.setflPosted == nil {
		ps.setflPosted = make(map[uint64]int)
	}
	ps.setflPosted[desc]++
	return desc, old, setflPost
}

// setflDone ends a posted F_SETFL of description desc: at its reply
// (restore -1), or with the flags to restore when it could not be
// posted.
func (ps *pipelineState) setflDone(desc uint64, restore int64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	desc, ok := ps.currentLocked(desc)
	if !ok {
		return // its open failed: settleSetfl dropped its count
	}
	if ps.setflPosted[desc]--; ps.setflPosted[desc] <= 0 {
		delete(ps.setflPosted, desc)
	}
	if f, ok := ps.files[desc]; ok && restore >= 0 {
		f.flags = uint32(restore)
		ps.files[desc] = f
	}
}

// settleSetfl notes that the reply of the posted open of provisional
// description prov named real, the server's (0: the open failed), in
// openDone before the fd names real; a thread that looked prov up in
// the fd table before then finds real from here on (currentLocked). The
// posted F_SETFLs of prov move to real: the records of real folded
// with that reply or later are older than them, so real takes prov's
// flags, and its records' are ignored until their replies.
func (ps *pipelineState) settleSetfl(prov, real uint64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.settled == nil {
		ps.settled = make(map[uint64]uint64)
	}
	if len(ps.settled) >= maxProvisional {
		for p := range ps.settled {
			if p+maxProvisional/2 < prov {
				delete(ps.settled, p)
			}
		}
	}
	ps.settled[prov] = real
	n := ps.setflPosted[prov]
	if n == 0 {
		return
	}
	delete(ps.setflPosted, prov)
	if real == 0 {
		return
	}
	if ps.setflPosted == nil {
		ps.setflPosted = make(map[uint64]int)
	}
	ps.setflPosted[real] += n
	f, ok := ps.files[real]
	if !ok {
		// Its record comes with a later reply: until then the
		// provisional copy is what the client knows of it, and that
		// record keeps these flags.
		f = ps.files[prov]
		f.leased = false
	}
	f.flags = ps.files[prov].flags
	ps.files[real] = f
}
