package socket

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// linkMessage builds an RTM_NEWLINK for index with an IFLA_STATS64 of
// the given u64 fields.
func linkMessage(index int32, stats []uint64) []byte {
	attr := make([]byte, 4+8*len(stats))
	binary.LittleEndian.PutUint16(attr, uint16(len(attr)))
	binary.LittleEndian.PutUint16(attr[2:], unix.IFLA_STATS64)
	for i, v := range stats {
		binary.NativeEndian.PutUint64(attr[4+8*i:], v)
	}
	m := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg+len(attr))
	binary.LittleEndian.PutUint32(m[unix.NLMSG_HDRLEN+4:], uint32(index))
	m = append(m, attr...)
	binary.LittleEndian.PutUint32(m, uint32(len(m)))
	binary.LittleEndian.PutUint16(m[4:], unix.RTM_NEWLINK)
	return m
}

func TestParseLinkStats(t *testing.T) {
	// rtnl_link_stats64's first 23 fields numbered 1..23.
	var seq []uint64
	for i := 1; i <= 23; i++ {
		seq = append(seq, uint64(i))
	}
	for _, tc := range []struct {
		name  string
		stats []uint64
		want  DevStats
	}{
		{"full", seq, DevStats{
			RxBytes: 3, RxPackets: 1, RxErrs: 5, RxDrop: 7 + 16, RxFIFO: 15, RxFrame: 11 + 12 + 13 + 14, RxCompressed: 22, RxMulticast: 9,
			TxBytes: 4, TxPackets: 2, TxErrs: 6, TxDrop: 8, TxFIFO: 19, TxColls: 10, TxCarrier: 17 + 18 + 20 + 21, TxCompressed: 23,
		}},
		{"old kernel, first four", seq[:4], DevStats{RxBytes: 3, RxPackets: 1, TxBytes: 4, TxPackets: 2}},
		{"big", []uint64{1 << 40, 0, 1 << 50}, DevStats{RxPackets: 1 << 40, RxBytes: 1 << 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := map[int32]DevStats{}
			d := append(linkMessage(7, tc.stats), linkMessage(9, nil)...)
			if err := parseLinkStats(d, out); err != nil {
				t.Fatal(err)
			}
			if out[7] != tc.want {
				t.Errorf("got %+v\nwant %+v", out[7], tc.want)
			}
			if _, ok := out[9]; len(out) != 2 || !ok {
				t.Errorf("got %v: want indexes 7 and 9", out)
			}
		})
	}
	// A truncated message is an error, not a panic.
	if err := parseLinkStats(linkMessage(7, seq)[:20], map[int32]DevStats{}); err == nil {
		t.Errorf("truncated RTM_NEWLINK: no error")
	}
}

// TestHostDevStats reads the server machine's counters: lo is there,
// and moves when a datagram crosses it.
func TestHostDevStats(t *testing.T) {
	before, err := HostDevStats()
	if err != nil {
		t.Fatal(err)
	}
	lo, ok := before[1]
	if !ok {
		t.Fatalf("no index 1 (lo) in %v", before)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrInet4{Port: 9, Addr: [4]byte{127, 0, 0, 1}} // discard: nobody listens
	for range 10 {
		if err := unix.Sendto(fd, make([]byte, 1000), 0, to); err != nil {
			t.Fatal(err)
		}
	}
	after, err := HostDevStats()
	if err != nil {
		t.Fatal(err)
	}
	if got := after[1]; got.TxBytes < lo.TxBytes+10000 || got.TxPackets < lo.TxPackets+10 {
		t.Errorf("lo before %+v, after %+v: want 10 packets of 1000 bytes more sent", lo, got)
	}
}
