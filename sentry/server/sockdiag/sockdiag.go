package sockdiag

import (
	"encoding/binary"
	"net/netip"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
	"gvisor.dev/gvisor/pkg/sentry/socket/netlink/nlmsg"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
)

// The message types of NETLINK_SOCK_DIAG (linux/sock_diag.h,
// linux/inet_diag.h).
const (
	tcpDiagGetSock   = 18 // TCPDIAG_GETSOCK: the older inet_diag_req
	dccpDiagGetSock  = 19
	SockDiagByFamily = 20
	sockDestroy      = 21
)

// afMax is Linux's AF_MAX: a larger family is EINVAL, a smaller one
// without a handler ENOENT.
const afMax = 46

// Linux's request and reply sizes.
const (
	sockDiagReqSize = 2  // struct sock_diag_req: family, protocol
	inetReqV2Size   = 56 // struct inet_diag_req_v2
	inetReqV1Size   = 60 // struct inet_diag_req (TCPDIAG_GETSOCK)
	unixReqSize     = 24 // struct unix_diag_req
	sockIDSize      = 48 // struct inet_diag_sockid
	inetMsgSize     = 72 // struct inet_diag_msg
	unixMsgSize     = 16 // struct unix_diag_msg
)

// inet_diag request attributes (INET_DIAG_REQ_*), and the reply
// attributes sent (INET_DIAG_*).
const (
	inetDiagReqProtocol = 3

	inetDiagSKV6Only = 11
)

// The unix_diag_req.udiag_show bits and the unix_diag attributes that
// answer them (UNIX_DIAG_*).
const (
	udiagShowName  = 0x01
	udiagShowPeer  = 0x04
	udiagShowRQLen = 0x10
	udiagShowUID   = 0x40

	unixDiagName  = 0
	unixDiagPeer  = 2
	unixDiagRQLen = 4
	unixDiagUID   = 7
)

// noCookie is INET_DIAG_NOCOOKIE: a request that names no cookie.
const noCookie = ^uint32(0)

// maxDatagram bounds one datagram of a dump's replies, as Linux fills
// a dump's buffers a page group at a time; the NLMSG_DONE comes alone
// after them.
const maxDatagram = 32 << 10

// Answer answers the messages in req (one send's bytes) for the socket
// bound to portID, from the sockets list returns (called at most once,
// when a request needs them). It returns the datagrams to queue. The
// messages are walked as netlink.Requests walks them; an error is
// answered with an NLMSG_ERROR, and a request that succeeded and is not
// a dump with an acknowledgement if NLM_F_ACK asks.
func Answer(list func() []procfs.Socket, portID int32, req []byte) [][]byte {
	var table []procfs.Socket
	listed := false
	socks := func() []procfs.Socket {
		if !listed {
			table, listed = list(), true
		}
		return table
	}
	out, _ := netlink.Requests(portID, req, func(msg *nlmsg.Message) ([][]byte, error) {
		answers, dump, errno := answer(socks, portID, msg)
		if errno != 0 || (!dump && msg.Header().Flags&linux.NLM_F_ACK != 0) {
			answers = append(answers, netlink.ErrorMessage(portID, msg, errno))
		}
		return answers, nil
	})
	return out
}

// request is an inet or unix request as answer reads it.
type request struct {
	family   uint8 // AF_UNSPEC: both inet families (TCPDIAG_GETSOCK)
	protocol int
	// show is unix_diag's udiag_show (inet_diag's idiag_ext asks for
	// nothing the sandbox sends).
	show   uint32
	states uint32
	// id is the inet socket asked for (an exact request), ino and
	// cookie the unix one.
	id     sockID
	ino    uint32
	cookie [2]uint32
}

// sockID is an inet_diag_sockid.
type sockID struct {
	sport, dport uint16
	src, dst     netip.Addr
	cookie       [2]uint32
}

