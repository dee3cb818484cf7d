package server

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

var (
	sandboxMAC = []byte{2, 0, 0, 0, 0, 0x11}
	peerMAC    = []byte{2, 0, 0, 0, 0, 0x22}
	sandboxIP  = []byte{10, 7, 0, 1}
	peerIP     = []byte{10, 7, 0, 2}
)

func testNetworkConfig() *sentrypb.NetworkConfig {
	return &sentrypb.NetworkConfig{
		Interfaces: []*sentrypb.NetworkInterface{{Index: 4, Name: "veth1", HwAddr: sandboxMAC, Mtu: 1500,
			Addresses: []*sentrypb.NetworkAddress{{Ip: sandboxIP, PrefixLen: 24}}}},
		Routes: []*sentrypb.NetworkRoute{{Dst: []byte{10, 7, 0, 0}, PrefixLen: 24, Nic: 4}},
	}
}

func arpRequest() []byte {
	f := make([]byte, header.EthernetMinimumSize+header.ARPSize)
	header.Ethernet(f).Encode(&header.EthernetFields{SrcAddr: tcpip.LinkAddress(peerMAC), DstAddr: header.EthernetBroadcastAddress, Type: header.ARPProtocolNumber})
	a := header.ARP(f[header.EthernetMinimumSize:])
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), peerMAC)
	copy(a.ProtocolAddressSender(), peerIP)
	copy(a.ProtocolAddressTarget(), sandboxIP)
	return f
}

func echoRequest(payload []byte) []byte {
	icmpLen := header.ICMPv4MinimumSize + len(payload)
	f := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+icmpLen)
	header.Ethernet(f).Encode(&header.EthernetFields{SrcAddr: tcpip.LinkAddress(peerMAC), DstAddr: tcpip.LinkAddress(sandboxMAC), Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(f[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(header.IPv4MinimumSize + icmpLen), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber),
		SrcAddr: tcpip.AddrFrom4Slice(peerIP), DstAddr: tcpip.AddrFrom4Slice(sandboxIP)})
	ip.SetChecksum(^ip.CalculateChecksum())
	ic := header.ICMPv4(ip.Payload())
	ic.SetType(header.ICMPv4Echo)
	copy(ic.Payload(), payload)
	ic.SetChecksum(^checksum.Checksum(ic, 0))
	return f
}

// TestHelloNetworkSandbox checks the server half of --network=sandbox:
// a server started with it builds a NIC from Hello.network whose frames
// travel on the session (an ARP request and a ping sent as Frames are
// answered with Frames from the interface's MAC); a server without it,
// or a bad network, refuses the client saying why.
func TestHelloNetworkSandbox(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		edit    func(*sentrypb.NetworkConfig)
		refused string
	}{
		{name: "answers", network: NetworkSandbox},
		{name: "server none", network: NetworkNone, refused: "--network=sandbox"},
		{name: "server host", network: NetworkHost, refused: "--network=sandbox"},
		{name: "loopback index", network: NetworkSandbox, edit: func(c *sentrypb.NetworkConfig) { c.Interfaces[0].Index = 1 }, refused: "index 1"},
		{name: "bad mac", network: NetworkSandbox, edit: func(c *sentrypb.NetworkConfig) { c.Interfaces[0].HwAddr = []byte{1} }, refused: "MAC"},
		{name: "empty interface", network: NetworkSandbox, edit: func(c *sentrypb.NetworkConfig) { c.Interfaces = append(c.Interfaces, nil) }, refused: "index 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvConfig(t, nil, func(c *Config) { c.Network = tc.network })
			cfg := testNetworkConfig()
			if tc.edit != nil {
				tc.edit(cfg)
			}
			frames := make(chan *sentrypb.Frames, 64)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := transport.Dial(ctx, "unix:"+e.sock, transport.Options{
				Hello:             &sentrypb.Hello{ClientId: t.Name() + "-net", Network: cfg},
				HeartbeatInterval: 50 * time.Millisecond,
				OnFrames: func(f *sentrypb.Frames) {
					select {
					case frames <- f:
					default:
					}
				},
			})
			if tc.refused != "" {
				if err == nil || !errors.Is(err, transport.ErrRefused) || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("Dial: %v, want a refusal naming %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			send := func(f []byte) {
				if err := conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Frames{Frames: &sentrypb.Frames{Nic: 4, Frames: [][]byte{f}}}}); err != nil {
					t.Fatal(err)
				}
			}
			// wait returns the first frame that match accepts (the
			// receiving goroutine runs while a call waits; a heartbeat
			// keeps one busy).
			wait := func(what string, match func([]byte) bool) {
				t.Helper()
				deadline := time.After(10 * time.Second)
				for {
					select {
					case f := <-frames:
						if f.Nic != 4 {
							t.Fatalf("frames of NIC %d, want 4", f.Nic)
						}
						for _, b := range f.Frames {
							if match(b) {
								return
							}
						}
					case <-deadline:
						t.Fatalf("no %s came back", what)
					}
				}
			}
			go conn.Await(ctx, make(chan *sentrypb.Reply)) // holds the read token: messages are dispatched
			send(arpRequest())
			wait("ARP reply", func(b []byte) bool {
				eth := header.Ethernet(b)
				if len(b) < header.EthernetMinimumSize+header.ARPSize || eth.Type() != header.ARPProtocolNumber {
					return false
				}
				a := header.ARP(b[header.EthernetMinimumSize:])
				return a.Op() == header.ARPReply && bytes.Equal(a.HardwareAddressSender(), sandboxMAC) && bytes.Equal(a.ProtocolAddressSender(), sandboxIP)
			})
			// The operator's debug dump counts the NIC's frames.
			dr, err := e.srv.Debug(ctx, &sentrypb.DebugRequest{})
			if err != nil || !strings.Contains(dr.Text, "network sandbox nic 4: frames in 1 (dropped 0), out ") {
				t.Errorf("Debug: %v\n%s", err, dr.GetText())
			}
			payload := []byte("ping over the session")
			send(echoRequest(payload))
			wait("echo reply", func(b []byte) bool {
				eth := header.Ethernet(b)
				if len(b) < header.EthernetMinimumSize+header.IPv4MinimumSize || eth.Type() != header.IPv4ProtocolNumber {
					return false
				}
				ip := header.IPv4(b[header.EthernetMinimumSize:])
				if ip.Protocol() != uint8(header.ICMPv4ProtocolNumber) || !bytes.Equal(ip.DestinationAddressSlice(), peerIP) {
					return false
				}
				ic := header.ICMPv4(ip.Payload())
				return ic.Type() == header.ICMPv4EchoReply && bytes.Equal(ic.Payload(), payload) && bytes.Equal([]byte(eth.DestinationAddress()), peerMAC)
			})
		})
	}
}
