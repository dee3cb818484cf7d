package server

import (
	"fmt"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
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

// sandboxNetwork converts and checks Hello.network (nil when the client
// brought none), which only a server whose network is "sandbox" takes.
func (s *Server) sandboxNetwork(cfg *sentrypb.NetworkConfig) (*socket.SandboxNetwork, error) {
	if cfg == nil {
		return nil, nil
	}
	if s.cfg.Network != NetworkSandbox {
		return nil, fmt.Errorf("%w: the client asks for --network=sandbox, but this server's network is %q (start it with --network=sandbox)", kernel.ErrNetwork, s.cfg.Network)
	}
	return kernel.SandboxNetworkOf(cfg)
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
