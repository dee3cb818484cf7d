package client

import (
	"encoding/binary"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// This file reads and changes the network namespace the client runs in
// over NETLINK_ROUTE, for --network=sandbox (network.go): its
// interfaces, addresses and main-table routes, and the removal (and, at
// the end, the return) of the addresses, so that the host kernel no
// longer answers for them: the sandbox's netstack on the server does.

// readNamespaceNetwork describes the namespace's network: every
// interface that is up, not the loopback, and Ethernet-like (a 6-byte
// hardware address), with its addresses, and the main table's unicast
// routes out of those interfaces.
func readNamespaceNetwork() (*pb.NetworkConfig, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	cfg := &pb.NetworkConfig{}
	taken := map[int32]bool{}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 || len(ifc.HardwareAddr) != 6 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %q: %w", ifc.Name, err)
		}
		ni := &pb.NetworkInterface{Index: int32(ifc.Index), Name: ifc.Name, HwAddr: append([]byte(nil), ifc.HardwareAddr...), Mtu: uint32(ifc.MTU)}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip := ipn.IP
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			ones, _ := ipn.Mask.Size()
			ni.Addresses = append(ni.Addresses, &pb.NetworkAddress{Ip: append([]byte(nil), ip...), PrefixLen: uint32(ones)})
		}
		cfg.Interfaces = append(cfg.Interfaces, ni)
		taken[ni.Index] = true
	}
	if len(cfg.Interfaces) == 0 {
		return nil, fmt.Errorf("no interface to bring into the sandbox (up, not the loopback, Ethernet): is the client in the pod's network namespace?")
	}
	addrs := 0
	for _, ifc := range cfg.Interfaces {
		addrs += len(ifc.Addresses)
	}
	if addrs == 0 {
		// Another sandbox took them: two cannot share a namespace's
		// interfaces (each AF_PACKET socket sees every frame).
		return nil, fmt.Errorf("no address on the namespace's interfaces: is another sandbox using this network namespace?")
	}
	routes, err := mainRoutes()
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if taken[r.Nic] {
			cfg.Routes = append(cfg.Routes, r)
		}
	}
	return cfg, nil
}

// mainRoutes dumps the unicast routes of the main table.
func mainRoutes() ([]*pb.NetworkRoute, error) {
	rib, err := syscall.NetlinkRIB(unix.RTM_GETROUTE, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("dump routes: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("parse routes: %w", err)
	}
	var out []*pb.NetworkRoute
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		rt := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
		if rt.Type != unix.RTN_UNICAST || (rt.Family != unix.AF_INET && rt.Family != unix.AF_INET6) {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("parse route: %w", err)
		}
		table := uint32(rt.Table)
		r := &pb.NetworkRoute{PrefixLen: uint32(rt.Dst_len)}
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.RTA_TABLE:
				if len(a.Value) >= 4 {
					table = binary.NativeEndian.Uint32(a.Value)
				}
			case unix.RTA_DST:
				r.Dst = append([]byte(nil), a.Value...)
			case unix.RTA_GATEWAY:
				r.Gateway = append([]byte(nil), a.Value...)
			case unix.RTA_OIF:
				if len(a.Value) >= 4 {
					r.Nic = int32(binary.NativeEndian.Uint32(a.Value))
				}
			}
		}
		if table != unix.RT_TABLE_MAIN || r.Nic == 0 {
			continue
		}
		if r.Dst == nil {
			r.Dst = make([]byte, 4)
			if rt.Family == unix.AF_INET6 {
				r.Dst = make([]byte, 16)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// netlinkDo sends one request to the kernel and waits for its
// acknowledgement.
func netlinkDo(msgType uint16, flags uint16, body []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	msg := make([]byte, unix.NLMSG_HDRLEN+len(body))
	hdr := (*unix.NlMsghdr)(unsafe.Pointer(&msg[0]))
	hdr.Len = uint32(len(msg))
	hdr.Type = msgType
	hdr.Flags = unix.NLM_F_REQUEST | unix.NLM_F_ACK | flags
	hdr.Seq = 1
	copy(msg[unix.NLMSG_HDRLEN:], body)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
					return unix.Errno(-e)
				}
				return nil
			}
		}
	}
}

