package socket

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIfreqIoctl runs each SIOCGIF* request on the loopback stack's
// interfaces.
func TestIfreqIoctl(t *testing.T) {
	st, err := NewLoopbackStack()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Destroy()
	ifs := st.Interfaces()
	if len(ifs) != 1 || ifs[0].Name != "lo" {
		t.Fatalf("interfaces %+v, want lo alone", ifs)
	}
	named := func(name string) []byte {
		b := make([]byte, SizeofIfreq)
		copy(b, name)
		return b
	}
	indexed := func(i uint32) []byte {
		b := make([]byte, SizeofIfreq)
		binary.LittleEndian.PutUint32(b[16:], i)
		return b
	}
	for _, tc := range []struct {
		name    string
		req     uint32
		ifr     []byte
		err     error
		checkAt int    // offset in the ifreq
		want    []byte // bytes expected there
	}{
		{"flags", SIOCGIFFLAGS, named("lo"), nil, 16, []byte{unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING, 0}},
		{"index", SIOCGIFINDEX, named("lo"), nil, 16, []byte{1, 0, 0, 0}},
		{"name", SIOCGIFNAME, indexed(1), nil, 0, []byte("lo\x00")},
		{"addr", SIOCGIFADDR, named("lo"), nil, 16, []byte{unix.AF_INET, 0, 0, 0, 127, 0, 0, 1}},
		{"netmask", SIOCGIFNETMASK, named("lo"), nil, 16, []byte{unix.AF_INET, 0, 0, 0, 255, 0, 0, 0}},
		{"hwaddr", SIOCGIFHWADDR, named("lo"), nil, 16, []byte{0x04, 0x03, 0, 0, 0, 0, 0, 0}},
		{"unknown name", SIOCGIFFLAGS, named("eth9"), unix.ENODEV, 0, nil},
		{"unknown index", SIOCGIFNAME, indexed(7), unix.ENODEV, 0, nil},
		{"short", SIOCGIFFLAGS, []byte("lo"), unix.EFAULT, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := IfreqIoctl(ifs, tc.req, tc.ifr)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				return
			}
			if got := out[tc.checkAt : tc.checkAt+len(tc.want)]; string(got) != string(tc.want) {
				t.Errorf("ifreq[%d:] = %v, want %v", tc.checkAt, got, tc.want)
			}
		})
	}
	recs, n := IfConf(ifs, 0, true)
	if recs != nil || n != SizeofIfreq {
		t.Errorf("SIOCGIFCONF length %d, want %d", n, SizeofIfreq)
	}
	if _, n = IfConf(ifs, SizeofIfreq-1, false); n != 0 {
		t.Errorf("SIOCGIFCONF in a short buffer: %d bytes, want 0", n)
	}
	recs, _ = IfConf(ifs, 2*SizeofIfreq, false)
	if len(recs) != SizeofIfreq || !net.IP(recs[20:24]).Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("SIOCGIFCONF records %v", recs)
	}
}
