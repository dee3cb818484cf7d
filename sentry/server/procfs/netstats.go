package procfs

import (
	"fmt"
	"strings"
)

// NetStats are what /proc/net/sockstat, sockstat6, snmp, snmp6 and
// netstat show of the sandbox's network.
type NetStats struct {
	// Counters are the MIB counters by group and name joined as snmp6
	// shows them ("TcpActiveOpens", "IpExtInNoRoutes",
	// "Ip6InReceives"); a name not in it reads 0.
	Counters map[string]uint64
	// ICMPMsg and ICMP6Msg count ICMP messages by type, received [0] and
	// sent [1] (Linux's icmpmsg MIBs: the Icmp and Icmp6 per-type
	// counters and the IcmpMsg lines).
	ICMPMsg, ICMP6Msg [2][256]uint64
	// Sockets counts every socket open in the sandbox (sockstat's
	// "sockets: used").
	Sockets int
	// TCPInUse and TCP6InUse are the TCP sockets of each version in the
	// connection tables (listening, connecting, connected or closing,
	// not TIME-WAIT), TCPOrphans those of them no descriptor holds,
	// TCPTimeWait those in TIME-WAIT, TCPAlloc every TCP socket of both
	// versions but those in TIME-WAIT.
	TCPInUse, TCP6InUse, TCPOrphans, TCPTimeWait, TCPAlloc int
	// UDPInUse and UDP6InUse are the UDP sockets of each version with
	// a port.
	UDPInUse, UDP6InUse int
}

// The MIB names of Linux 6.1 in its files' order (net/ipv4/proc.c,
// net/ipv6/proc.c, include/uapi/linux/snmp.h).
var (
	snmpIP = strings.Fields("Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams " +
		"InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds " +
		"ReasmOKs ReasmFails FragOKs FragFails FragCreates")
	// snmpICMPTypes are icmp_put's named types and their numbers.
	snmpICMPTypes = []struct {
		name string
		typ  int
	}{{"DestUnreachs", 3}, {"TimeExcds", 11}, {"ParmProbs", 12}, {"SrcQuenchs", 4}, {"Redirects", 5},
		{"Echos", 8}, {"EchoReps", 0}, {"Timestamps", 13}, {"TimestampReps", 14}, {"AddrMasks", 17}, {"AddrMaskReps", 18}}
	snmpTCP = strings.Fields("RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails " +
		"EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors")
	snmpUDP = strings.Fields("InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors " +
		"IgnoredMulti MemErrors")
	netstatTCPExt = strings.Fields("SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled " +
		"RcvPruned OfoPruned OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive " +
		"PAWSEstab DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits " +
		"TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder TCPRenoReorder " +
		"TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo TCPLostRetransmit TCPRenoFailures " +
		"TCPSackFailures TCPLossFailures TCPFastRetrans TCPSlowStartRetrans TCPTimeouts TCPLossProbes " +
		"TCPLossProbeRecovery TCPRenoRecoveryFail TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoalesce " +
		"TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose " +
		"TCPAbortOnMemory TCPAbortOnTimeout TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures " +
		"TCPMemoryPressuresChrono TCPSACKDiscard TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPSpuriousRTOs " +
		"TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback " +
		"TCPBacklogDrop PFMemallocDrop TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter " +
		"TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail TCPRcvCoalesce TCPOFOQueue " +
		"TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge TCPFastOpenActive TCPFastOpenActiveFail " +
		"TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow TCPFastOpenCookieReqd " +
		"TCPFastOpenBlackhole TCPSpuriousRtxHostQueues BusyPollRxPackets TCPAutoCorking " +
		"TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindowAdv TCPSynRetrans TCPOrigDataSent " +
		"TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDelayDetect TCPHystartDelayCwnd " +
		"TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq TCPACKSkippedFinWait2 " +
		"TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe TCPKeepAlive TCPMTUPFail TCPMTUPSuccess " +
		"TCPDelivered TCPDeliveredCE TCPAckCompressed TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig " +
		"TCPFastOpenPassiveAltKey TcpTimeoutRehash TcpDuplicateDataRehash TCPDSACKRecvSegs " +
		"TCPDSACKIgnoredDubious TCPMigrateReqSuccess TCPMigrateReqFailure")
	netstatIPExt = strings.Fields("InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts " +
		"InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors " +
		"InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps")
	snmp6IP = strings.Fields("InReceives InHdrErrors InTooBigErrors InNoRoutes InAddrErrors InUnknownProtos " +
		"InTruncatedPkts InDiscards InDelivers OutForwDatagrams OutRequests OutDiscards OutNoRoutes " +
		"ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates InMcastPkts OutMcastPkts " +
		"InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InNoECTPkts " +
		"InECT1Pkts InECT0Pkts InCEPkts")
	snmp6ICMP = strings.Fields("InMsgs InErrors OutMsgs OutErrors InCsumErrors OutRateLimitHost")
	// snmp6ICMPTypes are icmp6type2name's types and names.
	snmp6ICMPTypes = []struct {
		name string
		typ  int
	}{{"DestUnreachs", 1}, {"PktTooBigs", 2}, {"TimeExcds", 3}, {"ParmProblems", 4}, {"Echos", 128},
		{"EchoReplies", 129}, {"GroupMembQueries", 130}, {"GroupMembResponses", 131},
		{"GroupMembReductions", 132}, {"RouterSolicits", 133}, {"RouterAdvertisements", 134},
		{"NeighborSolicits", 135}, {"NeighborAdvertisements", 136}, {"Redirects", 137}, {"MLDv2Reports", 143}}
	snmp6UDPLite = strings.Fields("InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors " +
		"InCsumErrors MemErrors")
)

