package socket

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

func sandboxNet(ip string, mac byte) *SandboxNetwork {
	return &SandboxNetwork{
		Interfaces: []SandboxInterface{{Index: 2, Name: "eth0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, mac}, MTU: 1500,
			Addrs: []IfAddr{{IP: net.ParseIP(ip).To4(), PrefixLen: 24}}}},
		Routes: []SandboxRoute{
			{Dst: net.IPv4(10, 9, 0, 0).To4(), PrefixLen: 24, NIC: 2},
			{Dst: net.IPv4zero.To4(), PrefixLen: 0, Gateway: net.IPv4(10, 9, 0, 254).To4(), NIC: 2},
		},
	}
}

func TestSandboxNetworkCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(n *SandboxNetwork)
		want string // "" = valid
	}{
		{"valid", func(*SandboxNetwork) {}, ""},
		{"no interface", func(n *SandboxNetwork) { n.Interfaces = nil; n.Routes = nil }, "no interface"},
		{"loopback index", func(n *SandboxNetwork) { n.Interfaces[0].Index = 1 }, "index 1"},
		{"lo name", func(n *SandboxNetwork) { n.Interfaces[0].Name = "lo" }, "name"},
		{"long name", func(n *SandboxNetwork) { n.Interfaces[0].Name = strings.Repeat("x", 16) }, "name"},
		{"short mac", func(n *SandboxNetwork) { n.Interfaces[0].MAC = n.Interfaces[0].MAC[:5] }, "MAC"},
		{"tiny mtu", func(n *SandboxNetwork) { n.Interfaces[0].MTU = 100 }, "MTU"},
		{"bad ip", func(n *SandboxNetwork) { n.Interfaces[0].Addrs[0].IP = []byte{1, 2, 3} }, "address"},
		{"bad prefix", func(n *SandboxNetwork) { n.Interfaces[0].Addrs[0].PrefixLen = 33 }, "address"},
		{"route to unknown nic", func(n *SandboxNetwork) { n.Routes[0].NIC = 7 }, "route"},
		{"route via loopback", func(n *SandboxNetwork) { n.Routes[0].NIC = 1 }, "route"},
		{"v6 gateway on v4 route", func(n *SandboxNetwork) { n.Routes[1].Gateway = net.ParseIP("fe80::1") }, "gateway"},
		{"too many routes", func(n *SandboxNetwork) {
			for i := 0; i < maxSandboxRoutes; i++ {
				n.Routes = append(n.Routes, n.Routes[0])
			}
		}, "routes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := sandboxNet("10.9.0.1", 1)
			tc.edit(n)
			err := n.Check()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrBadNetwork) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want ErrBadNetwork mentioning %q", err, tc.want)
			}
			if _, err := NewSandboxStack(n, func(int32, [][]byte) bool { return true }); err == nil {
				t.Fatal("NewSandboxStack built a bad network")
			}
		})
	}
}

// wire connects two sandbox stacks back to back, as two hosts on one
// Ethernet segment: what one sends, the other receives.
type wire struct {
	a, b   atomic.Pointer[Stack]
	frames atomic.Int64
}

func (w *wire) toB(nic int32, frames [][]byte) bool {
	w.frames.Add(int64(len(frames)))
	if st := w.b.Load(); st != nil {
		st.Inbound(nic, frames)
	}
	return true
}

func (w *wire) toA(nic int32, frames [][]byte) bool {
	w.frames.Add(int64(len(frames)))
	if st := w.a.Load(); st != nil {
		st.Inbound(nic, frames)
	}
	return true
}

