package socket

import (
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// MIB are a stack's counters as Linux's SNMP and extended MIBs name
// them (/proc/net/snmp, snmp6, netstat), since the stack was made (a
// server failure starts them again at 0).
type MIB struct {
	// Counters are by group and name joined as snmp6 shows them
	// ("TcpActiveOpens", "IpExtInNoRoutes", "Ip6InReceives"); gVisor
	// keeps no count of the others, which read 0.
	Counters map[string]uint64
	// ICMPMsg and ICMP6Msg count ICMP messages by type, received [0]
	// and sent [1] (Linux's icmpmsg MIBs, from which the per-type
	// counters are read too).
	ICMPMsg, ICMP6Msg [2][256]uint64
}

// MIB maps gVisor's tcpip.Stats onto Linux's names. TCP and UDP are
// counted for both IP versions together (Linux counts UDP over IPv6 in
// Udp6; here it is in Udp); IP is per version, summed over the NICs.
func (st *Stack) MIB() MIB {
	s := st.s.Stats()
	c := map[string]uint64{}
	var ip [2]ipCounts // IPv4, IPv6
	for _, ni := range st.s.NICInfo() {
		for _, ns := range ni.NetworkStats {
			switch ns := ns.(type) {
			case *ipv4.Stats:
				ip[0].add(&ns.IP)
			case *ipv6.Stats:
				ip[1].add(&ns.IP)
			}
		}
	}
	for i, g := range []string{"Ip", "Ip6"} {
		in := &ip[i]
		c[g+"InReceives"] = in.received
		c[g+"InHdrErrors"] = in.hdrErrors
		c[g+"InAddrErrors"] = in.addrErrors
		c[g+"InDelivers"] = in.delivered
		c[g+"OutRequests"] = in.sent
		c[g+"OutDiscards"] = in.outDiscards
	}
	c["IpExtInNoRoutes"] = ip[0].noRoutes
	c["Ip6InNoRoutes"] = ip[1].noRoutes

	var m MIB
	v4in, v4out := &s.ICMP.V4.PacketsReceived, &s.ICMP.V4.PacketsSent
	for i, p := range []*tcpip.ICMPv4PacketStats{&v4in.ICMPv4PacketStats, &v4out.ICMPv4PacketStats} {
		icmp4Types(&m.ICMPMsg[i], p)
	}
	c["IcmpInMsgs"] = sum(m.ICMPMsg[0][:]) + v4in.Invalid.Value()
	c["IcmpInErrors"] = v4in.Invalid.Value()
	c["IcmpOutMsgs"] = sum(m.ICMPMsg[1][:])
	c["IcmpOutErrors"] = v4out.Dropped.Value()
	c["IcmpOutRateLimitGlobal"] = v4out.RateLimited.Value()
	v6in, v6out := &s.ICMP.V6.PacketsReceived, &s.ICMP.V6.PacketsSent
	for i, p := range []*tcpip.ICMPv6PacketStats{&v6in.ICMPv6PacketStats, &v6out.ICMPv6PacketStats} {
		icmp6Types(&m.ICMP6Msg[i], p)
	}
	c["Icmp6InMsgs"] = sum(m.ICMP6Msg[0][:]) + v6in.Invalid.Value() + v6in.Unrecognized.Value()
	c["Icmp6InErrors"] = v6in.Invalid.Value()
	c["Icmp6OutMsgs"] = sum(m.ICMP6Msg[1][:])
	c["Icmp6OutErrors"] = v6out.Dropped.Value()
	c["Icmp6OutRateLimitHost"] = v6out.RateLimited.Value()

	t := &s.TCP
	c["TcpActiveOpens"] = t.ActiveConnectionOpenings.Value()
	c["TcpPassiveOpens"] = t.PassiveConnectionOpenings.Value()
	c["TcpAttemptFails"] = t.FailedConnectionAttempts.Value()
	c["TcpEstabResets"] = t.EstablishedResets.Value()
	c["TcpCurrEstab"] = t.CurrentEstablished.Value()
	c["TcpInSegs"] = t.ValidSegmentsReceived.Value()
	c["TcpOutSegs"] = t.SegmentsSent.Value()
	c["TcpRetransSegs"] = t.Retransmits.Value()
	c["TcpInErrs"] = t.InvalidSegmentsReceived.Value()
	c["TcpOutRsts"] = t.ResetsSent.Value()
	c["TcpInCsumErrors"] = t.ChecksumErrors.Value()
	c["TcpExtSyncookiesSent"] = t.ListenOverflowSynCookieSent.Value()
	c["TcpExtSyncookiesRecv"] = t.ListenOverflowSynCookieRcvd.Value()
	c["TcpExtSyncookiesFailed"] = t.ListenOverflowInvalidSynCookieRcvd.Value()
	c["TcpExtListenOverflows"] = t.ListenOverflowSynDrop.Value() + t.ListenOverflowAckDrop.Value()
	c["TcpExtListenDrops"] = c["TcpExtListenOverflows"]
	c["TcpExtTCPSackRecovery"] = t.SACKRecovery.Value()
	c["TcpExtTCPLossProbeRecovery"] = t.TLPRecovery.Value()
	c["TcpExtTCPFastRetrans"] = t.FastRetransmit.Value()
	c["TcpExtTCPSlowStartRetrans"] = t.SlowStartRetransmits.Value()
	c["TcpExtTCPTimeouts"] = t.Timeouts.Value()
	c["TcpExtTCPSpuriousRTOs"] = t.SpuriousRTORecovery.Value()
	c["TcpExtTCPDSACKRecv"] = t.SegmentsAckedWithDSACK.Value()
	c["TcpExtTCPAbortOnTimeout"] = t.EstablishedTimedout.Value()

	u := &s.UDP
	c["UdpInDatagrams"] = u.PacketsReceived.Value()
	c["UdpNoPorts"] = u.UnknownPortErrors.Value()
	c["UdpInErrors"] = u.MalformedPacketsReceived.Value() + u.ReceiveBufferErrors.Value() + u.ChecksumErrors.Value()
	c["UdpOutDatagrams"] = u.PacketsSent.Value()
	c["UdpRcvbufErrors"] = u.ReceiveBufferErrors.Value()
	c["UdpInCsumErrors"] = u.ChecksumErrors.Value()
	m.Counters = c
	return m
}

// ipCounts are the IP counters MIB reads, summed over NICs.
type ipCounts struct {
	received, hdrErrors, addrErrors, delivered, sent, outDiscards, noRoutes uint64
}

func (c *ipCounts) add(s *tcpip.IPStats) {
	c.received += s.PacketsReceived.Value()
	c.hdrErrors += s.MalformedPacketsReceived.Value()
	c.addrErrors += s.InvalidDestinationAddressesReceived.Value()
	c.delivered += s.PacketsDelivered.Value()
	c.sent += s.PacketsSent.Value()
	c.outDiscards += s.OutgoingPacketErrors.Value()
	c.noRoutes += s.Forwarding.Unrouteable.Value()
}

// icmp4Types fills t with p's counts by ICMP type.
func icmp4Types(t *[256]uint64, p *tcpip.ICMPv4PacketStats) {
	for typ, c := range map[int]*tcpip.StatCounter{
		0: p.EchoReply, 3: p.DstUnreachable, 4: p.SrcQuench, 5: p.Redirect, 8: p.EchoRequest,
		11: p.TimeExceeded, 12: p.ParamProblem, 13: p.Timestamp, 14: p.TimestampReply,
		15: p.InfoRequest, 16: p.InfoReply,
	} {
		t[typ] = c.Value()
	}
}

// icmp6Types fills t with p's counts by ICMPv6 type.
func icmp6Types(t *[256]uint64, p *tcpip.ICMPv6PacketStats) {
	for typ, c := range map[int]*tcpip.StatCounter{
		1: p.DstUnreachable, 2: p.PacketTooBig, 3: p.TimeExceeded, 4: p.ParamProblem,
		128: p.EchoRequest, 129: p.EchoReply, 130: p.MulticastListenerQuery, 131: p.MulticastListenerReport,
		132: p.MulticastListenerDone, 133: p.RouterSolicit, 134: p.RouterAdvert, 135: p.NeighborSolicit,
		136: p.NeighborAdvert, 137: p.RedirectMsg, 143: p.MulticastListenerReportV2,
	} {
		t[typ] = c.Value()
	}
}

func sum(v []uint64) uint64 {
	var n uint64
	for _, x := range v {
		n += x
	}
	return n
}

// Endpoint is one of the stack's TCP or UDP endpoints as sockstat
// counts it.
type Endpoint struct {
	EP tcpip.Endpoint
	// V6 is an IPv6 socket's (a dual-stack one's too); Stream TCP.
	V6, Stream bool
	// State is a TCP endpoint's tcp.EndpointState.
	State tcp.EndpointState
}

// Endpoints lists the stack's registered TCP and UDP endpoints (bound,
// listening or connected; TCP ones also closed by the application and
// not yet gone, in TIME-WAIT among others), each once.
func (st *Stack) Endpoints() []Endpoint {
	seen := map[stack.TransportEndpoint]bool{}
	var out []Endpoint
	for _, te := range st.s.RegisteredEndpoints() {
		if seen[te] {
			continue // a dual-stack endpoint is registered for both versions
		}
		seen[te] = true
		ep, ok := te.(tcpip.Endpoint)
		if !ok {
			continue
		}
		e := Endpoint{EP: ep}
		if info, ok := ep.Info().(*stack.TransportEndpointInfo); ok {
			e.V6 = info.NetProto == ipv6.ProtocolNumber
			e.Stream = info.TransProto == tcp.ProtocolNumber
		}
		if e.Stream {
			e.State = tcp.EndpointState(ep.State())
		}
		out = append(out, e)
	}
	return out
}