// netFile renders /proc/net/<name> with render, or, when the sandbox
// uses the server machine's network, shows the machine's file as it is.
func netFile(name string, render func(b *strings.Builder, st *NetStats)) func(Source, int32, int32) ([]byte, error) {
	return func(src Source, _, _ int32) ([]byte, error) {
		if host, ok, err := src.HostNetFile(name); ok || err != nil {
			return host, err
		}
		st, err := src.NetStats()
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		render(&b, st)
		return []byte(b.String()), nil
	}
}

// genSockstat follows net/ipv4/proc.c sockstat_seq_show. Memory is not
// the sandbox's to tell (0 pages), nor are raw sockets or fragments.
func genSockstat(b *strings.Builder, st *NetStats) {
	fmt.Fprintf(b, "sockets: used %d\n", st.Sockets)
	fmt.Fprintf(b, "TCP: inuse %d orphan %d tw %d alloc %d mem 0\n", st.TCPInUse, st.TCPOrphans, st.TCPTimeWait, st.TCPAlloc)
	fmt.Fprintf(b, "UDP: inuse %d mem 0\n", st.UDPInUse)
	b.WriteString("UDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n")
}

// genSockstat6 follows net/ipv6/proc.c sockstat6_seq_show.
func genSockstat6(b *strings.Builder, st *NetStats) {
	fmt.Fprintf(b, "TCP6: inuse %d\nUDP6: inuse %d\n", st.TCP6InUse, st.UDP6InUse)
	b.WriteString("UDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n")
}

// mibLines writes a pair of lines, names then values, of group (Linux's
// snmp and netstat files).
func mibLines(b *strings.Builder, group string, names []string, value func(name string) string) {
	b.WriteString(group + ":")
	for _, n := range names {
		b.WriteString(" " + n)
	}
	b.WriteString("\n" + group + ":")
	for _, n := range names {
		b.WriteString(" " + value(n))
	}
	b.WriteByte('\n')
}

// counter reads st's counter group+name as a decimal.
func counter(st *NetStats, group string) func(string) string {
	return func(name string) string { return fmt.Sprint(st.Counters[group+name]) }
}

