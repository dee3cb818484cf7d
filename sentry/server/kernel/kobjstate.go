package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	ktime "gvisor.dev/gvisor/pkg/sentry/ktime"
	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/epoll"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/eventfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inotify"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/pidfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/signalfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/timerfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mqueue"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Replay state of kernel-object files (FileState.kobj): derived from the
// file kinds' accessors when their description is reported (kobjState,
// for state.go: eventfdState, unixState, ...), and rebuilt by
// restoreKobjFile (for restore_files.go, which then links epoll
// interests and socketpairs).

// kobjState is the kind and state of f's record when f is a kernel
// object whose state the kernel derives: eventfd, timerfd, signalfd,
// inotify, epoll, sockets, pidfds (ok false: none).
// Precondition: k.Mu is held.
func (k *Kernel) kobjState(c *replayCollection, f *fdesc.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState, bool) {
	switch impl := f.Impl.(type) {
	case *eventfd.File:
		kind, kobj := eventfdState(impl)
		return kind, kobj, true
	case *timerfd.File:
		kind, kobj := timerfdState(impl)
		return kind, kobj, true
	case *signalfd.File:
		kind, kobj := signalfdState(impl)
		return kind, kobj, true
	case *inotify.File:
		kind, kobj := k.InotifyState(impl)
		return kind, kobj, true
	case *epoll.File:
		kind, kobj := k.epollState(c, impl)
		return kind, kobj, true
	case *inet.File:
		kind, kobj := inetState(impl)
		return kind, kobj, true
	case *inet.HostFile:
		kind, kobj := hostInetState(impl)
		return kind, kobj, true
	case *netlink.File:
		kind, kobj := netlinkState(impl)
		return kind, kobj, true
	case *unixsock.File:
		kind, kobj := unixState(impl)
		return kind, kobj, true
	case *pidfd.File:
		kind, kobj := pidfdState(impl)
		return kind, kobj, true
	case *mqueue.File:
		return sentrypb.FileState_MQUEUE, &sentrypb.KernelObjectState{Mqueue: impl.Queue().ID()}, true
	}
	return 0, nil, false
}

// eventfdState is an eventfd's record, as answered calls left it.
func eventfdState(e *eventfd.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	count, owed, sem := e.State()
	return sentrypb.FileState_EVENTFD, &sentrypb.KernelObjectState{EventfdCount: count, EventfdOwed: owed, EventfdSemaphore: sem}
}

// epollState is an epoll instance's record: its interests in open
// descriptions. Precondition: k.Mu is held.
func (k *Kernel) epollState(c *replayCollection, ep *epoll.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	st := &sentrypb.KernelObjectState{}
	for _, in := range ep.Interests() {
		st.Epoll = append(st.Epoll, &sentrypb.EpollInterest{File: k.fileRefLocked(c, in.File), Fd: in.FD,
			Events: in.Events, Data: in.Data, Disabled: in.Disabled})
	}
	return sentrypb.FileState_EPOLL, st
}

// unixState is an AF_UNIX socket's record: its name, listening state
// and, for an end of a connection the mirror holds, the queued data as
// the calls answered left it (unixsock.Conn).
// Precondition: k.Mu is held.
func unixState(s *unixsock.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	s.Mu.Lock()
	st := &sentrypb.KernelObjectState{
		SocketFamily: unix.AF_UNIX, SocketType: int32(s.U.Type), SocketBound: []byte(s.BoundName),
		SocketListening: s.Backlog > 0, SocketBacklog: int32(s.Backlog), SocketConnected: s.U.Connected(),
		SocketPasscred: s.U.EP.Passcred(),
	}
	s.Mu.Unlock()
	if e := s.End.Load(); e != nil {
		cn := e.Conn
		cn.Mu.Lock()
		// A connection still in a listener's backlog (no accepted
		// side yet) is not rebuilt.
		if !cn.Broken && cn.Files[0] != nil && cn.Files[1] != nil {
			st.SocketConn, st.SocketSide = cn.ID, int32(e.Side)
			st.SocketQueued, st.SocketRead, st.SocketWritten = cn.ReplayLocked(e.Side)
		}
		cn.Mu.Unlock()
	}
	return sentrypb.FileState_SOCKET, st
}

