package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
)

// TestHostSocketBadInput makes calls with bad arguments on host sockets
// (--network=host): each gets its errno from the server or the host,
// none panics or blocks, and the kernel stays usable.
func TestHostSocketBadInput(t *testing.T) {
	srv, err := New(Config{Gofer: startGofer(t, newRoot(t)), Log: testLog(), Network: NetworkHost})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := fuzzClient(t, srv)
	defer c.destroy()
	k := c.k
	newSock := func(stype uint64) uint64 {
		r := fuzzOne(t, k, unix.SYS_SOCKET, []uint64{unix.AF_INET, stype | unix.SOCK_NONBLOCK, 0, 0, 0, 0}, nil)
		if r == nil || r.Errno != 0 {
			t.Fatalf("socket: %v", r)
		}
		f, _, err := k.Init.FDs.Get(int32(r.Ret))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.Impl.(*inet.HostFile); !ok {
			t.Fatalf("socket made a %T with Network %q", f.Impl, NetworkHost)
		}
		f.DecRef()
		return uint64(r.Ret)
	}
	tcp, udp := newSock(unix.SOCK_STREAM), newSock(unix.SOCK_DGRAM)
	sin := func(port uint16, ip ...byte) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint16(b, unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], port)
		copy(b[4:], ip)
		return b
	}
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	msghdr := func(iovlen, controllen uint64) []byte {
		b := make([]byte, 56)
		binary.LittleEndian.PutUint64(b[16:], fuzzAddr+64)
		binary.LittleEndian.PutUint64(b[24:], iovlen)
		binary.LittleEndian.PutUint64(b[32:], fuzzAddr+64)
		binary.LittleEndian.PutUint64(b[40:], controllen)
		return b
	}
	tests := []struct {
		name  string
		sysno int32
		args  []uint64
		data  []byte
		want  unix.Errno
	}{
		{"bind, address too long", unix.SYS_BIND, []uint64{tcp, fuzzAddr, 200}, sin(0), unix.EINVAL},
		{"bind, negative length", unix.SYS_BIND, []uint64{tcp, fuzzAddr, ^uint64(0)}, sin(0), unix.EINVAL},
		{"bind, short address", unix.SYS_BIND, []uint64{tcp, fuzzAddr, 4}, sin(0), unix.EINVAL},
		{"bind, AF_UNIX address", unix.SYS_BIND, []uint64{tcp, fuzzAddr, 16}, append([]byte{unix.AF_UNIX, 0}, "sock\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"...), unix.EAFNOSUPPORT},
		{"bind, address not local", unix.SYS_BIND, []uint64{tcp, fuzzAddr, 16}, sin(0, 192, 0, 2, 1), unix.EADDRNOTAVAIL},
		{"connect, short address", unix.SYS_CONNECT, []uint64{tcp, fuzzAddr, 3}, sin(1), unix.EINVAL},
		{"accept, not listening", unix.SYS_ACCEPT4, []uint64{tcp, 0, 0, 0}, nil, unix.EINVAL},
		{"accept4, bad flags", unix.SYS_ACCEPT4, []uint64{tcp, 0, 0, 0x4}, nil, unix.EINVAL},
		{"getsockopt, no length", unix.SYS_GETSOCKOPT, []uint64{tcp, unix.SOL_SOCKET, unix.SO_TYPE, fuzzAddr, 0}, nil, unix.EFAULT},
		{"getsockopt, negative length", unix.SYS_GETSOCKOPT, []uint64{tcp, unix.SOL_SOCKET, unix.SO_TYPE, fuzzAddr + 8, fuzzAddr}, le32(^uint32(0)), unix.EINVAL},
		{"getsockopt, SO_MARK", unix.SYS_GETSOCKOPT, []uint64{tcp, unix.SOL_SOCKET, unix.SO_MARK, fuzzAddr + 8, fuzzAddr}, le32(4), unix.ENOPROTOOPT},
		{"setsockopt, negative length", unix.SYS_SETSOCKOPT, []uint64{tcp, unix.SOL_SOCKET, unix.SO_KEEPALIVE, fuzzAddr, ^uint64(0)}, le32(1), unix.EINVAL},
		{"setsockopt, short value", unix.SYS_SETSOCKOPT, []uint64{tcp, unix.SOL_SOCKET, unix.SO_KEEPALIVE, fuzzAddr, 1}, le32(1), unix.EINVAL},
		{"setsockopt, IP_PKTINFO", unix.SYS_SETSOCKOPT, []uint64{udp, unix.IPPROTO_IP, unix.IP_PKTINFO, fuzzAddr, 4}, le32(1), unix.ENOPROTOOPT},
		{"setsockopt, SO_BINDTODEVICE", unix.SYS_SETSOCKOPT, []uint64{tcp, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, fuzzAddr, 3}, []byte("lo\x00"), unix.ENOPROTOOPT},
		{"setsockopt, SO_REUSEADDR short", unix.SYS_SETSOCKOPT, []uint64{tcp, unix.SOL_SOCKET, unix.SO_REUSEADDR, fuzzAddr, 2}, le32(1), unix.EINVAL},
		{"sendmsg, control message too short", unix.SYS_SENDMSG, []uint64{udp, fuzzAddr, 0}, append(msghdr(0, 16), make([]byte, 24)...), unix.EINVAL},
		{"sendmsg, IP_PKTINFO", unix.SYS_SENDMSG, []uint64{udp, fuzzAddr, 0}, append(append(msghdr(0, 16), make([]byte, 8)...), 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, unix.IP_PKTINFO, 0, 0, 0), unix.EINVAL},
		{"sendmsg, MSG_CMSG_COMPAT", unix.SYS_SENDMSG, []uint64{udp, fuzzAddr, 0x80000000}, msghdr(0, 0), unix.EINVAL},
		{"recvmsg, too many iovecs", unix.SYS_RECVMSG, []uint64{udp, fuzzAddr, 0}, msghdr(1<<20, 0), unix.EMSGSIZE},
		{"sendto, datagram too big", unix.SYS_SENDTO, []uint64{udp, fuzzAddr, 1 << 20, 0, fuzzAddr, 16}, sin(9, 127, 0, 0, 1), unix.EMSGSIZE},
		{"sendto, not connected", unix.SYS_SENDTO, []uint64{tcp, fuzzAddr, 4, 0, 0, 0}, []byte("data"), unix.EPIPE},
		{"recvfrom, nothing queued", unix.SYS_RECVFROM, []uint64{udp, fuzzAddr, 16, 0, 0, 0}, nil, unix.EAGAIN},
		{"shutdown, bad how", unix.SYS_SHUTDOWN, []uint64{tcp, 7}, nil, unix.EINVAL},
		{"getsockname, no buffer", unix.SYS_GETSOCKNAME, []uint64{tcp, 0, 0}, nil, unix.EFAULT},
		{"getpeername, not connected", unix.SYS_GETPEERNAME, []uint64{tcp, fuzzAddr, fuzzAddr + 64}, nil, unix.ENOTCONN},
		{"raw socket", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_RAW, 0}, nil, unix.EPROTONOSUPPORT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]uint64, 6)
			copy(args, tc.args)
			r := fuzzOne(t, k, tc.sysno, args, tc.data)
			if r == nil || unix.Errno(r.Errno) != tc.want {
				t.Fatalf("%s%v: %v, want errno %v", syscalls.Name(tc.sysno), tc.args, r, tc.want)
			}
			if len(r.Outputs) != 0 {
				t.Fatalf("a failed call has outputs: %v", r.Outputs)
			}
		})
	}
	if r := fuzzOne(t, k, unix.SYS_GETPID, nil, nil); r == nil || r.Ret != 1 {
		t.Fatalf("getpid after the bad calls: %v", r)
	}
}

func TestConfigNetwork(t *testing.T) {
	gc := startGofer(t, newRoot(t))
	tests := []struct {
		network string
		want    string
		wantErr bool
	}{
		{"", NetworkNone, false},
		{NetworkNone, NetworkNone, false},
		{NetworkHost, NetworkHost, false},
		{NetworkSandbox, NetworkSandbox, false},
		{"HOST", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.network, func(t *testing.T) {
			srv, err := New(Config{Gofer: gc, Network: tc.network})
			if (err != nil) != tc.wantErr {
				t.Fatalf("New(Network %q): %v, want error %v", tc.network, err, tc.wantErr)
			}
			if err == nil {
				defer srv.Close()
				if srv.cfg.Network != tc.want {
					t.Errorf("Network %q became %q, want %q", tc.network, srv.cfg.Network, tc.want)
				}
			}
		})
	}
}
