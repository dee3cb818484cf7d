package socket

import (
	"encoding/binary"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
	"gvisor.dev/gvisor/pkg/sentry/socket/netlink/nlmsg"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
)

// A NETLINK_ROUTE socket answers the read-only dumps programs use to
// list the network (ip addr, ip link, ip route, getifaddrs): RTM_GETLINK,
// RTM_GETADDR and RTM_GETROUTE, from the sandbox stack (the same description the SIOCGIF*
// ioctls use); with --network=host the host kernel answers them. Messages are built with gVisor's nlmsg (the route
// protocol above it needs kernel.Kernel). Every other request is
// answered with an NLMSG_ERROR of EOPNOTSUPP: the network cannot be
// changed from inside the sandbox.

// Route is one routing-table entry a RTM_GETROUTE dump reports.
type Route struct {
	Dst       net.IP // 4 or 16 bytes
	PrefixLen int
	Index     int32  // the output interface
	Gateway   net.IP // nil for a directly connected destination
}

// Routes is the stack's routing table.
func (st *Stack) Routes() []Route {
	var out []Route
	for _, r := range st.s.GetRouteTable() {
		id := r.Destination.ID()
		rt := Route{Dst: net.IP(id.AsSlice()), PrefixLen: r.Destination.Prefix(), Index: int32(r.NIC)}
		if r.Gateway.Len() > 0 {
			rt.Gateway = net.IP(r.Gateway.AsSlice())
		}
		out = append(out, rt)
	}
	return out
}

// The route-netlink message types answered.
const (
	rtmBase     = 16
	rtmNewLink  = 16
	rtmGetLink  = 18
	rtmSetLink  = 19
	rtmGetAddr  = 22
	rtmGetRoute = 26
)

// NetlinkRoute answers the messages in req (one sendmsg's bytes) from
// ifs and routes, for the socket bound to portID. It returns the
// datagrams to queue: each dump is one datagram of its messages
// followed by one holding NLMSG_DONE.
func NetlinkRoute(ifs []Interface, routes []Route, portID int32, req []byte) [][]byte {
	out, _ := netlink.Requests(portID, req, func(msg *nlmsg.Message) ([][]byte, error) {
		return routeAnswer(ifs, routes, portID, msg), nil
	})
	return out
}

// routeAnswer answers request msg of NetlinkRoute.
func routeAnswer(ifs []Interface, routes []Route, portID int32, msg *nlmsg.Message) [][]byte {
	hdr := msg.Header()
	ms := nlmsg.NewMessageSet(portID, hdr.Seq)
	dump := hdr.Flags&linux.NLM_F_DUMP == linux.NLM_F_DUMP
	switch {
	case dump && hdr.Type == rtmGetLink:
		ms.Multi = true
		for _, ifc := range ifs {
			putLink(ms, &ifc)
		}
	case dump && hdr.Type == rtmGetAddr:
		ms.Multi = true
		family := requestFamily(msg)
		for _, ifc := range ifs {
			for _, a := range ifc.Addrs {
				if f := addrFamily(a.IP); family == unix.AF_UNSPEC || family == f {
					putAddr(ms, &ifc, a)
				}
			}
		}
	case dump && hdr.Type == rtmGetRoute:
		ms.Multi = true
		family := requestFamily(msg)
		for _, r := range routes {
			if f := addrFamily(r.Dst); family == unix.AF_UNSPEC || family == f {
				putRoute(ms, r)
			}
		}
	case hdr.Type == rtmGetLink:
		ifc, errno := targetLink(ifs, msg)
		if errno != 0 {
			return [][]byte{netlink.ErrorMessage(portID, msg, errno)}
		}
		putLink(ms, ifc)
		return [][]byte{ms.Messages[0].Finalize()}
	case hdr.Type == rtmNewLink || hdr.Type == rtmSetLink:
		return ackOrError(portID, msg, linkChange(ifs, msg))
	default:
		return [][]byte{netlink.ErrorMessage(portID, msg, unix.EOPNOTSUPP)}
	}
	var out [][]byte
	var d []byte
	for _, m := range ms.Messages {
		d = append(d, m.Finalize()...)
	}
	if len(d) > 0 {
		out = append(out, d)
	}
	done := ms.AddMessage(linux.NetlinkMessageHeader{Type: linux.NLMSG_DONE})
	done.Put(primitive.AllocateInt32(0))
	return append(out, done.Finalize())
}

