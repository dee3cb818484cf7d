package procfs

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNetSockets checks /proc/net/{tcp,tcp6,udp,udp6,unix} against lines
// in Linux's formats: a listener and a connection on IPv4, one of each
// on IPv6, a connected and an unconnected UDP socket, unix sockets bound
// to a path and to an abstract name, listening and connected.
func TestNetSockets(t *testing.T) {
	f := newFake()
	lo4 := netip.MustParseAddr("127.0.0.1")
	lo6 := netip.MustParseAddr("::1")
	f.sockets = []Socket{
		{Family: unix.AF_INET, Type: unix.SOCK_STREAM, Local: netip.AddrPortFrom(lo4, 8080), State: 10, Ino: 100},
		{Family: unix.AF_INET, Type: unix.SOCK_STREAM, Local: netip.AddrPortFrom(lo4, 40000), Remote: netip.AddrPortFrom(lo4, 8080), State: 1, TxQueue: 3, RxQueue: 0x10, UID: 1000, Ino: 101},
		{Family: unix.AF_INET6, Type: unix.SOCK_STREAM, Local: netip.AddrPortFrom(lo6, 443), State: 10, Ino: 102},
		{Family: unix.AF_INET, Type: unix.SOCK_DGRAM, Local: netip.AddrPortFrom(netip.IPv4Unspecified(), 53), State: 7, Ino: 103},
		{Family: unix.AF_INET6, Type: unix.SOCK_DGRAM, Local: netip.AddrPortFrom(lo6, 5000), Remote: netip.AddrPortFrom(lo6, 5001), State: 1, Ino: 104},
		{Family: unix.AF_UNIX, Type: unix.SOCK_STREAM, State: 10, Ino: 105, Path: "/run/x.sock"},
		{Family: unix.AF_UNIX, Type: unix.SOCK_STREAM, State: 1, Ino: 106},
		{Family: unix.AF_UNIX, Type: unix.SOCK_DGRAM, State: 7, Ino: 107, Path: "\x00abs\x00name"},
	}
	pad := func(s string, w int) string { return s + strings.Repeat(" ", w-len(s)) + "\n" }
	for _, tc := range []struct{ file, want string }{
		{"net/tcp", pad("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode", 149) +
			pad("   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0000000000000000 0 0 0 0 -1", 149) +
			pad("   1: 0100007F:9C40 0100007F:1F90 01 00000003:00000010 00:00000000 00000000  1000        0 101 1 0000000000000000 0 0 0 0 -1", 149)},
		{"net/tcp6", "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
			"   0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 102 1 0000000000000000 0 0 0 0 -1\n"},
		{"net/udp", pad("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops", 127) +
			pad("    0: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 103 2 0000000000000000 0", 127)},
		{"net/udp6", "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
			"    0: 00000000000000000000000001000000:1388 00000000000000000000000001000000:1389 01 00000000:00000000 00:00000000 00000000     0        0 104 2 0000000000000000 0\n"},
		{"net/unix", "Num       RefCount Protocol Flags    Type St Inode Path\n" +
			"0000000000000000: 00000002 00000000 00010000 0001 01   105 /run/x.sock\n" +
			"0000000000000000: 00000002 00000000 00000000 0001 03   106\n" +
			"0000000000000000: 00000002 00000000 00000000 0002 01   107 @abs@name\n"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Generate(f, Top, tc.file, 0, 0)
			if err != nil {
				t.Fatalf("Generate(%s): %v", tc.file, err)
			}
			if string(got) != tc.want {
				t.Errorf("%s:\ngot:\n%q\nwant:\n%q", tc.file, got, tc.want)
			}
		})
	}
}
