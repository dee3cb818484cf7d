package client

import (
	"sync"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Writes behind on a socket (docs/COMPATIBILITY.md, "Pipelined calls";
// the server's side: sentry/server/fsimpl/inet/sendbehind.go).
//
// The reply of a read or write family call on a connected TCP socket of
// the client's netstack says how many bytes of posted writes the server
// takes from then on without blocking (Reply.send_room): it holds what
// the socket's send buffer cannot take yet behind it. A write(2),
// writev(2) or send(2) (flags MSG_NOSIGNAL, MSG_DONTWAIT) of at most that
// many bytes (less what was posted since) is posted, as a write to a regular file is written behind
// (writebehind.go), and returns its count: a request-response exchange
// then waits once a turn (for the read), not twice. The same conditions
// hold: the caller's process has one thread and its fd table is its own,
// so that the fd names the same description when the server runs the
// call. A posted write that fails (the peer reset the connection) keeps
// its error for the socket's next waited write.
//
// The posted write rides with the waited call after it (the read): in
// its socket frame, or inside its call channel's call
// (transport.StreamConn.StampChannel), whose goroutine on the server runs
// both; its reply comes back in the read's. The exchange costs one round
// trip a turn instead of two.

// maxSendRooms bounds the descriptions whose room is kept: past it the
// table starts again (a description with none waits for its next reply).
const maxSendRooms = 4096

// sendRooms is the room of the sockets that take writes behind. Its own
// lock (a leaf, taken by the receiving goroutine for posted replies).
type sendRooms struct {
	mu sync.Mutex
	// room is, by description, the bytes the server takes without
	// blocking, as the last reply carrying it said, less the bytes posted
	// since. Protected by mu.
	room map[uint64]uint64
	// posted is, by description, the bytes of posted writes without a
	// reply yet: a reply's room is less them, whether they ran before it
	// or not. Protected by mu.
	posted map[uint64]uint64
}

// reset forgets every room (a recovery: the new server's connections are
// new, or lost).
func (sr *sendRooms) reset() {
	sr.mu.Lock()
	sr.room = nil
	sr.mu.Unlock()
}

// take reserves n bytes of file's room for a posted write, if it has them.
func (sr *sendRooms) take(file, n uint64) bool {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.room[file] < n {
		return false
	}
	sr.room[file] -= n
	if sr.posted == nil {
		sr.posted = make(map[uint64]uint64)
	}
	sr.posted[file] += n
	return true
}

// done is the reply (nil: not posted) of a posted write of n bytes to
// file: a failed one leaves the socket no room until a waited call's
// reply (which returns the error) says so again.
func (sr *sendRooms) done(file, n uint64, r *pb.Reply) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.posted[file] <= n {
		delete(sr.posted, file)
	} else {
		sr.posted[file] -= n
	}
	if r == nil || r.Errno != 0 {
		delete(sr.room, file)
	}
}

// set keeps room, a waited call's reply's send_room for file (0: none).
func (sr *sendRooms) set(file, room uint64) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if posted := sr.posted[file]; room <= posted {
		delete(sr.room, file)
		return
	}
	if _, kept := sr.room[file]; !kept && len(sr.room) >= maxSendRooms {
		sr.room = nil
	}
	if sr.room == nil {
		sr.room = make(map[uint64]uint64)
	}
	sr.room[file] = room - sr.posted[file]
}

// sendBehindFlags are the flags of a send(2) (sendto without an address)
// that may be sent behind: MSG_DONTWAIT changes nothing within the room.
const sendBehindFlags = unix.MSG_NOSIGNAL | unix.MSG_DONTWAIT

// sendBehind posts write(2), writev(2) or send(2) to a socket with room
// for it, if it may (see above), and returns its count.
func (t *task) sendBehind(sysno uintptr, args [6]uint64) (uint64, bool) {
	switch sysno {
	case unix.SYS_WRITE, unix.SYS_WRITEV:
	case unix.SYS_SENDTO:
		if args[4] != 0 || args[3]&^sendBehindFlags != 0 {
			return 0, false
		}
	default:
		return 0, false
	}
	if !t.singleThreaded() {
		return 0, false
	}
	file, ok := t.c.ids.soleFD(t.proc.pid, int32(args[0]))
	if !ok {
		return 0, false
	}
	sr := &t.c.sendRooms
	sr.mu.Lock()
	room := sr.room[file]
	sr.mu.Unlock()
	if room == 0 {
		return 0, false
	}
	inputs := sysabi.Inputs(sysno, args, appMemory{t})
	n, ok := writeCount(sysno, args, inputs)
	if !ok || n == 0 || !sr.take(file, n) {
		return 0, false
	}
	done := func(r *pb.Reply) { sr.done(file, n, r) }
	if !t.post(sysno, args, inputs, done) {
		done(nil)
		return 0, false
	}
	return n, true
}

// noteSendRoom keeps the send_room of a waited read or write family
// call's, or a connect's, reply for the description of its fd.
func (t *task) noteSendRoom(sysno uintptr, args [6]uint64, reply *pb.Reply) {
	switch sysno {
	case unix.SYS_READ, unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV, unix.SYS_SENDTO, unix.SYS_RECVFROM, unix.SYS_CONNECT:
	default:
		return
	}
	t.noteRoom(&t.c.sendRooms, int32(args[0]), reply.SendRoom)
}

// noteRoom keeps room, a waited call's reply's, in rooms for the
// description of t's fd, if no other process shares t's fd table.
func (t *task) noteRoom(rooms *sendRooms, fd int32, room uint64) {
	if room == 0 && !rooms.any() {
		return
	}
	if file, ok := t.c.ids.soleFD(t.proc.pid, fd); ok {
		rooms.set(file, room)
	}
}

// any reports whether some socket has room (a reply without room then
// need not look its description up).
func (sr *sendRooms) any() bool {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return len(sr.room) > 0
}
