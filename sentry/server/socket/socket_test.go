package socket

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
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
