package server

import (
	"context"
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
