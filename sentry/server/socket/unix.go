package socket

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/safemem"
	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"
	"gvisor.dev/gvisor/pkg/syserr"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// Unix is an AF_UNIX socket: a transport endpoint and a watch on its
// waiter queue. Its operations never block; the server waits on Watch.
type Unix struct {
	EP    transport.Endpoint
	Watch *kobj.Watch
	Type  linux.SockType
}

// ValidType reports whether stype is an AF_UNIX socket type.
func ValidType(stype linux.SockType) bool {
	return stype == linux.SOCK_STREAM || stype == linux.SOCK_DGRAM || stype == linux.SOCK_SEQPACKET
}

func wrap(ep transport.Endpoint, creds Creds) *Unix {
	ep.SetPeerCreds(creds)
	return &Unix{EP: ep, Watch: kobj.NewWatch(ep), Type: ep.Type()}
}

// NewUnix makes an unbound, unconnected socket owned by creds.
func NewUnix(stype linux.SockType, creds Creds) *Unix {
	if stype == linux.SOCK_DGRAM {
		return wrap(transport.NewConnectionless(kobj.Ctx()), creds)
	}
	return wrap(transport.NewConnectioned(kobj.Ctx(), stype, IDs), creds)
}

// NewUnixPair makes a connected pair (socketpair).
func NewUnixPair(stype linux.SockType, creds Creds) (*Unix, *Unix) {
	a, b := transport.NewPair(kobj.Ctx(), stype, IDs)
	return wrap(a, creds), wrap(b, creds)
}

// Accepted wraps an endpoint Accept returned.
func Accepted(ep transport.Endpoint) *Unix {
	return &Unix{EP: ep, Watch: kobj.NewWatch(ep), Type: ep.Type()}
}

// Bound returns the endpoint others connect or send to.
func (u *Unix) Bound() transport.BoundEndpoint {
	be, _ := u.EP.(transport.BoundEndpoint)
	return be
}

// Release closes the endpoint.
func (u *Unix) Release() {
	u.Watch.Stop()
	u.EP.Close(kobj.Ctx())
}

// endpointWriter sends what a CopyInTo hands it (one SendMsg).
type endpointWriter struct {
	ep     transport.Endpoint
	ctl    transport.ControlMessages
	to     transport.BoundEndpoint
	notify func()
}

func (w *endpointWriter) WriteFromBlocks(srcs safemem.BlockSeq) (uint64, error) {
	return safemem.FromVecWriterFunc{WriteVec: func(bufs [][]byte) (int64, error) {
		n, notify, err := w.ep.SendMsg(kobj.Ctx(), bufs, w.ctl, w.to)
		w.notify = notify
		return n, kobj.SysErr(err)
	}}.WriteFromBlocks(srcs)
}

// Send makes one non-blocking send of src's bytes with control messages
// ctl (to: a datagram's target, or nil). A full queue fails with EAGAIN
// (stream: after a partial send). The rights in ctl pass to the
// receiver if anything was sent; otherwise the caller keeps them.
func (u *Unix) Send(src usermem.IOSequence, ctl transport.ControlMessages, to transport.BoundEndpoint) (int64, error) {
	w := &endpointWriter{ep: u.EP, ctl: ctl, to: to}
	var n int64
	var err error
	if src.NumBytes() == 0 {
		// A zero-length message still carries its control messages
		// (and a datagram of length 0 is a datagram).
		var serr *syserr.Error
		n, w.notify, serr = u.EP.SendMsg(kobj.Ctx(), [][]byte{{}}, ctl, to)
		err = kobj.SysErr(serr)
	} else {
		n, err = src.CopyInTo(kobj.Ctx(), w)
	}
	if w.notify != nil {
		w.notify()
	}
	return n, kobj.Errno(err)
}

// RecvResult is what a receive read besides the data.
type RecvResult struct {
	// MsgLen is the length of the datagram read (stream: the bytes read).
	MsgLen int64
	From   transport.Address
	// Control holds the rights and credentials received; the caller
	// releases them.
	Control      transport.ControlMessages
	ControlTrunc bool
}

// endpointReader receives into what a CopyOutFrom hands it (one
// RecvMsg).
type endpointReader struct {
	ep     transport.Endpoint
	args   transport.RecvArgs
	res    RecvResult
	unused []transport.RightsControlMessage
	notify func()
}

func (r *endpointReader) ReadToBlocks(dsts safemem.BlockSeq) (uint64, error) {
	return safemem.FromVecReaderFunc{ReadVec: func(bufs [][]byte) (int64, error) {
		out, notify, err := r.ep.RecvMsg(kobj.Ctx(), bufs, r.args)
		r.res = RecvResult{MsgLen: out.MsgLen, From: out.Source, Control: out.Control, ControlTrunc: out.ControlTrunc}
		r.unused = out.UnusedRights
		r.notify = notify
		return out.RecvLen, kobj.SysErr(err)
	}}.ReadToBlocks(dsts)
}

// Recv makes one non-blocking receive into dst (EAGAIN if nothing is
// queued; 0 at end of stream).
func (u *Unix) Recv(dst usermem.IOSequence, args transport.RecvArgs) (int64, RecvResult, error) {
	r := &endpointReader{ep: u.EP, args: args}
	var n int64
	var err error
	if dst.NumBytes() == 0 {
		// Still a receive: it takes a datagram, or reports its length
		// (safemem skips a reader with nothing to read into).
		out, notify, serr := r.ep.RecvMsg(kobj.Ctx(), [][]byte{{}}, r.args)
		r.res = RecvResult{MsgLen: out.MsgLen, From: out.Source, Control: out.Control, ControlTrunc: out.ControlTrunc}
		r.unused, r.notify = out.UnusedRights, notify
		err = kobj.SysErr(serr)
	} else {
		n, err = dst.CopyOutFrom(kobj.Ctx(), r)
	}
	if r.notify != nil {
		r.notify()
	}
	for _, rm := range r.unused {
		rm.Release(kobj.Ctx())
	}
	return n, r.res, kobj.Errno(err)
}

// Shutdown shuts down reading (SHUT_RD), writing (SHUT_WR) or both.
func (u *Unix) Shutdown(how int) error {
	flags, err := ShutdownFlags(how)
	if err != nil {
		return err
	}
	return kobj.SysErr(u.EP.Shutdown(flags))
}

// ShutdownFlags converts shutdown's how.
func ShutdownFlags(how int) (tcpip.ShutdownFlags, error) {
	switch how {
	case unix.SHUT_RD:
		return tcpip.ShutdownRead, nil
	case unix.SHUT_WR:
		return tcpip.ShutdownWrite, nil
	case unix.SHUT_RDWR:
		return tcpip.ShutdownRead | tcpip.ShutdownWrite, nil
	}
	return 0, unix.EINVAL
}

// Connected reports whether the socket has a peer.
func (u *Unix) Connected() bool {
	c, ok := u.EP.(interface{ Connected() bool })
	return ok && c.Connected()
}