// targetLink is the interface a link request names, by ifi_index or
// else by IFLA_IFNAME (ENODEV if none; EINVAL for a malformed request).
func targetLink(ifs []Interface, msg *nlmsg.Message) (*Interface, unix.Errno) {
	var ifi linux.InterfaceInfoMessage
	attrs, ok := msg.GetData(&ifi)
	if !ok {
		return nil, unix.EINVAL
	}
	as, ok := attrs.Parse()
	if !ok {
		return nil, unix.EINVAL
	}
	name, named := as[linux.IFLA_IFNAME]
	for i := range ifs {
		if (ifi.Index != 0 && ifs[i].Index == ifi.Index) || (ifi.Index == 0 && named && ifs[i].Name == name.String()) {
			return &ifs[i], 0
		}
	}
	return nil, unix.ENODEV
}

// linkChange answers RTM_NEWLINK and RTM_SETLINK: the network cannot be
// changed from the sandbox, but a request that changes nothing (bring
// up an interface that is up, as "ip link set lo up" does) succeeds.
func linkChange(ifs []Interface, msg *nlmsg.Message) unix.Errno {
	ifc, errno := targetLink(ifs, msg)
	if errno != 0 {
		return errno
	}
	var ifi linux.InterfaceInfoMessage
	attrs, _ := msg.GetData(&ifi)
	as, _ := attrs.Parse()
	for t := range as {
		if t != linux.IFLA_IFNAME && t != linux.IFLA_EXT_MASK {
			return unix.EOPNOTSUPP
		}
	}
	if ifi.Type != 0 && ifi.Type != ifc.Type && ifi.Type != unix.ARPHRD_NETROM {
		return unix.EOPNOTSUPP
	}
	change := ifi.Change
	if change == 0 {
		change = ifi.Flags // no ifi_change: every flag given counts
	}
	if change&^unix.IFF_UP != 0 || (change&unix.IFF_UP != 0 && ifi.Flags&unix.IFF_UP != ifc.Flags&unix.IFF_UP) {
		return unix.EOPNOTSUPP
	}
	return 0
}

// ackOrError answers a request that has no data of its own: an
// NLMSG_ERROR with errno, or with 0 when it succeeded and NLM_F_ACK
// asks for an acknowledgement.
func ackOrError(portID int32, msg *nlmsg.Message, errno unix.Errno) [][]byte {
	if errno == 0 && msg.Header().Flags&linux.NLM_F_ACK == 0 {
		return nil
	}
	return [][]byte{netlink.ErrorMessage(portID, msg, errno)}
}

// requestFamily is the family a dump request asks for (its rtgenmsg,
// ifaddrmsg or rtmsg all start with it; AF_UNSPEC when absent).
func requestFamily(msg *nlmsg.Message) int {
	b := msg.Buffer()
	if len(b) <= linux.NetlinkMessageHeaderSize {
		return unix.AF_UNSPEC
	}
	return int(b[linux.NetlinkMessageHeaderSize])
}

