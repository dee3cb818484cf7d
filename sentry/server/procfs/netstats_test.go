package procfs

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNetStats renders /proc/net/sockstat, sockstat6, snmp, snmp6 and
// netstat from a fixed NetStats, in Linux 6.1's formats.
func TestNetStats(t *testing.T) {
	st := &NetStats{
		Counters: map[string]uint64{"IpForwarding": 1, "IpInReceives": 7, "IcmpInMsgs": 3, "IcmpOutRateLimitGlobal": 2,
			"TcpActiveOpens": 5, "TcpCurrEstab": 4, "UdpNoPorts": 6, "TcpExtListenDrops": 8, "TcpExtTCPMigrateReqFailure": 10,
			"IpExtReasmOverlaps": 11, "Ip6InReceives": 12, "Ip6InCEPkts": 14, "Icmp6OutRateLimitHost": 15, "Udp6MemErrors": 16},
		Sockets: 9, TCPInUse: 3, TCP6InUse: 2, TCPOrphans: 1, TCPTimeWait: 4, TCPAlloc: 6, UDPInUse: 1, UDP6InUse: 5,
	}
	st.ICMPMsg[0][3] = 2
	st.ICMPMsg[1][3] = 1
	st.ICMPMsg[0][200] = 1 // unnamed: in IcmpMsg only
	st.ICMP6Msg[0][1] = 21
	st.ICMP6Msg[1][200] = 22
	src := newFake()
	src.netStats = st
	read := func(name string) string {
		t.Helper()
		b, err := Generate(src, Top, "net/"+name, 0, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(b)
	}
	if got, want := read("sockstat"), "sockets: used 9\nTCP: inuse 3 orphan 1 tw 4 alloc 6 mem 0\nUDP: inuse 1 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n"; got != want {
		t.Errorf("sockstat:\n%s\nwant:\n%s", got, want)
	}
	if got, want := read("sockstat6"), "TCP6: inuse 2\nUDP6: inuse 5\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n"; got != want {
		t.Errorf("sockstat6:\n%s\nwant:\n%s", got, want)
	}

	// snmp: pairs of lines, names then values; each name's value.
	snmp := read("snmp")
	lines := strings.Split(strings.TrimSuffix(snmp, "\n"), "\n")
	var groups []string
	values := map[string]string{}
	for i := 0; i+1 < len(lines); i += 2 {
		n, v := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if n[0] != v[0] || len(n) != len(v) {
			t.Fatalf("snmp lines %d, %d do not pair:\n%s\n%s", i, i+1, lines[i], lines[i+1])
		}
		groups = append(groups, n[0])
		for j := 1; j < len(n); j++ {
			values[n[0]+n[j]] = v[j]
		}
	}
	if want := "[Ip: Icmp: IcmpMsg: Tcp: Udp: UdpLite:]"; fmt.Sprint(groups) != want || len(lines)%2 != 0 {
		t.Errorf("snmp groups %v (%d lines), want %s", groups, len(lines), want)
	}
	for k, want := range map[string]string{
		"Ip:Forwarding": "1", "Ip:DefaultTTL": "64", "Ip:InReceives": "7", "Ip:FragCreates": "0",
		"Icmp:InMsgs": "3", "Icmp:InDestUnreachs": "2", "Icmp:OutDestUnreachs": "1", "Icmp:OutRateLimitGlobal": "2",
		"IcmpMsg:InType3": "2", "IcmpMsg:InType200": "1", "IcmpMsg:OutType3": "1",
		"Tcp:RtoAlgorithm": "1", "Tcp:RtoMin": "200", "Tcp:RtoMax": "120000", "Tcp:MaxConn": "-1",
		"Tcp:ActiveOpens": "5", "Tcp:CurrEstab": "4", "Udp:NoPorts": "6", "Udp:MemErrors": "0", "UdpLite:MemErrors": "0",
	} {
		if got, ok := values[k]; got != want {
			t.Errorf("snmp %s = %q (present %v), want %s", k, got, ok, want)
		}
	}
	if n := strings.Count(lines[0], " "); n != 19 {
		t.Errorf("snmp Ip has %d names, Linux 6.1 19", n)
	}
	if n := strings.Count(lines[2], " "); n != 29 {
		t.Errorf("snmp Icmp has %d names, Linux 6.1 29", n)
	}

	netstat := strings.Split(read("netstat"), "\n")
	if len(netstat) != 5 || !strings.HasPrefix(netstat[0], "TcpExt: SyncookiesSent SyncookiesRecv ") ||
		!strings.HasSuffix(netstat[0], " TCPMigrateReqSuccess TCPMigrateReqFailure") || !strings.HasPrefix(netstat[2], "IpExt: InNoRoutes ") {
		t.Errorf("netstat:\n%s", strings.Join(netstat, "\n"))
	}
	for i, want := range []struct {
		names int
		last  string
	}{{125, "10"}, {0, ""}, {18, "11"}} {
		if i == 1 {
			continue
		}
		v := strings.Fields(netstat[i+1])
		if n := len(strings.Fields(netstat[i])) - 1; n != want.names || v[len(v)-1] != want.last {
			t.Errorf("netstat line %d: %d names, last value %s; want %d, %s", i, n, v[len(v)-1], want.names, want.last)
		}
	}

	snmp6 := read("snmp6")
	for _, want := range []string{
		"Ip6InReceives                   \t12\n", "Ip6InCEPkts                     \t14\n",
		"Icmp6OutRateLimitHost           \t15\n", "Icmp6InDestUnreachs             \t21\n",
		"Icmp6OutMLDv2Reports            \t0\n", "Icmp6InType1                    \t21\n",
		"Icmp6OutType200                 \t22\n", "Udp6MemErrors                   \t16\n",
		"UdpLite6MemErrors               \t0\n",
	} {
		if !strings.Contains(snmp6, want) {
			t.Errorf("snmp6 lacks %q", want)
		}
	}
	if n, want := strings.Count(snmp6, "\n"), 32+6+30+2+9+8; n != want {
		t.Errorf("snmp6 has %d lines, want %d", n, want)
	}
	if strings.Contains(snmp6, "Ip6OutTransmits") || strings.Contains(snmp, "OutTransmits") {
		t.Error("a field newer than Linux 6.1")
	}
}

// TestNetStatsIcmpMsgLines: IcmpMsg holds at most 16 types a pair of
// lines, In types before Out, and is absent when no type has a count.
func TestNetStatsIcmpMsgLines(t *testing.T) {
	st := &NetStats{}
	var b strings.Builder
	genSnmp(&b, st)
	if strings.Contains(b.String(), "IcmpMsg") {
		t.Errorf("IcmpMsg with no counts:\n%s", b.String())
	}
	for typ := 0; typ < 10; typ++ {
		st.ICMPMsg[0][typ], st.ICMPMsg[1][typ] = 1, 1
	}
	b.Reset()
	genSnmp(&b, st)
	var msg []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "IcmpMsg:") {
			msg = append(msg, l)
		}
	}
	if len(msg) != 4 || len(strings.Fields(msg[0])) != 17 || len(strings.Fields(msg[2])) != 5 ||
		!strings.HasPrefix(msg[0], "IcmpMsg: InType0 InType1 ") || !strings.HasSuffix(msg[0], " OutType5") ||
		msg[2] != "IcmpMsg: OutType6 OutType7 OutType8 OutType9" {
		t.Errorf("IcmpMsg lines:\n%s", strings.Join(msg, "\n"))
	}
}

// TestNetStatsHost: with the machine's network the machine's files are
// shown as they are; a NetStats failure fails the read.
func TestNetStatsHost(t *testing.T) {
	src := newFake()
	src.hostNet = map[string][]byte{"snmp": []byte("the host's\n")}
	if b, err := Generate(src, Top, "net/snmp", 0, 0); err != nil || string(b) != "the host's\n" {
		t.Errorf("host snmp: %q, %v", b, err)
	}
	if _, err := Generate(src, Top, "net/netstat", 0, 0); !errors.Is(err, unix.EIO) {
		t.Errorf("netstat without NetStats: %v, want EIO", err)
	}
}
