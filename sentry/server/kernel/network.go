package kernel

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/sockdiag"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// The client's network: its netstack (loopback only, or with the
// interfaces of Hello.network, whose frames go to the client as Frames
// messages), or with HostNet the server machine's own; the kernel
// answers its netlink sockets (NetlinkRouter).

var (
	_ netlink.Router = (*routeNetlink)(nil)
	_ netlink.Router = (*sockDiag)(nil)
)

// routeNetlink is the kernel as a NETLINK_ROUTE socket's Router,
// sockDiag as a NETLINK_SOCK_DIAG socket's.
type (
	routeNetlink Kernel
	sockDiag     Kernel
)

// NetlinkRouter is the Router of a netlink socket of protocol proto,
// or false if the kernel answers no such protocol.
func (k *Kernel) NetlinkRouter(proto int) (netlink.Router, bool) {
	switch proto {
	case unix.NETLINK_ROUTE:
		return (*routeNetlink)(k), true
	case unix.NETLINK_SOCK_DIAG:
		return (*sockDiag)(k), true
	}
	return nil, false
}

// Answer answers from the sockets /proc/net lists.
func (d *sockDiag) Answer(port int32, req []byte) ([][]byte, error) {
	return sockdiag.Answer(procSource{(*Kernel)(d)}.Sockets, port, req), nil
}

// ErrNetwork marks a Hello refused for its network.
var ErrNetwork = errors.New("network")

// SandboxNetworkOf converts and checks the network a client brings in
// Hello.network (not nil): its interfaces, their addresses and its
// routes; an error wraps ErrNetwork.
func SandboxNetworkOf(cfg *sentrypb.NetworkConfig) (*socket.SandboxNetwork, error) {
	n := &socket.SandboxNetwork{}
	for _, ifc := range cfg.Interfaces {
		if ifc == nil {
			return nil, fmt.Errorf("%w: an empty interface", ErrNetwork)
		}
		si := socket.SandboxInterface{Index: ifc.Index, Name: ifc.Name, MAC: net.HardwareAddr(ifc.HwAddr), MTU: ifc.Mtu}
		for _, a := range ifc.Addresses {
			if a == nil || a.PrefixLen > 128 {
				return nil, fmt.Errorf("%w: interface %q: a bad address", ErrNetwork, ifc.Name)
			}
			si.Addrs = append(si.Addrs, socket.IfAddr{IP: net.IP(a.Ip), PrefixLen: int(a.PrefixLen)})
		}
		n.Interfaces = append(n.Interfaces, si)
	}
	for _, r := range cfg.Routes {
		if r == nil || r.PrefixLen > 128 {
			return nil, fmt.Errorf("%w: a bad route", ErrNetwork)
		}
		sr := socket.SandboxRoute{Dst: net.IP(r.Dst), PrefixLen: int(r.PrefixLen), NIC: r.Nic}
		if len(r.Gateway) > 0 {
			sr.Gateway = net.IP(r.Gateway)
		}
		n.Routes = append(n.Routes, sr)
	}
	if err := n.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNetwork, err)
	}
	return n, nil
}

// NetStack returns the client's network stack: loopback only, or with
// the sandbox network's interfaces; made at first use.
func (k *Kernel) NetStack() (*socket.Stack, error) {
	return k.Socks.Stack(func() (*socket.Stack, error) {
		var st *socket.Stack
		var err error
		if k.SandboxNet != nil {
			st, err = socket.NewSandboxStack(k.SandboxNet, k.sendFrames)
		} else {
			st, err = socket.NewLoopbackStack()
		}
		if err == nil && k.Sysctl.IPForward() == 1 {
			err = st.SetIPv4Forwarding(true)
		}
		return st, err
	})
}

// sendFrames carries the sandbox stack's outbound frames to the client.
// Frames are not state: without a stream they are dropped, as a NIC
// without a cable drops them.
func (k *Kernel) sendFrames(nic int32, frames [][]byte) bool {
	return k.Out.Send(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Frames{Frames: &sentrypb.Frames{Nic: nic, Frames: frames}}}) == nil
}

// Interfaces describes the sandbox's network interfaces.
func (k *Kernel) Interfaces() ([]socket.Interface, error) {
	return hostOrStack(k, "cannot list the host's interfaces", socket.HostInterfaces,
		func(st *socket.Stack) []socket.Interface { return st.Interfaces() })
}

// DevStats are the counters of the sandbox's interfaces by index: the
// netstack's, or with HostNet the server machine's.
func (k *Kernel) DevStats() (map[int32]socket.DevStats, error) {
	return hostOrStack(k, "cannot read the host's interface counters", socket.HostDevStats,
		func(st *socket.Stack) map[int32]socket.DevStats { return st.DevStats() })
}

// Answer answers with the host's route netlink with HostNet, else from
// the client's netstack.
func (r *routeNetlink) Answer(port int32, req []byte) ([][]byte, error) {
	k := (*Kernel)(r)
	return hostOrStack(k, "host netlink request failed",
		func() ([][]byte, error) { return socket.HostNetlinkRoute(port, req) },
		func(st *socket.Stack) [][]byte { return socket.NetlinkRoute(st.Interfaces(), st.Routes(), port, req) })
}

// hostOrStack answers from the server machine's network with HostNet
// (a failure there logged as failed and answered EIO), else from the
// client's netstack.
func hostOrStack[T any](k *Kernel, failed string, host func() (T, error), stack func(*socket.Stack) T) (T, error) {
	var none T
	if k.HostNet {
		v, err := host()
		if err != nil {
			k.Log.Warn(failed, "err", err)
			return none, unix.EIO
		}
		return v, nil
	}
	st, err := k.NetStack()
	if err != nil {
		return none, err
	}
	return stack(st), nil
}

// InboundFrames hands frames the client's interface received to the
// sandbox stack (dropped when the client has none).
func (k *Kernel) InboundFrames(f *sentrypb.Frames) {
	if k.SandboxNet == nil {
		return
	}
	st, err := k.NetStack()
	if err != nil {
		return
	}
	st.Inbound(f.Nic, f.Frames)
}

// SandboxLinger bounds how long a sandbox network's stack may go on
// sending the closed connections' data after the application ended (the
// client waits for the Farewell a little longer).
const SandboxLinger = 5 * time.Second

// LingerNetwork waits until the sandbox network's stack has sent what
// closed sockets still had to send, or SandboxLinger passed.
func (k *Kernel) LingerNetwork() {
	st := k.Socks.MadeStack()
	if st != nil && !st.WaitDrained(SandboxLinger) {
		k.Log.Warn("sandbox network: connections still unacknowledged at the end; dropping them", "waited", SandboxLinger)
	}
}

// DebugNetwork writes the sandbox network's frame counts (Debug).
func (k *Kernel) DebugNetwork(b *strings.Builder) {
	if k.SandboxNet == nil {
		return
	}
	st := k.Socks.MadeStack()
	if st == nil {
		return
	}
	stats := st.LinkStats()
	sort.Slice(stats, func(i, j int) bool { return stats[i].NIC < stats[j].NIC })
	for _, l := range stats {
		fmt.Fprintf(b, "  network sandbox nic %d: frames in %d (dropped %d), out %d (dropped %d)\n", l.NIC, l.InFrames, l.InDropped, l.OutFrames, l.OutDropped)
	}
}
