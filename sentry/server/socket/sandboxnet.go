package socket

import (
	"errors"
	"fmt"
	"net"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// SandboxNetwork is the network a client brings (--network=sandbox): the
// interfaces of its network namespace and its routes.
type SandboxNetwork struct {
	Interfaces []SandboxInterface
	Routes     []SandboxRoute
}

// SandboxInterface is one interface: its index and name as the client's
// namespace has them, MAC address, IP MTU and addresses.
type SandboxInterface struct {
	Index int32
	Name  string
	MAC   net.HardwareAddr
	MTU   uint32
	Addrs []IfAddr
}

// SandboxRoute is a route to Dst/PrefixLen out of interface NIC, through
// Gateway when set.
type SandboxRoute struct {
	Dst       net.IP
	PrefixLen int
	Gateway   net.IP
	NIC       int32
}

// Limits of a sandbox network, so that a hostile client cannot make the
// server build a huge stack.
const (
	maxSandboxInterfaces = 16
	maxSandboxAddrs      = 64
	maxSandboxRoutes     = 256
	minSandboxMTU        = 576
	maxSandboxMTU        = 65535 - 14
)

// ErrBadNetwork marks a sandbox network the server will not build.
var ErrBadNetwork = errors.New("bad sandbox network")

func badNetwork(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadNetwork, fmt.Sprintf(format, args...))
}

// ipAddr converts a 4- or 16-byte IP. An IPv4 address given in 16 bytes
// (::ffff:a.b.c.d) stays IPv6, as the client sent it.
func ipAddr(ip net.IP) (tcpip.Address, tcpip.NetworkProtocolNumber, bool) {
	switch len(ip) {
	case 4:
		return tcpip.AddrFrom4Slice(ip), ipv4.ProtocolNumber, true
	case 16:
		return tcpip.AddrFrom16Slice(ip), ipv6.ProtocolNumber, true
	}
	return tcpip.Address{}, 0, false
}

// Check validates n: what a client sends is not trusted.
func (n *SandboxNetwork) Check() error {
	if len(n.Interfaces) == 0 {
		return badNetwork("no interface")
	}
	if len(n.Interfaces) > maxSandboxInterfaces {
		return badNetwork("%d interfaces (at most %d)", len(n.Interfaces), maxSandboxInterfaces)
	}
	if len(n.Routes) > maxSandboxRoutes {
		return badNetwork("%d routes (at most %d)", len(n.Routes), maxSandboxRoutes)
	}
	seen := map[int32]bool{loopbackNIC: true}
	names := map[string]bool{"lo": true}
	addrs := 0
	for _, ifc := range n.Interfaces {
		if ifc.Index <= 0 || seen[ifc.Index] {
			return badNetwork("interface %q: index %d is taken or invalid (1 is the loopback)", ifc.Name, ifc.Index)
		}
		seen[ifc.Index] = true
		if ifc.Name == "" || len(ifc.Name) >= 16 || names[ifc.Name] {
			return badNetwork("interface %d: name %q is empty, too long or taken", ifc.Index, ifc.Name)
		}
		names[ifc.Name] = true
		if len(ifc.MAC) != 6 {
			return badNetwork("interface %q: MAC address of %d bytes", ifc.Name, len(ifc.MAC))
		}
		if ifc.MTU < minSandboxMTU || ifc.MTU > maxSandboxMTU {
			return badNetwork("interface %q: MTU %d", ifc.Name, ifc.MTU)
		}
		for _, a := range ifc.Addrs {
			addrs++
			if _, _, ok := ipAddr(a.IP); !ok || a.PrefixLen < 0 || a.PrefixLen > len(a.IP)*8 {
				return badNetwork("interface %q: address %v/%d", ifc.Name, a.IP, a.PrefixLen)
			}
		}
	}
	if addrs > maxSandboxAddrs {
		return badNetwork("%d addresses (at most %d)", addrs, maxSandboxAddrs)
	}
	for _, r := range n.Routes {
		_, p, ok := ipAddr(r.Dst)
		if !ok || r.PrefixLen < 0 || r.PrefixLen > len(r.Dst)*8 || !seen[r.NIC] || r.NIC == loopbackNIC {
			return badNetwork("route %v/%d via interface %d", r.Dst, r.PrefixLen, r.NIC)
		}
		if r.Gateway != nil {
			if _, gp, ok := ipAddr(r.Gateway); !ok || gp != p {
				return badNetwork("route %v/%d: gateway %v", r.Dst, r.PrefixLen, r.Gateway)
			}
		}
	}
	return nil
}