// timerfdState is a timerfd's record.
func timerfdState(t *timerfd.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	_, s := t.Get()
	return sentrypb.FileState_TIMERFD, &sentrypb.KernelObjectState{TimerfdClock: t.ClockID(), TimerfdEnabled: s.Enabled,
		TimerfdNextNs: s.Next.Nanoseconds(), TimerfdPeriodNs: int64(s.Period)}
}

// timerfdSetting is the setting a restored timerfd gets.
func timerfdSetting(enabled bool, nextNS, periodNS int64) ktime.Setting {
	return ktime.Setting{Enabled: enabled, Next: ktime.FromNanoseconds(nextNS), Period: time.Duration(periodNS)}
}

// signalfdState is a signalfd's record.
func signalfdState(s *signalfd.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	return sentrypb.FileState_SIGNALFD, &sentrypb.KernelObjectState{SignalfdMask: s.Mask()}
}

// inetState is a netstack socket's record.
func inetState(s *inet.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	backlog := s.Backlog()
	st := &sentrypb.KernelObjectState{SocketFamily: int32(s.S.Family), SocketType: unix.SOCK_DGRAM}
	if s.S.Stream {
		st.SocketType = unix.SOCK_STREAM
	}
	if la, err := s.S.EP.GetLocalAddress(); err == nil && la.Port != 0 {
		st.SocketBound = socket.EncodeInetAddr(s.S.Family, la)
	}
	if s.S.Listening() {
		st.SocketListening, st.SocketBacklog = true, int32(backlog)
	}
	if ra, err := s.S.EP.GetRemoteAddress(); err == nil {
		st.SocketPeer, st.SocketConnected = socket.EncodeInetAddr(s.S.Family, ra), s.S.Stream
	} else if peer := s.ConnectPeer(); s.S.Stream && peer != nil {
		// A connect under way (a non-blocking one's EINPROGRESS), or
		// one that completed or failed since: the record is derived
		// at the connect's reply and not again when the handshake
		// ends, so it says connected to the connect's peer. Restored,
		// it is a lost connection, as an established one is.
		st.SocketPeer, st.SocketConnected = peer, true
	}
	if local, peer, lost := s.Lost(); lost {
		// Lost with an earlier server (a fresh endpoint): it stays a
		// lost connection, to the same peer.
		st.SocketConnected, st.SocketBound, st.SocketPeer = true, local, peer
	}
	return sentrypb.FileState_SOCKET, st
}

// restoreInetSocket rebuilds an AF_INET or AF_INET6 socket on the
// restored server's loopback stack: its bound address and port, a
// listener's backlog, a UDP socket's default destination. A TCP
// connection is not rebuilt (its peer's state and the bytes in flight
// were in the old stack): the socket comes back reset, its next I/O
// fails with ECONNRESET, then reads see end of file and writes EPIPE.
func (k *Kernel) restoreInetSocket(fs *sentrypb.FileState, st *sentrypb.KernelObjectState) (*fdesc.File, error) {
	stack, err := k.NetStack()
	if err != nil {
		return nil, err
	}
	is, err := stack.NewInet(int(st.SocketFamily), st.SocketType == unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	f := inet.New(is, 0)
	k.ChargeSocket(f, true)
	f.Flags.Store(fs.Flags)
	s := f.Impl.(*inet.File)
	if st.SocketConnected {
		s.SetLost(is.Family, st.SocketBound, st.SocketPeer)
		return f, nil
	}
	if len(st.SocketBound) > 0 {
		a, err := socket.ParseInetAddr(is.Family, st.SocketBound)
		if err == nil {
			is.EP.SocketOptions().SetReuseAddress(true)
			err = is.Bind(a)
		}
		if err != nil {
			k.Log.Warn("restore: inet socket not re-bound", "err", err)
			return f, nil
		}
	}
	if st.SocketListening {
		if err := kobj.TCPIPErr(is.EP.Listen(int(max(st.SocketBacklog, 1)))); err != nil {
			k.Log.Warn("restore: inet socket not listening again", "err", err)
		} else {
			s.SetBacklog(int(st.SocketBacklog))
		}
	}
	if len(st.SocketPeer) > 0 {
		if a, err := socket.ParseInetAddr(is.Family, st.SocketPeer); err == nil {
			if err := is.Connect(a); err != nil {
				k.Log.Warn("restore: UDP destination not set again", "err", err)
			}
		}
	}
	return f, nil
}

// hostInetState is a host socket's record.
func hostInetState(s *inet.HostFile) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	backlog, reuse := s.Backlog(), s.ReuseAddr()
	st := &sentrypb.KernelObjectState{SocketFamily: int32(s.S.Family), SocketType: unix.SOCK_DGRAM}
	if s.S.Stream {
		st.SocketType = unix.SOCK_STREAM
		st.SocketReuseAddr = reuse
	}
	if la, err := s.S.Name(false); err == nil && len(la) >= 4 && binary.BigEndian.Uint16(la[2:]) != 0 {
		st.SocketBound = la
	}
	if s.S.Listening() {
		st.SocketListening, st.SocketBacklog = true, int32(backlog)
	}
	if ra, err := s.S.Name(true); err == nil {
		st.SocketPeer, st.SocketConnected = ra, s.S.Stream
	} else if peer := s.ConnectPeer(); s.S.Stream && peer != nil {
		// A connect under way: as inetState.
		st.SocketPeer, st.SocketConnected = peer, true
	}
	if local, peer, lost := s.Lost(); lost {
		// Lost with an earlier server (a fresh socket): it stays a
		// lost connection, to the same peer.
		st.SocketConnected, st.SocketBound, st.SocketPeer = true, local, peer
	}
	return sentrypb.FileState_SOCKET, st
}