// rtAttr encodes one route attribute.
func rtAttr(typ uint16, val []byte) []byte {
	l := unix.SizeofRtAttr + len(val)
	b := make([]byte, (l+unix.RTA_ALIGNTO-1) & ^(unix.RTA_ALIGNTO-1))
	binary.NativeEndian.PutUint16(b, uint16(l))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[unix.SizeofRtAttr:], val)
	return b
}

func family(ip []byte) uint8 {
	if len(ip) == 4 {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// changeAddr adds (RTM_NEWADDR) or removes (RTM_DELADDR) an address of
// interface index.
func changeAddr(msgType uint16, index int32, a *pb.NetworkAddress) error {
	ifa := unix.IfAddrmsg{Family: family(a.Ip), Prefixlen: uint8(a.PrefixLen), Index: uint32(index)}
	body := make([]byte, unix.SizeofIfAddrmsg)
	copy(body, (*[unix.SizeofIfAddrmsg]byte)(unsafe.Pointer(&ifa))[:])
	body = append(body, rtAttr(unix.IFA_LOCAL, a.Ip)...)
	body = append(body, rtAttr(unix.IFA_ADDRESS, a.Ip)...)
	var flags uint16
	if msgType == unix.RTM_NEWADDR {
		flags = unix.NLM_F_CREATE | unix.NLM_F_REPLACE
		// An address given back was the namespace's already: no
		// duplicate address detection, which would leave an IPv6
		// address tentative (unusable) for a while.
		nodad := make([]byte, 4)
		binary.NativeEndian.PutUint32(nodad, unix.IFA_F_NODAD)
		body = append(body, rtAttr(unix.IFA_FLAGS, nodad)...)
	}
	return netlinkDo(msgType, flags, body)
}

// addRoute adds r to the main table (the routes through a gateway, which
// the kernel dropped with the addresses).
func addRoute(r *pb.NetworkRoute) error {
	rt := unix.RtMsg{Family: family(r.Dst), Dst_len: uint8(r.PrefixLen), Table: unix.RT_TABLE_MAIN,
		Protocol: unix.RTPROT_BOOT, Scope: unix.RT_SCOPE_UNIVERSE, Type: unix.RTN_UNICAST}
	if r.Gateway == nil {
		rt.Scope = unix.RT_SCOPE_LINK
	}
	body := make([]byte, unix.SizeofRtMsg)
	copy(body, (*[unix.SizeofRtMsg]byte)(unsafe.Pointer(&rt))[:])
	if r.PrefixLen > 0 {
		body = append(body, rtAttr(unix.RTA_DST, r.Dst)...)
	}
	if r.Gateway != nil {
		body = append(body, rtAttr(unix.RTA_GATEWAY, r.Gateway)...)
	}
	oif := make([]byte, 4)
	binary.NativeEndian.PutUint32(oif, uint32(r.Nic))
	body = append(body, rtAttr(unix.RTA_OIF, oif)...)
	return netlinkDo(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body)
}

// removeAddresses takes cfg's addresses away from the host kernel.
func removeAddresses(cfg *pb.NetworkConfig) error {
	for _, ifc := range cfg.Interfaces {
		for _, a := range ifc.Addresses {
			if err := changeAddr(unix.RTM_DELADDR, ifc.Index, a); err != nil && err != unix.EADDRNOTAVAIL {
				return fmt.Errorf("remove %v/%d from %q: %w", net.IP(a.Ip), a.PrefixLen, ifc.Name, err)
			}
		}
	}
	return nil
}

// restoreAddresses gives cfg's addresses and gateway routes back to the
// host kernel (best effort: the first error is returned, the rest is
// still tried).
func restoreAddresses(cfg *pb.NetworkConfig) error {
	var first error
	note := func(err error) {
		if err != nil && err != unix.EEXIST && first == nil {
			first = err
		}
	}
	for _, ifc := range cfg.Interfaces {
		for _, a := range ifc.Addresses {
			note(changeAddr(unix.RTM_NEWADDR, ifc.Index, a))
		}
	}
	for _, r := range cfg.Routes {
		if r.Gateway != nil {
			note(addRoute(r))
		}
	}
	return first
}
