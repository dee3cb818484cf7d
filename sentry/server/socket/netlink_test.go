package socket

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// request is one netlink request message with a one-byte family body.
func request(typ, flags uint16, seq uint32, family byte) []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b, 17)
	binary.LittleEndian.PutUint16(b[4:], typ)
	binary.LittleEndian.PutUint16(b[6:], flags)
	binary.LittleEndian.PutUint32(b[8:], seq)
	b[16] = family
	return b
}

// linkRequest is a request with a struct ifinfomsg.
func linkRequest(typ, flags uint16, seq uint32, index int32, ifflags, change uint32) []byte {
	b := make([]byte, 32)
	binary.LittleEndian.PutUint32(b, 32)
	binary.LittleEndian.PutUint16(b[4:], typ)
	binary.LittleEndian.PutUint16(b[6:], flags)
	binary.LittleEndian.PutUint32(b[8:], seq)
	binary.LittleEndian.PutUint32(b[20:], uint32(index))
	binary.LittleEndian.PutUint32(b[24:], ifflags)
	binary.LittleEndian.PutUint32(b[28:], change)
	return b
}

// messages splits datagrams into (type, seq, pid) triples.
func messages(t *testing.T, ds [][]byte) [][3]uint32 {
	var out [][3]uint32
	for _, d := range ds {
		for len(d) >= 16 {
			l := int(binary.LittleEndian.Uint32(d))
			if l < 16 || l > len(d) {
				t.Fatalf("bad message length %d in %d bytes", l, len(d))
			}
			out = append(out, [3]uint32{uint32(binary.LittleEndian.Uint16(d[4:])), binary.LittleEndian.Uint32(d[8:]), binary.LittleEndian.Uint32(d[12:])})
			d = d[min((l+3)&^3, len(d)):]
		}
	}
	return out
}

// TestNetlinkRoute checks the dumps of the loopback stack and the
// refusal of requests that would change it.
func TestNetlinkRoute(t *testing.T) {
	st, err := NewLoopbackStack()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Destroy()
	dump := uint16(linux.NLM_F_REQUEST | linux.NLM_F_DUMP)
	for _, tc := range []struct {
		name string
		req  []byte
		want [][3]uint32
	}{
		{"links", request(rtmGetLink, dump, 5, unix.AF_UNSPEC), [][3]uint32{{linux.RTM_NEWLINK, 5, 77}, {linux.NLMSG_DONE, 5, 77}}},
		{"addresses", request(rtmGetAddr, dump, 6, unix.AF_UNSPEC), [][3]uint32{{linux.RTM_NEWADDR, 6, 77}, {linux.RTM_NEWADDR, 6, 77}, {linux.NLMSG_DONE, 6, 77}}},
		{"IPv4 addresses", request(rtmGetAddr, dump, 7, unix.AF_INET), [][3]uint32{{linux.RTM_NEWADDR, 7, 77}, {linux.NLMSG_DONE, 7, 77}}},
		{"IPv6 routes", request(rtmGetRoute, dump, 8, unix.AF_INET6), [][3]uint32{{linux.RTM_NEWROUTE, 8, 77}, {linux.NLMSG_DONE, 8, 77}}},
		{"a change", request(linux.RTM_NEWADDR, linux.NLM_F_REQUEST, 9, unix.AF_INET), [][3]uint32{{linux.NLMSG_ERROR, 9, 77}}},
		{"one link", linkRequest(rtmGetLink, linux.NLM_F_REQUEST, 12, 1, 0, 0), [][3]uint32{{linux.RTM_NEWLINK, 12, 77}}},
		{"no such link", linkRequest(rtmGetLink, linux.NLM_F_REQUEST, 13, 5, 0, 0), [][3]uint32{{linux.NLMSG_ERROR, 13, 77}}},
		{"lo up, acked", linkRequest(rtmNewLink, linux.NLM_F_REQUEST|linux.NLM_F_ACK, 14, 1, unix.IFF_UP, unix.IFF_UP), [][3]uint32{{linux.NLMSG_ERROR, 14, 77}}},
		{"lo up", linkRequest(rtmNewLink, linux.NLM_F_REQUEST, 15, 1, unix.IFF_UP, unix.IFF_UP), nil},
		{"not a request", request(rtmGetLink, linux.NLM_F_DUMP, 10, 0), nil},
		{"truncated", request(rtmGetLink, dump, 11, 0)[:10], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := messages(t, NetlinkRoute(st.Interfaces(), st.Routes(), 77, tc.req))
			if len(got) != len(tc.want) {
				t.Fatalf("messages %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("message %d: %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
	// The errors carried.
	for _, tc := range []struct {
		name string
		req  []byte
		want unix.Errno
	}{
		{"new address", request(linux.RTM_NEWADDR, linux.NLM_F_REQUEST, 9, unix.AF_INET), unix.EOPNOTSUPP},
		{"lo down", linkRequest(rtmSetLink, linux.NLM_F_REQUEST, 16, 1, 0, unix.IFF_UP), unix.EOPNOTSUPP},
		{"lo promiscuous", linkRequest(rtmSetLink, linux.NLM_F_REQUEST, 17, 1, unix.IFF_PROMISC|unix.IFF_UP, unix.IFF_PROMISC), unix.EOPNOTSUPP},
		{"lo up, acked", linkRequest(rtmNewLink, linux.NLM_F_REQUEST|linux.NLM_F_ACK, 18, 1, unix.IFF_UP, unix.IFF_UP), 0},
		{"no such link", linkRequest(rtmGetLink, linux.NLM_F_REQUEST, 19, 5, 0, 0), unix.ENODEV},
		// Acknowledged, not refused, as Linux's netlink_rcv_skb does.
		{"a control message, acked", request(linux.NLMSG_NOOP, linux.NLM_F_REQUEST|linux.NLM_F_ACK, 20, 0), 0},
	} {
		ds := NetlinkRoute(st.Interfaces(), st.Routes(), 77, tc.req)
		if len(ds) != 1 || len(ds[0]) < 20 {
			t.Errorf("%s: answer %v, want one error", tc.name, ds)
			continue
		}
		if e := int32(binary.LittleEndian.Uint32(ds[0][16:])); e != -int32(tc.want) {
			t.Errorf("%s: error %d, want %d", tc.name, e, -int32(tc.want))
		}
	}
}