// restoreHostInetSocket rebuilds a host socket after a server failure:
// its bound address (a TCP socket can take it again although the old
// server's connections linger: socket.NewHostInet), a listener's backlog,
// a UDP socket's default destination. A TCP connection cannot come back
// (its peer saw the old server's socket close): the socket comes back
// reset, as restoreInetSocket's do.
func (k *Kernel) restoreHostInetSocket(fs *sentrypb.FileState, st *sentrypb.KernelObjectState) (*fdesc.File, error) {
	hs, err := socket.NewHostInet(int(st.SocketFamily), st.SocketType == unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	f := inet.NewHost(hs, 0)
	f.Flags.Store(fs.Flags)
	s := f.Impl.(*inet.HostFile)
	s.SetReuseAddr(hs.Stream && st.SocketReuseAddr)
	if st.SocketConnected {
		s.SetLost(hs.Family, st.SocketBound, st.SocketPeer)
		return f, nil
	}
	if len(st.SocketBound) > 0 {
		if err := bindRestored(hs, st.SocketBound, restoreBindWait); err != nil {
			k.Log.Warn("restore: host socket not re-bound", "err", err)
			return f, nil
		}
	}
	if st.SocketListening {
		backlog := int(max(st.SocketBacklog, 1))
		if err := hs.Listen(backlog); err != nil {
			k.Log.Warn("restore: host socket not listening again", "err", err)
		} else {
			s.SetBacklog(backlog)
		}
	}
	if len(st.SocketPeer) > 0 {
		if err := hs.Connect(st.SocketPeer); err != nil {
			k.Log.Warn("restore: UDP destination not set again", "err", err)
		}
	}
	return f, nil
}

// restoreBindWait bounds how long a restored host socket waits for its
// address to be free.
const restoreBindWait = 2 * time.Second

// bindRestored binds restored host socket hs to addr, waiting up to wait
// while it is in use: the predecessor's socket may still hold it, when
// the client recovered onto the same server (a missed heartbeat), whose
// old session's files are released as that session ends, not before the
// Restore.
func bindRestored(hs *socket.HostInet, addr []byte, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := hs.Bind(addr)
		if !errors.Is(err, unix.EADDRINUSE) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// netlinkState records the socket for recovery: it comes back bound to
// the same port, with its unread datagrams as the calls answered left
// them (netlink.File's Queued).
func netlinkState(n *netlink.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	return sentrypb.FileState_SOCKET, &sentrypb.KernelObjectState{SocketFamily: unix.AF_NETLINK,
		SocketType: unix.SOCK_RAW, SocketProtocol: int32(n.Protocol()), SocketBound: n.Sockaddr(), SocketQueued: n.Queued()}
}

func (k *Kernel) restoreNetlinkSocket(fs *sentrypb.FileState, st *sentrypb.KernelObjectState) (*fdesc.File, error) {
	r, ok := k.NetlinkRouter(int(st.SocketProtocol))
	if !ok {
		return nil, fmt.Errorf("netlink protocol %d: %w", st.SocketProtocol, unix.EINVAL)
	}
	f := netlink.New(r, int(st.SocketProtocol), 0)
	f.Flags.Store(fs.Flags)
	n := f.Impl.(*netlink.File)
	if len(st.SocketBound) >= netlink.SockaddrSize {
		n.SetPort(int32(binary.LittleEndian.Uint32(st.SocketBound[4:])))
	}
	if err := n.Restore(st.SocketQueued); err != nil {
		f.DecRef()
		return nil, fmt.Errorf("netlink socket's unread datagrams: %w", err)
	}
	return f, nil
}

// restoreKobjFile rebuilds an eventfd, an epoll instance (its interests
// come later: package kernel's Restore links them) or a socket.
func (k *Kernel) restoreKobjFile(rc *Task, fs *sentrypb.FileState) (*fdesc.File, error) {
	st := fs.Kobj
	if st == nil {
		return nil, fmt.Errorf("%v file without its state: %w", fs.Kind, unix.EINVAL)
	}
	switch fs.Kind {
	case sentrypb.FileState_EVENTFD:
		f, err := eventfd.Restore(st.EventfdCount, st.EventfdOwed, st.EventfdSemaphore, 0)
		if err != nil {
			return nil, err
		}
		f.Flags.Store(fs.Flags)
		return f, nil
	case sentrypb.FileState_TIMERFD:
		f, err := timerfd.OnClock(k.Clocks, st.TimerfdClock, 0)
		if err != nil {
			return nil, err
		}
		f.Flags.Store(fs.Flags)
		// Expirations since the recorded setting are counted again.
		f.Impl.(*timerfd.File).Set(timerfdSetting(st.TimerfdEnabled, st.TimerfdNextNs, st.TimerfdPeriodNs))
		return f, nil
	case sentrypb.FileState_SIGNALFD:
		f := signalfd.New(SignalfdClient{}, st.SignalfdMask, 0)
		f.Flags.Store(fs.Flags)
		return f, nil
	case sentrypb.FileState_PIDFD:
		return k.restorePidfd(fs, st), nil
	case sentrypb.FileState_EPOLL:
		f := epoll.New(0)
		f.Flags.Store(fs.Flags)
		return f, nil
	case sentrypb.FileState_MQUEUE:
		q, err := k.MQ.Reopen(st.Mqueue)
		if err != nil {
			return nil, err
		}
		return k.MQ.NewFile(q, int32(fs.Flags)), nil
	case sentrypb.FileState_SOCKET:
		if st.SocketFamily == unix.AF_NETLINK {
			return k.restoreNetlinkSocket(fs, st)
		}
		if st.SocketFamily == unix.AF_INET || st.SocketFamily == unix.AF_INET6 {
			if st.SocketType != unix.SOCK_STREAM && st.SocketType != unix.SOCK_DGRAM {
				return nil, fmt.Errorf("inet socket type %d: %w", st.SocketType, unix.EINVAL)
			}
			if k.HostNet {
				return k.restoreHostInetSocket(fs, st)
			}
			return k.restoreInetSocket(fs, st)
		}
		if st.SocketFamily != unix.AF_UNIX || !socket.ValidType(linux.SockType(st.SocketType)) {
			return nil, fmt.Errorf("socket family %d type %d: %w", st.SocketFamily, st.SocketType, unix.EINVAL)
		}
		return k.restoreUnixSocket(rc, fs, st)
	}
	return nil, fmt.Errorf("file kind %v: %w", fs.Kind, unix.EINVAL)
}

// restoreUnixSocket rebuilds an AF_UNIX socket: its name and listening
// state come back; a connection does not (its queued data and its peer
// are gone with the old server), so a connected socket comes back reset:
// its next read or write fails with ECONNRESET, as after a reset on
// Linux, and it then reads end of file.
func (k *Kernel) restoreUnixSocket(rc *Task, fs *sentrypb.FileState, st *sentrypb.KernelObjectState) (*fdesc.File, error) {
	stype := linux.SockType(st.SocketType)
	var u *socket.Unix
	creds := socket.Creds{Uid: 0, Gid: 0}
	if rc != nil {
		creds = unixsock.Creds(rc)
	}
	if st.SocketConn != 0 && (st.SocketSide == 0 || st.SocketSide == 1) {
		return k.restorePairEnd(fs, st, stype, creds)
	}
	if st.SocketConnected {
		a, b := socket.NewUnixPair(stype, creds)
		b.Release()
		u = a
	} else {
		u = socket.NewUnix(stype, creds)
	}
	f := unixsock.New(k, u, 0)
	k.ChargeSocket(f, true)
	f.Flags.Store(fs.Flags)
	s := f.Impl.(*unixsock.File)
	s.Reset = st.SocketConnected
	u.EP.SocketOptions().SetPassCred(st.SocketPasscred)
	if len(st.SocketBound) > 0 && !st.SocketConnected {
		a := socket.FromTransportName(string(st.SocketBound))
		if err := k.rebindUnix(rc, s, a); err != nil {
			k.Log.Warn("restore: socket name not re-bound", "name", a.Name, "abstract", a.Abstract, "err", err)
		} else if st.SocketListening {
			if err := kobj.SysErr(u.EP.Listen(kobj.Ctx(), int(max(st.SocketBacklog, 1)))); err != nil {
				k.Log.Warn("restore: socket not listening again", "name", a.Name, "err", err)
			} else {
				s.Backlog = int(max(st.SocketBacklog, 1))
			}
		}
	}
	return f, nil
}

// restorePairEnd rebuilds one end of a socketpair.
func (k *Kernel) restorePairEnd(fs *sentrypb.FileState, st *sentrypb.KernelObjectState, stype linux.SockType, creds socket.Creds) (*fdesc.File, error) {
	if k.RestorePairs == nil {
		k.RestorePairs = make(map[uint64]*RestoredPair)
	}
	rp := k.RestorePairs[st.SocketConn]
	if rp == nil {
		a, b := socket.NewUnixPair(stype, creds)
		rp = &RestoredPair{Conn: unixsock.NewConn(st.SocketConn, stype == linux.SOCK_STREAM), Ends: [2]*socket.Unix{a, b}}
		k.RestorePairs[st.SocketConn] = rp
	}
	side := int(st.SocketSide)
	if rp.Files[side] != nil {
		return nil, fmt.Errorf("socketpair %d side %d restored twice: %w", st.SocketConn, side, unix.EINVAL)
	}
	f := unixsock.New(k, rp.Ends[side], 0)
	k.ChargeSocket(f, true)
	f.Flags.Store(fs.Flags)
	s := f.Impl.(*unixsock.File)
	s.End.Store(&unixsock.ConnEnd{Conn: rp.Conn, Side: side})
	rp.Conn.Mu.Lock()
	rp.Conn.Files[side] = f
	rp.Conn.RestoreCountsLocked(side, st.SocketRead, st.SocketWritten, st.SocketQueued)
	rp.Conn.Mu.Unlock()
	rp.Files[side] = f
	rp.Queued[side] = st.SocketQueued
	rp.Ends[side].EP.SocketOptions().SetPassCred(st.SocketPasscred)
	return f, nil
}

// rebindUnix gives a restored socket its name back: the abstract name,
// or the socket node still at its absolute path.
func (k *Kernel) rebindUnix(rc *Task, s *unixsock.File, a socket.UnixAddr) error {
	be := s.U.Bound()
	if be == nil {
		return unix.EINVAL
	}
	names := k.Socks.Names()
	if a.Abstract {
		if err := names.BindAbstract(a.Name, be); err != nil {
			return err
		}
	} else {
		if rc == nil {
			return unix.ENOENT
		}
		d, err := k.VFS.Resolve(rc, k.VFS.Root, a.Name, true)
		if err != nil {
			return err
		}
		if d.Kind != vfs.KindGofer || d.Mode&unix.S_IFMT != unix.S_IFSOCK {
			return unix.ENOTSOCK
		}
		names.BindNode(d.Ino(), be)
	}
	if err := kobj.SysErr(s.U.EP.Bind(transport.Address{Addr: a.TransportName()})); err != nil {
		names.Unbind(be)
		return err
	}
	s.Named = true
	s.BoundName = a.TransportName()
	k.Socks.SetBound(be, s)
	return nil
}
