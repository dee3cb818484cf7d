package sockdiag

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/marshal/primitive"
	"gvisor.dev/gvisor/pkg/sentry/socket/netlink/nlmsg"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
)

const port = 77

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.MustParseAddr("::1")
)

// table is a sandbox's sockets: TCP on IPv4 (a listener, a connection
// and its accepted end) and IPv6, UDP, unix (a listener on a path, a
// connected pair, an abstract datagram socket), an unconnected UDP
// socket on IPv6's any address.
var table = []procfs.Socket{
	{Family: unix.AF_INET, Type: unix.SOCK_STREAM, Local: netip.AddrPortFrom(lo4, 8080), State: linux.TCP_LISTEN, Backlog: 4, Ino: 100},
	{Family: unix.AF_INET, Type: unix.SOCK_STREAM, Local: netip.AddrPortFrom(lo4, 40000), Remote: netip.AddrPortFrom(lo4, 8080), State: linux.TCP_ESTABLISHED, TxQueue: 3, Ino: 101},
	{Family: unix.AF_INET, Type: unix.SOCK_STREAM, Local: netip.AddrPortFrom(lo4, 8080), Remote: netip.AddrPortFrom(lo4, 40000), State: linux.TCP_ESTABLISHED, RxQueue: 5, UID: 1000, Ino: 102},
	{Family: unix.AF_INET6, Type: unix.SOCK_STREAM, Local: netip.AddrPortFrom(lo6, 443), State: linux.TCP_LISTEN, Backlog: 128, Ino: 103, V6Only: true},
	{Family: unix.AF_INET, Type: unix.SOCK_DGRAM, Local: netip.AddrPortFrom(netip.IPv4Unspecified(), 53), State: linux.TCP_CLOSE, Ino: 104},
	{Family: unix.AF_INET6, Type: unix.SOCK_DGRAM, Local: netip.AddrPortFrom(lo6, 5000), Remote: netip.AddrPortFrom(lo6, 5001), State: linux.TCP_ESTABLISHED, Ino: 105},
	{Family: unix.AF_UNIX, Type: unix.SOCK_STREAM, State: linux.TCP_LISTEN, Backlog: 1, RxQueue: 2, Ino: 106, Path: "/run/x.sock"},
	{Family: unix.AF_UNIX, Type: unix.SOCK_STREAM, State: linux.TCP_ESTABLISHED, Ino: 107, Peer: 108, RxQueue: 6, TxQueue: 7},
	{Family: unix.AF_UNIX, Type: unix.SOCK_STREAM, State: linux.TCP_ESTABLISHED, Ino: 108, Peer: 107},
	{Family: unix.AF_UNIX, Type: unix.SOCK_DGRAM, State: linux.TCP_CLOSE, Ino: 109, Path: "\x00abs"},
	{Family: unix.AF_INET6, Type: unix.SOCK_DGRAM, Local: netip.AddrPortFrom(netip.IPv6Unspecified(), 6000), State: linux.TCP_CLOSE, Ino: 110},
}

func list() []procfs.Socket { return table }

const allStates = ^uint32(0)

// message builds a netlink request of typ with body and attrs.
func message(typ, flags uint16, seq uint32, body []byte) []byte {
	m := nlmsg.NewMessage(linux.NetlinkMessageHeader{Type: typ, Flags: flags, Seq: seq})
	b := primitive.ByteSlice(append([]byte(nil), body...))
	m.Put(&b)
	return m.Finalize()
}

// inetReq is an inet_diag_req_v2 (with attributes appended as given).
func inetReq(family, proto uint8, states uint32, id []byte, attrs ...byte) []byte {
	b := make([]byte, inetReqV2Size)
	b[0], b[1] = family, proto
	binary.NativeEndian.PutUint32(b[4:], states)
	copy(b[8:], id)
	return append(b, attrs...)
}

