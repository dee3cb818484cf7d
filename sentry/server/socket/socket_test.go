package socket

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
)

func sun(path string) []byte { return append([]byte{unix.AF_UNIX, 0}, path...) }

func TestParseUnixAddr(t *testing.T) {
	tests := []struct {
		name    string
		raw     []byte
		want    UnixAddr
		named   bool
		wantErr error
		enc     []byte
	}{
		{"path", sun("srv.sock\x00junk"), UnixAddr{Name: "srv.sock"}, true, nil, sun("srv.sock\x00")},
		{"path without NUL", sun("/tmp/s"), UnixAddr{Name: "/tmp/s"}, true, nil, sun("/tmp/s\x00")},
		{"abstract", sun("\x00name"), UnixAddr{Name: "name", Abstract: true}, true, nil, sun("\x00name")},
		{"abstract with NULs", sun("\x00a\x00b"), UnixAddr{Name: "a\x00b", Abstract: true}, true, nil, sun("\x00a\x00b")},
		{"family only", sun(""), UnixAddr{}, false, nil, sun("")},
		{"too short", []byte{1}, UnixAddr{}, false, unix.EINVAL, nil},
		{"wrong family", []byte{unix.AF_INET, 0, 'x'}, UnixAddr{}, false, unix.EINVAL, nil},
		{"too long", sun(string(make([]byte, 109))), UnixAddr{}, false, unix.EINVAL, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, named, err := ParseUnixAddr(tc.raw)
			if !errors.Is(err, tc.wantErr) || a != tc.want || named != tc.named {
				t.Fatalf("ParseUnixAddr = %+v, %v, %v; want %+v, %v, %v", a, named, err, tc.want, tc.named, tc.wantErr)
			}
			if tc.enc != nil && !bytes.Equal(a.Encode(), tc.enc) {
				t.Fatalf("Encode = %q, want %q", a.Encode(), tc.enc)
			}
			if got := FromTransportName(a.TransportName()); got != a {
				t.Fatalf("transport name round trip: %+v", got)
			}
		})
	}
}

func TestNames(t *testing.T) {
	n := NewNames()
	a, b := NewUnix(1, Creds{}), NewUnix(1, Creds{})
	defer a.Release()
	defer b.Release()
	if err := n.BindAbstract("x", a.Bound()); err != nil {
		t.Fatal(err)
	}
	if err := n.BindAbstract("x", b.Bound()); !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("second bind: %v, want EADDRINUSE", err)
	}
	n.BindNode(42, b.Bound())
	if ep, err := n.LookupNode(42); err != nil || ep != b.Bound() {
		t.Fatalf("LookupNode = %v, %v", ep, err)
	}
	n.Unbind(a.Bound())
	if _, err := n.LookupAbstract("x"); !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("lookup after unbind: %v, want ECONNREFUSED", err)
	}
	if _, err := n.LookupNode(7); !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("lookup of an unbound node: %v", err)
	}
}

func TestPeerOutside(t *testing.T) {
	v4 := func(a, b, c, d byte) []byte {
		return EncodeInetAddr(unix.AF_INET, tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{a, b, c, d}), Port: 80})
	}
	v6 := func(ip [16]byte) []byte {
		return EncodeInetAddr(unix.AF_INET6, tcpip.FullAddress{Addr: tcpip.AddrFrom16(ip), Port: 80})
	}
	mapped := func(a, b, c, d byte) [16]byte { return [16]byte{10: 0xff, 11: 0xff, 12: a, 13: b, 14: c, 15: d} }
	for _, tc := range []struct {
		name        string
		family      int
		local, peer []byte
		want        bool
	}{
		{"v4 outside", unix.AF_INET, v4(10, 0, 0, 2), v4(10, 0, 0, 1), true},
		{"v4 loopback", unix.AF_INET, v4(127, 0, 0, 1), v4(127, 0, 0, 1), false},
		{"v4 other loopback", unix.AF_INET, v4(10, 0, 0, 2), v4(127, 1, 2, 3), false},
		{"v4 own address", unix.AF_INET, v4(10, 0, 0, 2), v4(10, 0, 0, 2), false},
		{"v4 no local", unix.AF_INET, nil, v4(10, 0, 0, 1), true},
		{"no peer", unix.AF_INET, v4(10, 0, 0, 2), nil, false},
		{"short peer", unix.AF_INET, v4(10, 0, 0, 2), []byte{unix.AF_INET, 0, 0}, false},
		{"unspecified peer", unix.AF_INET, v4(10, 0, 0, 2), v4(0, 0, 0, 0), false},
		{"v6 outside", unix.AF_INET6, v6([16]byte{0: 0xfd, 15: 2}), v6([16]byte{0: 0xfd, 15: 1}), true},
		{"v6 loopback", unix.AF_INET6, v6([16]byte{15: 1}), v6([16]byte{15: 1}), false},
		{"v6 mapped loopback", unix.AF_INET6, v6(mapped(10, 0, 0, 2)), v6(mapped(127, 0, 0, 1)), false},
		{"v6 mapped outside", unix.AF_INET6, v6(mapped(10, 0, 0, 2)), v6(mapped(10, 0, 0, 1)), true},
	} {
		if got := PeerOutside(tc.family, tc.local, tc.peer); got != tc.want {
			t.Errorf("%s: PeerOutside = %v, want %v", tc.name, got, tc.want)
		}
	}
}
