package testutil

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// VethNS is a network namespace joined to the host by a veth pair, as a
// CNI plugin makes a pod's: the host end holds HostIP (and OtherHost, an
// address outside the pod's subnet, reached through the default route),
// the namespace end PodIP, with a default route through HostIP.
type VethNS struct {
	Name, HostIf, PodIf      string
	HostIP, PodIP, OtherHost string
	// HostIP6 and PodIP6 are the ends' IPv6 addresses (a /64).
	HostIP6, PodIP6 string
}

var vethSeq atomic.Int32

// MakeVethNS creates a VethNS (with ip(8)); Remove deletes it. It is for
// callers without a testing.TB (the chaos command); tests use NewVethNS.
func MakeVethNS() (*VethNS, error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("ip (iproute2) is required (run test/setup.sh): %w", err)
	}
	n := vethSeq.Add(1)
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, n)
	// A /24 of its own per namespace, unlikely to meet another test's.
	sub := fmt.Sprintf("10.%d.%d", 64+os.Getpid()%64, 100+n)
	v := &VethNS{Name: "nsb-" + id, HostIf: "nsbh" + id, PodIf: "nsbp" + id,
		HostIP: sub + ".1", PodIP: sub + ".2", OtherHost: fmt.Sprintf("10.%d.%d.1", 64+os.Getpid()%64, 200+n)}
	sub6 := fmt.Sprintf("fd72:%x:%x::", os.Getpid()%65536, n)
	v.HostIP6, v.PodIP6 = sub6+"1", sub6+"2"
	for _, args := range [][]string{
		{"netns", "add", v.Name},
		{"link", "add", v.HostIf, "type", "veth", "peer", "name", v.PodIf},
		{"link", "set", v.PodIf, "netns", v.Name},
		{"addr", "add", v.HostIP + "/24", "dev", v.HostIf},
		{"addr", "add", v.OtherHost + "/32", "dev", v.HostIf},
		{"addr", "add", v.HostIP6 + "/64", "dev", v.HostIf, "nodad"},
		{"link", "set", v.HostIf, "up"},
		{"-n", v.Name, "link", "set", "lo", "up"},
		{"-n", v.Name, "addr", "add", v.PodIP + "/24", "dev", v.PodIf},
		{"-n", v.Name, "addr", "add", v.PodIP6 + "/64", "dev", v.PodIf, "nodad"},
		{"-n", v.Name, "link", "set", v.PodIf, "up"},
		{"-n", v.Name, "route", "add", "default", "via", v.HostIP},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			v.Remove()
			return nil, fmt.Errorf("ip %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	// The carrier comes up shortly after "link set up": until then the
	// pod's end is up but not RUNNING, and a test that compares two
	// listings would see it change between them.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, err := exec.Command("ip", "-n", v.Name, "-o", "link", "show", "dev", v.PodIf).CombinedOutput()
		if err == nil && strings.Contains(string(out), "LOWER_UP") && strings.Contains(string(out), "state UP") {
			break
		}
		if time.Now().After(deadline) {
			v.Remove()
			return nil, fmt.Errorf("veth %s in %s: no carrier after 10 s: %v\n%s", v.PodIf, v.Name, err, out)
		}
	}
	return v, nil
}

// NewVethNS makes a VethNS removed when the test ends.
func NewVethNS(t testing.TB) *VethNS {
	t.Helper()
	v, err := MakeVethNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Remove)
	return v
}

// Remove deletes the veth pair and the namespace.
func (v *VethNS) Remove() {
	exec.Command("ip", "link", "del", v.HostIf).Run()
	exec.Command("ip", "netns", "del", v.Name).Run()
}

// Exec is argv run inside the namespace (ip netns exec): a test that
// compares the host's interfaces natively and in the sandbox runs both
// here, where no other test adds or removes one meanwhile.
func (v *VethNS) Exec(argv ...string) []string {
	return append([]string{"ip", "netns", "exec", v.Name}, argv...)
}

// Path is the namespace's file, for do --netns.
func (v *VethNS) Path() string { return "/var/run/netns/" + v.Name }

// PodAddrs lists the IPv4 addresses the host kernel has on the pod's end
// (ip -o addr): none while a sandbox holds the interface.
func (v *VethNS) PodAddrs() (string, error) {
	out, err := exec.Command("ip", "-n", v.Name, "-4", "-o", "addr", "show", "dev", v.PodIf).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip addr: %w\n%s", err, out)
	}
	return string(out), nil
}

// ServeHello accepts connections on ln until it is closed, answering
// each with "hello " and what the peer sent before it closed its side;
// each connection gets at most timeout.
func ServeHello(ln net.Listener, timeout time.Duration) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(timeout))
			b, _ := io.ReadAll(c)
			fmt.Fprintf(c, "hello %s", b)
		}()
	}
}

// ServeUDPEcho answers each datagram on pc with "echo:" and the datagram
// until pc is closed.
func ServeUDPEcho(pc net.PacketConn) {
	b := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(b)
		if err != nil {
			return
		}
		pc.WriteTo(append([]byte("echo:"), b[:n]...), from)
	}
}