// unixReq is a unix_diag_req.
func unixReq(states, ino, show uint32, cookie [2]uint32) []byte {
	b := make([]byte, unixReqSize)
	b[0] = unix.AF_UNIX
	binary.NativeEndian.PutUint32(b[4:], states)
	binary.NativeEndian.PutUint32(b[8:], ino)
	binary.NativeEndian.PutUint32(b[12:], show)
	binary.NativeEndian.PutUint32(b[16:], cookie[0])
	binary.NativeEndian.PutUint32(b[20:], cookie[1])
	return b
}

// reply is one message of the replies, summarized.
type reply struct {
	typ   uint16
	flags uint16
	// what: an inet socket's "family state sport dport rq wq uid ino
	// src dst", a unix socket's "type state ino" and its attributes, an
	// error's errno.
	what string
}

// parse reads the replies, checking every message's port and seq and
// that a datagram holds whole messages.
func parse(t *testing.T, seq uint32, datagrams [][]byte) [][]reply {
	t.Helper()
	var out [][]reply
	for _, d := range datagrams {
		var rs []reply
		for len(d) > 0 {
			msg, rest, ok := nlmsg.ParseMessage(d)
			if !ok {
				t.Fatalf("malformed datagram %x", d)
			}
			d = rest
			h := msg.Header()
			if h.PortID != port || h.Seq != seq {
				t.Errorf("message port %d seq %d, want %d %d", h.PortID, h.Seq, port, seq)
			}
			rs = append(rs, reply{typ: h.Type, flags: h.Flags, what: describe(t, h.Type, msg.Buffer()[linux.NetlinkMessageHeaderSize:])})
		}
		out = append(out, rs)
	}
	return out
}

func describe(t *testing.T, typ uint16, b []byte) string {
	switch {
	case typ == linux.NLMSG_ERROR || typ == linux.NLMSG_DONE:
		errno := unix.Errno(-int32(binary.NativeEndian.Uint32(b)))
		if errno == 0 {
			return "0"
		}
		return unix.ErrnoName(errno)
	case b[0] == unix.AF_UNIX:
		s := fmtUnix(b)
		attrs := nlmsg.AttrsView(b[unixMsgSize:])
		for !attrs.Empty() {
			h, v, rest, ok := attrs.ParseFirst()
			if !ok {
				t.Fatalf("malformed attributes %x", b)
			}
			attrs = rest
			switch h.Type {
			case unixDiagName:
				s += " name=" + string(v)
			case unixDiagPeer:
				s += " peer=" + itoa(binary.NativeEndian.Uint32(v))
			case unixDiagRQLen:
				s += " rq=" + itoa(binary.NativeEndian.Uint32(v)) + "," + itoa(binary.NativeEndian.Uint32(v[4:]))
			case unixDiagUID:
				s += " uid=" + itoa(binary.NativeEndian.Uint32(v))
			default:
				s += " attr" + itoa(uint32(h.Type))
			}
		}
		return s
	}
	if len(b) < inetMsgSize {
		t.Fatalf("inet_diag_msg of %d bytes", len(b))
	}
	var attrs string
	for a := nlmsg.AttrsView(b[inetMsgSize:]); !a.Empty(); {
		h, v, rest, ok := a.ParseFirst()
		if !ok || h.Type != inetDiagSKV6Only || len(v) != 1 {
			t.Fatalf("unexpected attributes %x", b[inetMsgSize:])
		}
		a = rest
		attrs += " v6only=" + itoa(uint32(v[0]))
	}
	n := 16
	if b[0] == unix.AF_INET {
		n = 4
	}
	src, _ := netip.AddrFromSlice(b[8 : 8+n])
	dst, _ := netip.AddrFromSlice(b[24 : 24+n])
	if c := binary.NativeEndian.Uint32(b[44:]); c != binary.NativeEndian.Uint32(b[68:]) {
		t.Errorf("cookie %d is not the inode", c)
	}
	return itoa(uint32(b[0])) + " " + itoa(uint32(b[1])) + " " + itoa(uint32(binary.BigEndian.Uint16(b[4:]))) + " " +
		itoa(uint32(binary.BigEndian.Uint16(b[6:]))) + " " + itoa(binary.NativeEndian.Uint32(b[56:])) + " " +
		itoa(binary.NativeEndian.Uint32(b[60:])) + " " + itoa(binary.NativeEndian.Uint32(b[64:])) + " " +
		itoa(binary.NativeEndian.Uint32(b[68:])) + " " + src.String() + " " + dst.String() + attrs
}