// TestSandboxStackBackToBack runs TCP between two sandbox stacks whose
// frames cross only through the FrameSender and Inbound: ARP resolution,
// the Ethernet framing and the NIC's addresses and routes all take part.
func TestSandboxStackBackToBack(t *testing.T) {
	var w wire
	a, err := NewSandboxStack(sandboxNet("10.9.0.1", 1), w.toB)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Destroy()
	b, err := NewSandboxStack(sandboxNet("10.9.0.2", 2), w.toA)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destroy()
	w.a.Store(a)
	w.b.Store(b)

	ln, err := b.NewInet(unix.AF_INET, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Release()
	if err := ln.Bind(tcpip.FullAddress{Port: 8080}); err != nil {
		t.Fatal(err)
	}
	if err := ln.EP.Listen(4); err != nil {
		t.Fatal(err)
	}
	cl, err := a.NewInet(unix.AF_INET, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Release()
	err = cl.Connect(tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{10, 9, 0, 2}), Port: 8080})
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		t.Fatalf("connect: %v", err)
	}
	var conn *Inet
	deadline := time.Now().Add(10 * time.Second)
	for conn == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted; %d frames crossed, links %+v / %+v", w.frames.Load(), a.LinkStats(), b.LinkStats())
		}
		if c, _, err := ln.Accept(); err == nil {
			conn = c
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	defer conn.Release()
	for cl.EP.Readiness(waiter.WritableEvents) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("client never writable")
		}
		time.Sleep(5 * time.Millisecond)
	}
	msg := "hello over frames"
	if _, err := cl.EP.Write(strings.NewReader(msg), tcpip.WriteOptions{}); err != nil {
		t.Fatalf("write: %v", err)
	}
	var got strings.Builder
	for got.Len() < len(msg) {
		if time.Now().After(deadline) {
			t.Fatalf("read %q so far", got.String())
		}
		if _, err := conn.EP.Read(&got, tcpip.ReadOptions{}); err != nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if got.String() != msg {
		t.Fatalf("read %q, want %q", got.String(), msg)
	}
	st := a.LinkStats()
	if len(st) != 1 || st[0].OutFrames == 0 || st[0].InFrames == 0 {
		t.Fatalf("link stats %+v: want frames both ways", st)
	}
	// The NICs counted what crossed (/proc/net/dev), lo nothing.
	sa, sb := a.DevStats(), b.DevStats()
	if c := sa[2]; c.TxBytes < uint64(len(msg)) || c.TxPackets < 2 || c.RxPackets < 1 {
		t.Errorf("sender's eth0 counters %+v: want at least %d bytes and 2 packets sent (SYN, data), 1 received", c, len(msg))
	}
	if c := sb[2]; c.RxBytes < uint64(len(msg)) || c.RxPackets < 2 {
		t.Errorf("receiver's eth0 counters %+v: want at least %d bytes and 2 packets received", c, len(msg))
	}
	if c, ok := sa[1]; !ok || c.TxPackets != 0 || c.RxPackets != 0 {
		t.Errorf("lo counters %+v (present %v): want 0", c, ok)
	}
	// The NIC is described as Linux describes a veth.
	var eth *Interface
	for _, ifc := range a.Interfaces() {
		if ifc.Index == 2 {
			ifc := ifc
			eth = &ifc
		}
	}
	const flags = unix.IFF_UP | unix.IFF_BROADCAST | unix.IFF_MULTICAST
	if eth == nil || eth.Name != "eth0" || eth.Flags&flags != flags || eth.Flags&unix.IFF_LOOPBACK != 0 ||
		!bytes.Equal(eth.HWAddr, []byte{2, 0, 0, 0, 0, 1}) || eth.MTU != 1500 || len(eth.Addrs) != 1 || !eth.Addrs[0].IP.Equal(net.IPv4(10, 9, 0, 1)) {
		t.Errorf("interfaces %+v: want eth0 (2) up, broadcast, multicast, 02:00:00:00:00:01, MTU 1500, 10.9.0.1", a.Interfaces())
	}
	// Both stacks report the gateway route.
	var def *Route
	for _, r := range a.Routes() {
		if r.PrefixLen == 0 {
			r := r
			def = &r
		}
	}
	if def == nil || !def.Gateway.Equal(net.IPv4(10, 9, 0, 254)) || def.Index != 2 {
		t.Fatalf("routes %+v: want a default route via 10.9.0.254 on 2", a.Routes())
	}
}

// TestFrameLinkInboundBounds checks that a client's frames cannot make
// the server hold more than the queue's bounds: runts, giants and what
// is beyond the byte budget are dropped and counted, never queued.
func TestFrameLinkInboundBounds(t *testing.T) {
	// Only the queue: no goroutine drains it, so it only fills.
	l := &frameLink{nic: 2, in: make(chan []byte, linkQueueFrames)}
	l.Inbound([][]byte{make([]byte, 5), make([]byte, MaxFrameSize+1)})
	if got := l.inDropped.Load(); got != 2 || len(l.in) != 0 {
		t.Fatalf("runt and giant: dropped %d, queued %d; want 2, 0", got, len(l.in))
	}
	big := make([]byte, 60000)
	for i := 0; i < 200; i++ {
		l.Inbound([][]byte{big})
	}
	queued := len(l.in)
	if want := linkQueueBytes / len(big); queued != want || l.inBytes.Load() > linkQueueBytes {
		t.Fatalf("queued %d frames (%d bytes), want %d within %d bytes", queued, l.inBytes.Load(), want, linkQueueBytes)
	}
	if l.inDropped.Load() != uint64(2+200-queued) {
		t.Fatalf("dropped %d, want %d", l.inDropped.Load(), 2+200-queued)
	}
}

// FuzzSandboxInbound feeds arbitrary frames to a sandbox stack: whatever
// a client sends, the server must not panic or hang.
func FuzzSandboxInbound(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1})
	f.Add(append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 9, 0, 2, 10, 9, 0, 1}, make([]byte, 8)...))
	f.Add(append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd, 0x60}, make([]byte, 60)...))
	st, err := NewSandboxStack(sandboxNet("10.9.0.1", 1), func(int32, [][]byte) bool { return true })
	if err != nil {
		f.Fatal(err)
	}
	defer st.Destroy()
	f.Fuzz(func(t *testing.T, frame []byte) {
		st.Inbound(2, [][]byte{frame})
		st.Inbound(99, [][]byte{frame})
	})
}
