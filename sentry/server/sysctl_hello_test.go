package server

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// TestHelloSysctls checks Hello.sysctls (an OCI container's linux.sysctl):
// served names set /proc/sys at the start; another name or a bad value
// refuses the client, saying which.
func TestHelloSysctls(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sysctls map[string]string
		refused string
		file    string
		want    string
	}{
		{name: "ip_forward", sysctls: map[string]string{"net.ipv4.ip_forward": "1"}, file: "/proc/sys/net/ipv4/ip_forward", want: "1\n"},
		{name: "pipe-max-size", sysctls: map[string]string{"fs.pipe-max-size": "100000"}, file: "/proc/sys/fs/pipe-max-size", want: "131072\n"},
		{name: "msgmni", sysctls: map[string]string{"kernel.msgmni": "7"}, file: "/proc/sys/kernel/msgmni", want: "7\n"},
		{name: "unknown", sysctls: map[string]string{"net.core.somaxconn": "1"}, refused: "net.core.somaxconn: not served"},
		{name: "bad value", sysctls: map[string]string{"net.ipv4.ip_forward": "2"}, refused: `net.ipv4.ip_forward="2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := transport.Dial(ctx, "unix:"+e.sock, transport.Options{
				Hello:             &sentrypb.Hello{ClientId: t.Name() + "-sysctl", Sysctls: tc.sysctls},
				HeartbeatInterval: time.Second,
			})
			if tc.refused != "" {
				if err == nil || !errors.Is(err, transport.ErrRefused) || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("Dial: %v, want a refusal naming %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			e.conn = conn
			if r := e.start(busybox, "sh"); r.Errno != 0 {
				t.Fatalf("Start: %v", unix.Errno(r.Errno))
			}
			fd := e.open(tc.file, unix.O_RDONLY)
			buf := e.mem.zeros(64)
			n := e.ok(1, unix.SYS_READ, uint64(fd), buf, 64)
			if got := string(e.mem.bytes(buf, int(n))); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.file, got, tc.want)
			}
		})
	}
}

// TestHelloDevices checks Hello.devices (an OCI container's
// linux.devices): nodes of /dev with their type, numbers, mode and owner;
// one of a device the sentry serves opens as it, another fails ENXIO; a
// bad node refuses the client.
func TestHelloDevices(t *testing.T) {
	nodes := []*sentrypb.DeviceNode{
		{Name: "test1", Mode: unix.S_IFCHR | 0660, Major: 10, Minor: 666, Uid: 7, Gid: 8},
		{Name: "test2", Mode: unix.S_IFBLK | 0600, Major: 8, Minor: 666},
		{Name: "null2", Mode: unix.S_IFCHR | 0666, Major: 1, Minor: 3},
		{Name: "null", Mode: unix.S_IFCHR | 0666, Major: 1, Minor: 3},
	}
	e := newEnv(t)
	dial := func(nodes []*sentrypb.DeviceNode) (*transport.GRPCConn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return transport.Dial(ctx, "unix:"+e.sock, transport.Options{
			Hello:             &sentrypb.Hello{ClientId: t.Name() + "-dev", Devices: nodes},
			HeartbeatInterval: time.Second,
		})
	}
	for _, bad := range [][]*sentrypb.DeviceNode{
		{{Name: "a/b", Mode: unix.S_IFCHR}},
		{{Name: "x", Mode: unix.S_IFREG}},
		{{Name: "null", Mode: unix.S_IFCHR, Major: 1, Minor: 5}},
	} {
		if _, err := dial(bad); err == nil || !errors.Is(err, transport.ErrRefused) {
			t.Errorf("devices %v: %v, want a refusal", bad, err)
		}
	}
	conn, err := dial(nodes)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e.conn = conn
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: %v", unix.Errno(r.Errno))
	}
	for _, tc := range []struct {
		path      string
		mode      uint32
		rdev      uint64
		uid, gid  uint32
		openErrno unix.Errno
	}{
		{"/dev/test1", unix.S_IFCHR | 0660, unix.Mkdev(10, 666), 7, 8, unix.ENXIO},
		{"/dev/test2", unix.S_IFBLK | 0600, unix.Mkdev(8, 666), 0, 0, unix.ENXIO},
		{"/dev/null2", unix.S_IFCHR | 0666, unix.Mkdev(1, 3), 0, 0, 0},
	} {
		buf := e.mem.zeros(144)
		e.ok(1, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), e.mem.str(tc.path), buf, 0)
		var st unix.Stat_t
		b := e.mem.bytes(buf, 144)
		st.Mode = binary.LittleEndian.Uint32(b[24:])
		st.Uid = binary.LittleEndian.Uint32(b[28:])
		st.Gid = binary.LittleEndian.Uint32(b[32:])
		st.Rdev = binary.LittleEndian.Uint64(b[40:])
		if st.Mode != tc.mode || st.Rdev != tc.rdev || st.Uid != tc.uid || st.Gid != tc.gid {
			t.Errorf("%s: mode %#o rdev %#x uid %d gid %d, want %#o %#x %d %d", tc.path, st.Mode, st.Rdev, st.Uid, st.Gid, tc.mode, tc.rdev, tc.uid, tc.gid)
		}
		r := e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), e.mem.str(tc.path), unix.O_RDWR, 0)
		if unix.Errno(r.Errno) != tc.openErrno {
			t.Errorf("open %s: errno %v, want %v", tc.path, unix.Errno(r.Errno), tc.openErrno)
		}
	}
}