// genSnmp follows net/ipv4/proc.c snmp_seq_show: Ip (Forwarding 1 on,
// 2 off; the default TTL 64), Icmp (its per-type counters read from
// the icmpmsg counts), IcmpMsg (only when a type has a count: up to 16
// types a pair of lines), Tcp (RFC 2012's constant RTO fields, MaxConn
// -1), Udp and UdpLite.
func genSnmp(b *strings.Builder, st *NetStats) {
	mibLines(b, "Ip", snmpIP, func(n string) string {
		switch n {
		case "Forwarding":
			if st.Counters["IpForwarding"] == 1 {
				return "1"
			}
			return "2"
		case "DefaultTTL":
			return "64"
		}
		return fmt.Sprint(st.Counters["Ip"+n])
	})
	var names, values []string
	put := func(n string, v uint64) { names, values = append(names, n), append(values, fmt.Sprint(v)) }
	for _, n := range []string{"InMsgs", "InErrors", "InCsumErrors"} {
		put(n, st.Counters["Icmp"+n])
	}
	for _, t := range snmpICMPTypes {
		put("In"+t.name, st.ICMPMsg[0][t.typ])
	}
	for _, n := range []string{"OutMsgs", "OutErrors", "OutRateLimitGlobal", "OutRateLimitHost"} {
		put(n, st.Counters["Icmp"+n])
	}
	for _, t := range snmpICMPTypes {
		put("Out"+t.name, st.ICMPMsg[1][t.typ])
	}
	b.WriteString("Icmp: " + strings.Join(names, " ") + "\nIcmp: " + strings.Join(values, " ") + "\n")
	names, values = nil, nil
	flush := func() {
		if len(names) > 0 {
			b.WriteString("IcmpMsg: " + strings.Join(names, " ") + "\nIcmpMsg: " + strings.Join(values, " ") + "\n")
			names, values = nil, nil
		}
	}
	for dir, d := range []string{"In", "Out"} {
		for typ, v := range st.ICMPMsg[dir] {
			if v != 0 {
				put(fmt.Sprintf("%sType%d", d, typ), v)
			}
			if len(names) == 16 {
				flush()
			}
		}
	}
	flush()
	mibLines(b, "Tcp", snmpTCP, func(n string) string {
		switch n {
		case "RtoAlgorithm":
			return "1"
		case "RtoMin":
			return "200"
		case "RtoMax":
			return "120000"
		case "MaxConn":
			return "-1"
		}
		return fmt.Sprint(st.Counters["Tcp"+n])
	})
	mibLines(b, "Udp", snmpUDP, counter(st, "Udp"))
	mibLines(b, "UdpLite", snmpUDP, counter(st, "UdpLite"))
}

// genNetstat follows net/ipv4/proc.c netstat_seq_show: TcpExt and
// IpExt (no MPTcpExt: the sandbox has no MPTCP).
func genNetstat(b *strings.Builder, st *NetStats) {
	mibLines(b, "TcpExt", netstatTCPExt, counter(st, "TcpExt"))
	mibLines(b, "IpExt", netstatIPExt, counter(st, "IpExt"))
}

// genSnmp6 follows net/ipv6/proc.c snmp6_seq_show: one "%-32s\t%lu"
// line a counter: Ip6, Icmp6 (its named types, then each type with a
// count by number), Udp6 and UdpLite6.
func genSnmp6(b *strings.Builder, st *NetStats) {
	line := func(name string, v uint64) { fmt.Fprintf(b, "%-32s\t%d\n", name, v) }
	for _, n := range snmp6IP {
		line("Ip6"+n, st.Counters["Ip6"+n])
	}
	for _, n := range snmp6ICMP {
		line("Icmp6"+n, st.Counters["Icmp6"+n])
	}
	for dir, d := range []string{"In", "Out"} {
		for _, t := range snmp6ICMPTypes {
			line("Icmp6"+d+t.name, st.ICMP6Msg[dir][t.typ])
		}
	}
	for dir, d := range []string{"In", "Out"} {
		for typ, v := range st.ICMP6Msg[dir] {
			if v != 0 {
				line(fmt.Sprintf("Icmp6%sType%d", d, typ), v)
			}
		}
	}
	for _, n := range snmpUDP {
		line("Udp6"+n, st.Counters["Udp6"+n])
	}
	for _, n := range snmp6UDPLite {
		line("UdpLite6"+n, st.Counters["UdpLite6"+n])
	}
}