func addrFamily(ip net.IP) int {
	if len(ip) == net.IPv4len {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func putLink(ms *nlmsg.MessageSet, ifc *Interface) {
	m := ms.AddMessage(linux.NetlinkMessageHeader{Type: linux.RTM_NEWLINK})
	flags := ifc.Flags
	if flags&unix.IFF_UP != 0 {
		flags |= unix.IFF_LOWER_UP
	}
	m.Put(&linux.InterfaceInfoMessage{Family: unix.AF_UNSPEC, Type: ifc.Type, Index: ifc.Index, Flags: flags})
	m.PutAttrString(linux.IFLA_IFNAME, ifc.Name)
	m.PutAttr(linux.IFLA_MTU, primitive.AllocateUint32(ifc.MTU))
	hw := primitive.ByteSlice(append([]byte(nil), ifc.HWAddr...))
	m.PutAttr(linux.IFLA_ADDRESS, &hw)
	brd := make(primitive.ByteSlice, len(ifc.HWAddr))
	if ifc.Type != unix.ARPHRD_LOOPBACK {
		for i := range brd {
			brd[i] = 0xff
		}
	}
	m.PutAttr(linux.IFLA_BROADCAST, &brd)
}

func putAddr(ms *nlmsg.MessageSet, ifc *Interface, a IfAddr) {
	m := ms.AddMessage(linux.NetlinkMessageHeader{Type: linux.RTM_NEWADDR})
	scope := uint8(linux.RT_SCOPE_UNIVERSE)
	switch {
	case ifc.Flags&unix.IFF_LOOPBACK != 0:
		scope = linux.RT_SCOPE_HOST
	case a.IP.IsLinkLocalUnicast():
		scope = linux.RT_SCOPE_LINK
	}
	m.Put(&linux.InterfaceAddrMessage{Family: uint8(addrFamily(a.IP)), PrefixLen: uint8(a.PrefixLen),
		Flags: unix.IFA_F_PERMANENT, Scope: scope, Index: uint32(ifc.Index)})
	ip := primitive.ByteSlice(append([]byte(nil), a.IP...))
	m.PutAttr(linux.IFA_ADDRESS, &ip)
	if len(a.IP) == net.IPv4len {
		m.PutAttr(linux.IFA_LOCAL, &ip)
		m.PutAttrString(linux.IFA_LABEL, ifc.Name)
	}
}

func putRoute(ms *nlmsg.MessageSet, r Route) {
	m := ms.AddMessage(linux.NetlinkMessageHeader{Type: linux.RTM_NEWROUTE})
	// A route through a gateway is a static one of universe scope, as
	// Linux lists it (ip route's "default via ...").
	proto, scope := uint8(linux.RTPROT_KERNEL), uint8(linux.RT_SCOPE_LINK)
	if r.Gateway != nil {
		proto, scope = linux.RTPROT_STATIC, linux.RT_SCOPE_UNIVERSE
	}
	m.Put(&linux.RouteMessage{Family: uint8(addrFamily(r.Dst)), DstLen: uint8(r.PrefixLen),
		Table: linux.RT_TABLE_MAIN, Protocol: proto, Scope: scope, Type: linux.RTN_UNICAST})
	if r.PrefixLen > 0 {
		// Linux leaves RTA_DST out of a default route.
		dst := primitive.ByteSlice(append([]byte(nil), r.Dst...))
		m.PutAttr(linux.RTA_DST, &dst)
	}
	if r.Gateway != nil {
		gw := primitive.ByteSlice(append([]byte(nil), r.Gateway...))
		m.PutAttr(linux.RTA_GATEWAY, &gw)
	}
	m.PutAttr(linux.RTA_OIF, primitive.AllocateInt32(r.Index))
}

// isRouteGet says a route-netlink message type only reads (RTM_GET*:
// RTM_BASE+2 modulo 4).
func isRouteGet(t uint16) bool { return t >= rtmBase && (t-rtmBase)%4 == 2 }

// HostNetlinkRoute answers req from the server machine's own kernel
// (--network=host): each read-only request (RTM_GET*) is passed to a
// host NETLINK_ROUTE socket and its answers come back with their port
// rewritten to portID; a request that would change the host's network
// is answered with EOPNOTSUPP, as in the sandbox's own network.
func HostNetlinkRoute(portID int32, req []byte) ([][]byte, error) {
	return netlink.Requests(portID, req, func(msg *nlmsg.Message) ([][]byte, error) {
		hdr := msg.Header()
		if hdr.Type == rtmNewLink || hdr.Type == rtmSetLink {
			ifs, err := HostInterfaces()
			if err != nil {
				return nil, err
			}
			return ackOrError(portID, msg, linkChange(ifs, msg)), nil
		}
		if !isRouteGet(hdr.Type) {
			return [][]byte{netlink.ErrorMessage(portID, msg, unix.EOPNOTSUPP)}, nil
		}
		answers, err := hostRouteCall(msg.Buffer(), hdr.Flags&linux.NLM_F_DUMP == linux.NLM_F_DUMP)
		if err != nil {
			return nil, err
		}
		for _, d := range answers {
			setPortID(d, portID)
		}
		return answers, nil
	})
}

// hostRouteCall sends one request to a new host NETLINK_ROUTE socket and
// collects the answer: a dump's datagrams up to NLMSG_DONE (or an
// error), else one datagram.
func hostRouteCall(req []byte, dump bool) ([][]byte, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("host netlink socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("host netlink timeout: %w", err)
	}
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("host netlink send: %w", err)
	}
	var out [][]byte
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("host netlink recv: %w", err)
		}
		d := append([]byte(nil), buf[:n]...)
		out = append(out, d)
		if !dump || endsDump(d) {
			return out, nil
		}
	}
}

// endsDump says a datagram holds NLMSG_DONE or NLMSG_ERROR.
func endsDump(d []byte) bool {
	for len(d) >= linux.NetlinkMessageHeaderSize {
		msg, rest, ok := nlmsg.ParseMessage(d)
		if !ok {
			return true
		}
		if t := msg.Header().Type; t == linux.NLMSG_DONE || t == linux.NLMSG_ERROR {
			return true
		}
		d = rest
	}
	return false
}

// setPortID sets nlmsg_pid of every message in the datagram d.
func setPortID(d []byte, portID int32) {
	for len(d) >= linux.NetlinkMessageHeaderSize {
		l := int(binary.LittleEndian.Uint32(d))
		binary.LittleEndian.PutUint32(d[12:], uint32(portID))
		l = (l + linux.NLMSG_ALIGNTO - 1) &^ (linux.NLMSG_ALIGNTO - 1)
		if l < linux.NetlinkMessageHeaderSize || l >= len(d) {
			return
		}
		d = d[l:]
	}
}