// NewSandboxStack builds the stack of a client's sandbox network: the
// loopback of NewLoopbackStack plus one NIC per interface of n, whose
// frames send carries to the client, with n's addresses and routes; the
// stack resolves link addresses itself (ARP, NDP).
func NewSandboxStack(n *SandboxNetwork, send FrameSender) (*Stack, error) {
	if err := n.Check(); err != nil {
		return nil, err
	}
	st, err := newStack([]stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol})
	if err != nil {
		return nil, err
	}
	st.links = make(map[int32]*frameLink)
	fail := func(err error) (*Stack, error) {
		st.Destroy()
		return nil, err
	}
	for _, ifc := range n.Interfaces {
		link, ep := newFrameLink(ifc.Index, ifc.MTU, tcpip.LinkAddress(ifc.MAC), send)
		st.links[ifc.Index] = link
		if err := st.s.CreateNICWithOptions(tcpip.NICID(ifc.Index), ep, stack.NICOptions{Name: ifc.Name}); err != nil {
			return fail(fmt.Errorf("NIC %q: %v: %w", ifc.Name, err, kobj.TCPIPErr(err)))
		}
		for _, a := range ifc.Addrs {
			addr, proto, _ := ipAddr(a.IP)
			pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr, PrefixLen: a.PrefixLen}}
			if err := st.s.AddProtocolAddress(tcpip.NICID(ifc.Index), pa, stack.AddressProperties{}); err != nil {
				return fail(fmt.Errorf("NIC %q: address %v: %v: %w", ifc.Name, pa.AddressWithPrefix, err, kobj.TCPIPErr(err)))
			}
		}
	}
	for _, r := range n.Routes {
		dst, _, _ := ipAddr(r.Dst)
		sub := tcpip.AddressWithPrefix{Address: dst, PrefixLen: r.PrefixLen}.Subnet()
		route := tcpip.Route{Destination: sub, NIC: tcpip.NICID(r.NIC)}
		if r.Gateway != nil {
			route.Gateway, _, _ = ipAddr(r.Gateway)
		}
		st.s.AddRoute(route)
	}
	return st, nil
}

// Inbound hands frames the client's interface nic received to the stack
// (queued; dropped when the queue is full or nic is unknown).
func (st *Stack) Inbound(nic int32, frames [][]byte) {
	if l := st.links[nic]; l != nil {
		l.Inbound(frames)
	}
}

// LinkStats are a sandbox NIC's frame counts.
type LinkStats struct {
	NIC                                        int32
	InFrames, InDropped, OutFrames, OutDropped uint64
}

// LinkStats returns the counts of every sandbox NIC, by index.
func (st *Stack) LinkStats() []LinkStats {
	var out []LinkStats
	for _, l := range st.links {
		out = append(out, LinkStats{NIC: l.nic, InFrames: l.inFrames.Load(), InDropped: l.inDropped.Load(), OutFrames: l.outFrames.Load(), OutDropped: l.outDropped.Load()})
	}
	return out
}

// Draining reports whether a TCP connection of the stack still has data
// or a FIN its peer has not acknowledged, after its socket was closed
// (FIN-WAIT-1, CLOSING, LAST-ACK): what a host kernel keeps sending after
// the process exits.
func (st *Stack) Draining() bool {
	for _, ep := range st.s.RegisteredEndpoints() {
		te, ok := ep.(*tcp.Endpoint)
		if !ok {
			continue
		}
		switch te.EndpointState() {
		case tcp.StateFinWait1, tcp.StateClosing, tcp.StateLastAck:
			return true
		}
	}
	return false
}

// WaitDrained waits until Draining is false, at most d. It reports
// whether the stack drained.
func (st *Stack) WaitDrained(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for st.Draining() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