// answer answers one request: its answers, whether it was a dump (a
// dump is never acknowledged) and the errno of a failure.
func answer(socks func() []procfs.Socket, portID int32, msg *nlmsg.Message) ([][]byte, bool, unix.Errno) {
	hdr := msg.Header()
	body := msg.Buffer()[linux.NetlinkMessageHeaderSize:]
	dump := hdr.Flags&linux.NLM_F_DUMP != 0
	switch hdr.Type {
	case tcpDiagGetSock, dccpDiagGetSock:
		if len(body) < inetReqV1Size {
			return nil, false, unix.EINVAL
		}
		r := request{family: body[0], protocol: unix.IPPROTO_TCP,
			states: binary.NativeEndian.Uint32(body[4+sockIDSize:])}
		if hdr.Type == dccpDiagGetSock {
			r.protocol = unix.IPPROTO_DCCP
		}
		if dump {
			// Both families, as Linux's compatibility dump.
			r.family = unix.AF_UNSPEC
			return inetDump(socks, portID, hdr, r)
		}
		r.id = parseSockID(body[4:], int(r.family))
		return inetExact(socks, portID, hdr, r)
	case SockDiagByFamily, sockDestroy:
		if len(body) < sockDiagReqSize {
			return nil, false, unix.EINVAL
		}
		switch family := body[0]; {
		case family >= afMax:
			return nil, false, unix.EINVAL
		case family == unix.AF_INET || family == unix.AF_INET6:
			return inetCmd(socks, portID, hdr, body, dump)
		case family == unix.AF_UNIX:
			return unixCmd(socks, portID, hdr, body, dump)
		}
		// No diag module for it (netlink, packet, vsock, tipc, xdp, ...).
		return nil, false, unix.ENOENT
	}
	return nil, false, unix.EINVAL
}

// inetCmd is inet_diag's SOCK_DIAG_BY_FAMILY or SOCK_DESTROY.
func inetCmd(socks func() []procfs.Socket, portID int32, hdr linux.NetlinkMessageHeader, body []byte, dump bool) ([][]byte, bool, unix.Errno) {
	if len(body) < inetReqV2Size {
		return nil, false, unix.EINVAL
	}
	if hdr.Type == sockDestroy {
		// The sandbox's sockets are not destroyed from inside it (a
		// kernel without CONFIG_INET_DIAG_DESTROY answers so).
		return nil, false, unix.EOPNOTSUPP
	}
	r := request{family: body[0], protocol: int(body[1]),
		states: binary.NativeEndian.Uint32(body[4:]), id: parseSockID(body[8:], int(body[0]))}
	// INET_DIAG_REQ_PROTOCOL names a protocol above 255 (MPTCP): ss
	// sends its low byte in sdiag_protocol too.
	attrs := nlmsg.AttrsView(body[inetReqV2Size:])
	for !attrs.Empty() {
		ahdr, value, rest, ok := attrs.ParseFirst()
		if !ok {
			break
		}
		attrs = rest
		if ahdr.Type&^(linux.NLA_F_NESTED|linux.NLA_F_NET_BYTEORDER) == inetDiagReqProtocol {
			if len(value) < 4 {
				return nil, false, unix.EINVAL
			}
			r.protocol = int(binary.NativeEndian.Uint32(value))
		}
	}
	if dump {
		return inetDump(socks, portID, hdr, r)
	}
	return inetExact(socks, portID, hdr, r)
}

// inetType is the socket type of protocol's handler, known reports
// whether Linux has one (ENOENT otherwise); a handler for a kind of
// socket the sandbox has none of (UDP-Lite, raw) lists nothing.
func inetType(protocol int) (stype int, known bool) {
	switch protocol {
	case unix.IPPROTO_TCP:
		return unix.SOCK_STREAM, true
	case unix.IPPROTO_UDP:
		return unix.SOCK_DGRAM, true
	case unix.IPPROTO_UDPLITE, unix.IPPROTO_RAW:
		return -1, true
	}
	return 0, false
}

// lists reports whether dump r lists inet socket s.
func (r *request) lists(s *procfs.Socket, stype int) bool {
	return s.Type == stype && (s.Family == unix.AF_INET || s.Family == unix.AF_INET6) &&
		(r.family == unix.AF_UNSPEC || s.Family == int(r.family)) && r.states&(1<<s.State) != 0
}

// inetDump lists the inet sockets of r's family, protocol and states.
func inetDump(socks func() []procfs.Socket, portID int32, hdr linux.NetlinkMessageHeader, r request) ([][]byte, bool, unix.Errno) {
	stype, known := inetType(r.protocol)
	if !known {
		return nil, false, unix.ENOENT
	}
	ms := nlmsg.NewMessageSet(portID, hdr.Seq)
	ms.Multi = true
	if stype >= 0 {
		for _, s := range socks() {
			if r.lists(&s, stype) {
				putInet(ms, hdr.Type, &s, &r)
			}
		}
	}
	return dumpDatagrams(ms), true, 0
}