func fmtUnix(b []byte) string {
	return "unix " + itoa(uint32(b[1])) + " " + itoa(uint32(b[2])) + " " + itoa(binary.NativeEndian.Uint32(b[4:]))
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

const dump = linux.NLM_F_REQUEST | linux.NLM_F_DUMP

var done = reply{linux.NLMSG_DONE, linux.NLM_F_MULTI, "0"}

func multi(what ...string) []reply {
	var out []reply
	for _, w := range what {
		out = append(out, reply{SockDiagByFamily, linux.NLM_F_MULTI, w})
	}
	return out
}

func errReply(errno string) [][]reply { return [][]reply{{{linux.NLMSG_ERROR, 0, errno}}} }

func TestAnswer(t *testing.T) {
	tcp, udp := uint8(unix.IPPROTO_TCP), uint8(unix.IPPROTO_UDP)
	// id4 names the accepted connection (source 8080, destination
	// 40000) with no cookie.
	id4 := make([]byte, sockIDSize)
	binary.BigEndian.PutUint16(id4, 8080)
	binary.BigEndian.PutUint16(id4[2:], 40000)
	copy(id4[4:], lo4.AsSlice())
	copy(id4[20:], lo4.AsSlice())
	binary.NativeEndian.PutUint32(id4[40:], noCookie)
	binary.NativeEndian.PutUint32(id4[44:], noCookie)
	listener4 := append([]byte(nil), id4...)
	binary.BigEndian.PutUint16(listener4[2:], 1) // no such peer: the listener
	staleID := append([]byte(nil), id4...)
	binary.NativeEndian.PutUint32(staleID[40:], 101)
	binary.NativeEndian.PutUint32(staleID[44:], 0)
	mptcp := []byte{8, 0, inetDiagReqProtocol, 0, 0x06, 0x01, 0, 0} // u32 262
	noCookies := [2]uint32{noCookie, noCookie}
	v1 := make([]byte, inetReqV1Size)
	binary.NativeEndian.PutUint32(v1[4+sockIDSize:], 1<<linux.TCP_LISTEN)
	for _, tc := range []struct {
		name  string
		typ   uint16
		flags uint16
		body  []byte
		want  [][]reply
	}{
		{"tcp4 all", SockDiagByFamily, dump, inetReq(unix.AF_INET, tcp, allStates, nil), [][]reply{multi(
			"2 10 8080 0 0 4 0 100 127.0.0.1 0.0.0.0",
			"2 1 40000 8080 0 3 0 101 127.0.0.1 127.0.0.1",
			"2 1 8080 40000 5 0 1000 102 127.0.0.1 127.0.0.1"), {done}}},
		{"tcp4 established", SockDiagByFamily, dump, inetReq(unix.AF_INET, tcp, 1<<linux.TCP_ESTABLISHED, nil), [][]reply{multi(
			"2 1 40000 8080 0 3 0 101 127.0.0.1 127.0.0.1",
			"2 1 8080 40000 5 0 1000 102 127.0.0.1 127.0.0.1"), {done}}},
		{"tcp6", SockDiagByFamily, dump, inetReq(unix.AF_INET6, tcp, allStates, nil), [][]reply{multi("10 10 443 0 0 128 0 103 ::1 :: v6only=1"), {done}}},
		{"udp4", SockDiagByFamily, dump, inetReq(unix.AF_INET, udp, allStates, nil), [][]reply{multi("2 7 53 0 0 0 0 104 0.0.0.0 0.0.0.0"), {done}}},
		{"udp6 unconnected", SockDiagByFamily, dump, inetReq(unix.AF_INET6, udp, 1<<linux.TCP_CLOSE, nil), [][]reply{multi("10 7 6000 0 0 0 0 110 :: :: v6only=0"), {done}}},
		{"udp6 no state", SockDiagByFamily, dump, inetReq(unix.AF_INET6, udp, 1<<linux.TCP_LISTEN, nil), [][]reply{{done}}},
		{"raw: none", SockDiagByFamily, dump, inetReq(unix.AF_INET, unix.IPPROTO_RAW, allStates, nil), [][]reply{{done}}},
		{"sctp", SockDiagByFamily, dump, inetReq(unix.AF_INET, unix.IPPROTO_SCTP, allStates, nil), errReply("ENOENT")},
		{"mptcp attribute", SockDiagByFamily, dump, inetReq(unix.AF_INET, tcp, allStates, nil, mptcp...), errReply("ENOENT")},
		{"short protocol attribute", SockDiagByFamily, dump, inetReq(unix.AF_INET, tcp, allStates, nil, 6, 0, inetDiagReqProtocol, 0, 1, 0, 0, 0), errReply("EINVAL")},
		{"short inet request", SockDiagByFamily, dump, inetReq(unix.AF_INET, tcp, allStates, nil)[:inetReqV2Size-1], errReply("EINVAL")},
		{"packet family", SockDiagByFamily, dump, []byte{unix.AF_PACKET, 0}, errReply("ENOENT")},
		{"family past AF_MAX", SockDiagByFamily, dump, []byte{afMax, 0}, errReply("EINVAL")},
		{"no family", SockDiagByFamily, dump, []byte{unix.AF_INET}, errReply("EINVAL")},
		{"unknown type", 22, dump, inetReq(unix.AF_INET, tcp, allStates, nil), errReply("EINVAL")},
		{"destroy", sockDestroy, linux.NLM_F_REQUEST, inetReq(unix.AF_INET, tcp, allStates, id4), errReply("ENOTSUP")},
		{"destroy unix", sockDestroy, linux.NLM_F_REQUEST, unixReq(allStates, 107, 0, noCookies), errReply("ENOTSUP")},
		{"tcp exact", SockDiagByFamily, linux.NLM_F_REQUEST, inetReq(unix.AF_INET, tcp, allStates, id4),
			[][]reply{{{SockDiagByFamily, 0, "2 1 8080 40000 5 0 1000 102 127.0.0.1 127.0.0.1"}}}},
		{"tcp exact acked", SockDiagByFamily, linux.NLM_F_REQUEST | linux.NLM_F_ACK, inetReq(unix.AF_INET, tcp, allStates, listener4),
			[][]reply{{{SockDiagByFamily, 0, "2 10 8080 0 0 4 0 100 127.0.0.1 0.0.0.0"}}, {{linux.NLMSG_ERROR, 0, "0"}}}},
		{"tcp exact stale", SockDiagByFamily, linux.NLM_F_REQUEST, inetReq(unix.AF_INET, tcp, allStates, staleID), errReply("ESTALE")},
		{"tcp exact none", SockDiagByFamily, linux.NLM_F_REQUEST, inetReq(unix.AF_INET6, tcp, allStates, id4), errReply("ENOENT")},
		{"tcpdiag compat", tcpDiagGetSock, dump, v1, [][]reply{{
			{tcpDiagGetSock, linux.NLM_F_MULTI, "2 10 8080 0 0 4 0 100 127.0.0.1 0.0.0.0"},
			{tcpDiagGetSock, linux.NLM_F_MULTI, "10 10 443 0 0 128 0 103 ::1 :: v6only=1"}}, {done}}},
		{"dccp compat", dccpDiagGetSock, dump, v1, errReply("ENOENT")},
		{"short compat", tcpDiagGetSock, dump, v1[:inetReqV1Size-1], errReply("EINVAL")},
		{"unix all", SockDiagByFamily, dump, unixReq(allStates, 0, udiagShowName|udiagShowPeer|udiagShowRQLen|udiagShowUID, [2]uint32{}), [][]reply{multi(
			"unix 1 10 106 name=/run/x.sock\x00 rq=2,1 uid=0",
			"unix 1 1 107 peer=108 rq=6,7 uid=0",
			"unix 1 1 108 peer=107 rq=0,0 uid=0",
			"unix 2 7 109 name=\x00abs rq=0,0 uid=0"), {done}}},
		{"unix listening, no attributes", SockDiagByFamily, dump, unixReq(1<<linux.TCP_LISTEN, 0, 0, [2]uint32{}), [][]reply{multi("unix 1 10 106"), {done}}},
		{"unix exact", SockDiagByFamily, linux.NLM_F_REQUEST, unixReq(0, 108, udiagShowPeer, noCookies), [][]reply{{{SockDiagByFamily, 0, "unix 1 1 108 peer=107"}}}},
		{"unix exact cookie", SockDiagByFamily, linux.NLM_F_REQUEST, unixReq(0, 108, 0, [2]uint32{108, 0}), [][]reply{{{SockDiagByFamily, 0, "unix 1 1 108"}}}},
		{"unix exact stale", SockDiagByFamily, linux.NLM_F_REQUEST, unixReq(0, 108, 0, [2]uint32{107, 0}), errReply("ESTALE")},
		{"unix exact none", SockDiagByFamily, linux.NLM_F_REQUEST, unixReq(0, 100, 0, noCookies), errReply("ENOENT")},
		{"unix exact no inode", SockDiagByFamily, linux.NLM_F_REQUEST, unixReq(0, 0, 0, noCookies), errReply("ENOENT")},
		{"short unix request", SockDiagByFamily, dump, unixReq(allStates, 0, 0, [2]uint32{})[:unixReqSize-1], errReply("EINVAL")},
		{"not a request", SockDiagByFamily, linux.NLM_F_DUMP, inetReq(unix.AF_INET, tcp, allStates, nil), nil},
		{"control message acked", linux.NLMSG_NOOP, linux.NLM_F_REQUEST | linux.NLM_F_ACK, nil, [][]reply{{{linux.NLMSG_ERROR, 0, "0"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parse(t, 9, Answer(list, port, message(tc.typ, tc.flags, 9, tc.body)))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// TestAnswerErrorEcho: an error echoes the request whole, an
// acknowledgement its header (netlink_ack without NETLINK_CAP_ACK).
func TestAnswerErrorEcho(t *testing.T) {
	req := message(SockDiagByFamily, linux.NLM_F_REQUEST, 3, []byte{unix.AF_PACKET, 0})
	out := Answer(list, port, req)
	if len(out) != 1 || len(out[0]) != linux.NetlinkMessageHeaderSize+4+len(req) || string(out[0][20:]) != string(req) {
		t.Errorf("error %x, want the request %x echoed", out, req)
	}
	ack := message(linux.NLMSG_NOOP, linux.NLM_F_REQUEST|linux.NLM_F_ACK, 3, []byte{1, 2, 3, 4})
	out = Answer(list, port, ack)
	if len(out) != 1 || len(out[0]) != 2*linux.NetlinkMessageHeaderSize+4 {
		t.Errorf("acknowledgement %x, want its header echoed", out)
	}
}

// TestAnswerMessages: one send's messages are answered in order, the
// table listed once; a message whose length does not fit ends them.
func TestAnswerMessages(t *testing.T) {
	calls := 0
	count := func() []procfs.Socket { calls++; return table }
	a := message(SockDiagByFamily, dump, 1, inetReq(unix.AF_INET6, unix.IPPROTO_TCP, allStates, nil))
	b := message(SockDiagByFamily, dump, 2, unixReq(1<<linux.TCP_LISTEN, 0, 0, [2]uint32{}))
	bad := message(SockDiagByFamily, dump, 3, unixReq(allStates, 0, 0, [2]uint32{}))
	binary.NativeEndian.PutUint32(bad, uint32(len(bad)+1))
	out := Answer(count, port, append(append(append([]byte(nil), a...), b...), bad...))
	if calls != 1 {
		t.Errorf("the table was listed %d times, want 1", calls)
	}
	if len(out) != 4 {
		t.Fatalf("%d datagrams, want 4 (two dumps of one socket and their NLMSG_DONE)", len(out))
	}
	if got := parse(t, 1, out[:2]); !reflect.DeepEqual(got, [][]reply{multi("10 10 443 0 0 128 0 103 ::1 :: v6only=1"), {done}}) {
		t.Errorf("first dump %#v", got)
	}
	if got := parse(t, 2, out[2:]); !reflect.DeepEqual(got, [][]reply{multi("unix 1 10 106"), {done}}) {
		t.Errorf("second dump %#v", got)
	}
	calls = 0
	Answer(count, port, message(SockDiagByFamily, dump, 1, []byte{unix.AF_PACKET, 0}))
	if calls != 0 {
		t.Errorf("a request answered with an error listed the table")
	}
}

// TestAnswerLargeDump: a dump's messages come in datagrams of at most
// maxDatagram bytes, none lost.
func TestAnswerLargeDump(t *testing.T) {
	var many []procfs.Socket
	for i := range 2000 {
		many = append(many, procfs.Socket{Family: unix.AF_UNIX, Type: unix.SOCK_STREAM, State: linux.TCP_CLOSE, Ino: uint64(1000 + i)})
	}
	out := Answer(func() []procfs.Socket { return many }, port, message(SockDiagByFamily, dump, 5, unixReq(allStates, 0, 0, [2]uint32{})))
	n := 0
	for i, rs := range parse(t, 5, out) {
		if len(out[i]) > maxDatagram {
			t.Errorf("datagram %d of %d bytes", i, len(out[i]))
		}
		for _, r := range rs {
			if r.typ == SockDiagByFamily {
				n++
			}
		}
	}
	if n != len(many) || len(out) < 3 {
		t.Errorf("%d sockets in %d datagrams, want %d in several", n, len(out), len(many))
	}
}

// FuzzAnswer: no request makes Answer panic, and every datagram it
// returns is whole netlink messages addressed to the port.
func FuzzAnswer(f *testing.F) {
	f.Add(message(SockDiagByFamily, dump, 1, inetReq(unix.AF_INET, unix.IPPROTO_TCP, allStates, nil)))
	f.Add(message(SockDiagByFamily, dump, 1, unixReq(allStates, 0, 0x7f, [2]uint32{})))
	f.Add(message(SockDiagByFamily, linux.NLM_F_REQUEST|linux.NLM_F_ACK, 1, unixReq(allStates, 107, 0x7f, [2]uint32{noCookie, noCookie})))
	f.Add(message(tcpDiagGetSock, linux.NLM_F_REQUEST, 1, make([]byte, inetReqV1Size)))
	f.Add(message(SockDiagByFamily, dump, 1, inetReq(unix.AF_INET6, unix.IPPROTO_UDP, allStates, nil, 8, 0, 3, 0, 17, 0, 0, 0)))
	f.Fuzz(func(t *testing.T, req []byte) {
		for _, d := range Answer(list, port, req) {
			for len(d) > 0 {
				msg, rest, ok := nlmsg.ParseMessage(d)
				if !ok {
					t.Fatalf("malformed datagram %x", d)
				}
				if msg.Header().PortID != port {
					t.Fatalf("message to port %d", msg.Header().PortID)
				}
				d = rest
			}
		}
	})
}
