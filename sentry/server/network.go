package server

import (
	"errors"
	"fmt"
	"net"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// Network modes (Config.Network): what the application's AF_INET and
// AF_INET6 sockets are.
const (
	// NetworkNone gives each client a loopback-only netstack of its own.
	NetworkNone = "none"
	// NetworkHost makes them the server machine's own sockets. Only the
	// operator chooses it: a client cannot ask for it.
	NetworkHost = "host"
)

// NetworkSandbox lets a client bring its own network (Hello.network):
// the interfaces of the network namespace the client runs in, whose
// Ethernet frames travel over the session between the client's AF_PACKET
// sockets and a NIC of the client's netstack here. A client that brings
// none gets a loopback-only stack, as with NetworkNone.
const NetworkSandbox = "sandbox"

// errNetwork marks a Hello refused for its network.
var errNetwork = errors.New("network")

// sandboxNetwork converts and checks Hello.network (nil when the client
// brought none).
func (s *Server) sandboxNetwork(cfg *sentrypb.NetworkConfig) (*socket.SandboxNetwork, error) {
	if cfg == nil {
		return nil, nil
	}
	if s.cfg.Network != NetworkSandbox {
		return nil, fmt.Errorf("%w: the client asks for --network=sandbox, but this server's network is %q (start it with --network=sandbox)", errNetwork, s.cfg.Network)
	}
	n := &socket.SandboxNetwork{}
	for _, ifc := range cfg.Interfaces {
		if ifc == nil {
			return nil, fmt.Errorf("%w: an empty interface", errNetwork)
		}
		si := socket.SandboxInterface{Index: ifc.Index, Name: ifc.Name, MAC: net.HardwareAddr(ifc.HwAddr), MTU: ifc.Mtu}
		for _, a := range ifc.Addresses {
			if a == nil || a.PrefixLen > 128 {
				return nil, fmt.Errorf("%w: interface %q: a bad address", errNetwork, ifc.Name)
			}
			si.Addrs = append(si.Addrs, socket.IfAddr{IP: net.IP(a.Ip), PrefixLen: int(a.PrefixLen)})
		}
		n.Interfaces = append(n.Interfaces, si)
	}
	for _, r := range cfg.Routes {
		if r == nil || r.PrefixLen > 128 {
			return nil, fmt.Errorf("%w: a bad route", errNetwork)
		}
		sr := socket.SandboxRoute{Dst: net.IP(r.Dst), PrefixLen: int(r.PrefixLen), NIC: r.Nic}
		if len(r.Gateway) > 0 {
			sr.Gateway = net.IP(r.Gateway)
		}
		n.Routes = append(n.Routes, sr)
	}
	if err := n.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", errNetwork, err)
	}
	return n, nil
}

// farewellAfterLinger answers a Goodbye of a client with a sandbox
// network once its stack has sent what closed sockets still had to send
// (or kernel.SandboxLinger passed), then frees the client.
func (c *client) farewellAfterLinger() {
	c.k.LingerNetwork()
	c.destroy()
	go forgetOrigins(c.k)
	c.stream.sendMsg(&sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Farewell{Farewell: &sentrypb.Farewell{}}})
}