// inetExact answers a request for one inet socket: the connection of
// r.id's four-tuple, else a socket bound to its source (as Linux's
// inet_lookup: established, then listening); ENOENT if none, ESTALE if
// it is not the socket r's cookie names.
func inetExact(socks func() []procfs.Socket, portID int32, hdr linux.NetlinkMessageHeader, r request) ([][]byte, bool, unix.Errno) {
	stype, known := inetType(r.protocol)
	if !known {
		return nil, false, unix.ENOENT
	}
	var found *procfs.Socket
	table := socks()
	for i := range table {
		s := &table[i]
		if s.Type != stype || s.Family != int(r.family) || s.Local.Port() != r.id.sport {
			continue
		}
		if s.Remote.Port() == r.id.dport && s.Remote.Addr().Unmap() == r.id.dst.Unmap() && s.Local.Addr().Unmap() == r.id.src.Unmap() {
			found = s
			break
		}
		if found == nil && s.Remote.Port() == 0 && (s.Local.Addr().IsUnspecified() || s.Local.Addr().Unmap() == r.id.src.Unmap()) {
			found = s
		}
	}
	if found == nil {
		return nil, false, unix.ENOENT
	}
	if !cookieMatches(r.id.cookie, found.Ino) {
		return nil, false, unix.ESTALE
	}
	ms := nlmsg.NewMessageSet(portID, hdr.Seq)
	putInet(ms, hdr.Type, found, &r)
	return [][]byte{ms.Messages[0].Finalize()}, false, 0
}

// unixCmd is unix_diag's SOCK_DIAG_BY_FAMILY or SOCK_DESTROY.
func unixCmd(socks func() []procfs.Socket, portID int32, hdr linux.NetlinkMessageHeader, body []byte, dump bool) ([][]byte, bool, unix.Errno) {
	if hdr.Type == sockDestroy {
		return nil, false, unix.EOPNOTSUPP // unix_diag has no destroy
	}
	if len(body) < unixReqSize {
		return nil, false, unix.EINVAL
	}
	r := request{states: binary.NativeEndian.Uint32(body[4:]), ino: binary.NativeEndian.Uint32(body[8:]),
		show:   binary.NativeEndian.Uint32(body[12:]),
		cookie: [2]uint32{binary.NativeEndian.Uint32(body[16:]), binary.NativeEndian.Uint32(body[20:])}}
	ms := nlmsg.NewMessageSet(portID, hdr.Seq)
	if dump {
		ms.Multi = true
		for _, s := range socks() {
			if s.Family == unix.AF_UNIX && r.states&(1<<s.State) != 0 {
				putUnix(ms, &s, &r)
			}
		}
		return dumpDatagrams(ms), true, 0
	}
	if r.ino == 0 {
		return nil, false, unix.ENOENT
	}
	for _, s := range socks() {
		if s.Family != unix.AF_UNIX || uint32(s.Ino) != r.ino {
			continue
		}
		if !cookieMatches(r.cookie, s.Ino) {
			return nil, false, unix.ESTALE
		}
		putUnix(ms, &s, &r)
		return [][]byte{ms.Messages[0].Finalize()}, false, 0
	}
	return nil, false, unix.ENOENT
}

// cookie is a socket's diag cookie: its inode number, unique among the
// sockets that exist as Linux's cookies are.
func cookie(ino uint64) [2]uint32 { return [2]uint32{uint32(ino), uint32(ino >> 32)} }

// cookieMatches is sock_diag_check_cookie: no cookie, or the socket's.
func cookieMatches(c [2]uint32, ino uint64) bool {
	return (c[0] == noCookie && c[1] == noCookie) || c == cookie(ino)
}

// parseSockID reads an inet_diag_sockid of family (b holds at least
// sockIDSize bytes).
func parseSockID(b []byte, family int) sockID {
	id := sockID{sport: binary.BigEndian.Uint16(b), dport: binary.BigEndian.Uint16(b[2:]),
		cookie: [2]uint32{binary.NativeEndian.Uint32(b[40:]), binary.NativeEndian.Uint32(b[44:])}}
	if family == unix.AF_INET {
		id.src, id.dst = netip.AddrFrom4([4]byte(b[4:8])), netip.AddrFrom4([4]byte(b[20:24]))
	} else {
		id.src, id.dst = netip.AddrFrom16([16]byte(b[4:20])), netip.AddrFrom16([16]byte(b[20:36]))
	}
	return id
}

// putAddr writes a of family as inet_diag_sockid holds it: IPv4 in the
// first word, IPv6 in all four (network order).
func putAddr(b []byte, a netip.Addr, family int) {
	if !a.IsValid() {
		return
	}
	if family == unix.AF_INET {
		v := a.Unmap().As4()
		copy(b, v[:])
		return
	}
	v := a.As16()
	copy(b, v[:])
}

// putInet adds s's inet_diag_msg to ms, as a message of typ (the
// request's).
func putInet(ms *nlmsg.MessageSet, typ uint16, s *procfs.Socket, r *request) {
	b := make(primitive.ByteSlice, inetMsgSize)
	b[0], b[1] = byte(s.Family), byte(s.State)
	id := b[4 : 4+sockIDSize]
	binary.BigEndian.PutUint16(id, s.Local.Port())
	binary.BigEndian.PutUint16(id[2:], s.Remote.Port())
	putAddr(id[4:20], s.Local.Addr(), s.Family)
	putAddr(id[20:36], s.Remote.Addr(), s.Family)
	c := cookie(s.Ino)
	binary.NativeEndian.PutUint32(id[40:], c[0])
	binary.NativeEndian.PutUint32(id[44:], c[1])
	rq, wq := s.RxQueue, s.TxQueue
	if s.Type == unix.SOCK_STREAM && s.State == linux.TCP_LISTEN {
		// A listener's queues are its accept queue and its backlog.
		wq = s.Backlog
	}
	binary.NativeEndian.PutUint32(b[56:], rq)
	binary.NativeEndian.PutUint32(b[60:], wq)
	binary.NativeEndian.PutUint32(b[64:], s.UID)
	binary.NativeEndian.PutUint32(b[68:], uint32(s.Ino))
	m := ms.AddMessage(linux.NetlinkMessageHeader{Type: typ})
	m.Put(&b)
	if s.Family == unix.AF_INET6 && (s.State == linux.TCP_LISTEN || s.State == linux.TCP_CLOSE) {
		// As Linux: an unconnected IPv6 socket says whether it is
		// IPv6-only (ss shows its any address as [::] then, else *).
		v := uint8(0)
		if s.V6Only {
			v = 1
		}
		m.PutAttr(inetDiagSKV6Only, primitive.AllocateUint8(v))
	}
}

// putUnix adds s's unix_diag_msg to ms with the attributes r asks for
// that the sandbox knows.
func putUnix(ms *nlmsg.MessageSet, s *procfs.Socket, r *request) {
	b := make(primitive.ByteSlice, unixMsgSize)
	b[0], b[1], b[2] = unix.AF_UNIX, byte(s.Type), byte(s.State)
	binary.NativeEndian.PutUint32(b[4:], uint32(s.Ino))
	c := cookie(s.Ino)
	binary.NativeEndian.PutUint32(b[8:], c[0])
	binary.NativeEndian.PutUint32(b[12:], c[1])
	m := ms.AddMessage(linux.NetlinkMessageHeader{Type: SockDiagByFamily})
	m.Put(&b)
	if r.show&udiagShowName != 0 && s.Path != "" {
		name := []byte(s.Path)
		if name[0] != 0 {
			// A path's address length counts its NUL; an abstract
			// name's is its bytes.
			name = append(name, 0)
		}
		v := primitive.ByteSlice(name)
		m.PutAttr(unixDiagName, &v)
	}
	if r.show&udiagShowPeer != 0 && s.Peer != 0 {
		m.PutAttr(unixDiagPeer, primitive.AllocateUint32(uint32(s.Peer)))
	}
	if r.show&udiagShowRQLen != 0 {
		rq := make(primitive.ByteSlice, 8)
		wq := s.TxQueue
		if s.State == linux.TCP_LISTEN {
			wq = s.Backlog // its pending connections and backlog
		}
		binary.NativeEndian.PutUint32(rq, s.RxQueue)
		binary.NativeEndian.PutUint32(rq[4:], wq)
		m.PutAttr(unixDiagRQLen, &rq)
	}
	if r.show&udiagShowUID != 0 {
		m.PutAttr(unixDiagUID, primitive.AllocateUint32(s.UID))
	}
}

// dumpDatagrams is a dump's replies: its messages in datagrams of at
// most maxDatagram bytes (one larger message alone), then NLMSG_DONE.
func dumpDatagrams(ms *nlmsg.MessageSet) [][]byte {
	var out [][]byte
	var d []byte
	for _, m := range ms.Messages {
		b := m.Finalize()
		if len(d) > 0 && len(d)+len(b) > maxDatagram {
			out = append(out, d)
			d = nil
		}
		d = append(d, b...)
	}
	if len(d) > 0 {
		out = append(out, d)
	}
	done := ms.AddMessage(linux.NetlinkMessageHeader{Type: linux.NLMSG_DONE})
	done.Put(primitive.AllocateInt32(0))
	return append(out, done.Finalize())
}
