package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// podAddrs are the IPv4 addresses the host kernel has on the pod's end.
func podAddrs(t *testing.T, v *tu.VethNS) string {
	a, err := v.PodAddrs()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// argv runs prog in the namespace: natively, or in a sandbox with
// --network=sandbox (and extra do flags).
func vethArgv(t *testing.T, v *tu.VethNS, sandbox bool, dir string, doFlags []string, prog ...string) []string {
	a := []string{"ip", "netns", "exec", v.Name}
	if sandbox {
		a = append(a, tu.Binary(t), "do", "--force-overlay=false", "--network=sandbox", "--cwd", dir)
		a = append(a, doFlags...)
		a = append(a, "--")
	}
	return append(a, prog...)
}

// hostTCP accepts connections on addr until the test ends, answering
// each with "hello " and what the peer sent before closing its side.
func hostTCP(t *testing.T, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go tu.ServeHello(ln, timeout)
}

// hostUDP echoes datagrams on addr with "echo:" in front.
func hostUDP(t *testing.T, addr string) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go tu.ServeUDPEcho(pc)
}

// TestNetworkSandbox runs network programs in a sandbox whose network is
// a pod-style namespace's veth (do --network=sandbox in the namespace),
// against peers on the host end, and natively in the same namespace:
// the outputs match. A TCP client (IPv4 and IPv6) and a UDP round trip
// to the host end,
// 8 MB each way,
// a TCP client through the default route to an address outside the
// subnet, the interfaces as ioctls report them, and a TCP listener in
// the sandbox reached from the host, which also pings the sandbox's
// address: while the sandbox runs, the host kernel holds no address on
// the pod's interface, so the sandbox's netstack is what answers.
func TestNetworkSandbox(t *testing.T) {
	tu.RequireRoot(t)
	buildDir := t.TempDir()
	prog := tu.StaticProgramFile(t, buildDir, filepath.Join("testdata", "netsb", "netsb.c"))
	v := tu.NewVethNS(t)
	tcpPort, udpPort := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	hostTCP(t, v.HostIP+":"+tcpPort)
	hostTCP(t, v.OtherHost+":"+tcpPort)
	hostTCP(t, "["+v.HostIP6+"]:"+tcpPort)
	hostUDP(t, v.HostIP+":"+udpPort)

	for _, tc := range []struct {
		name string
		args []string
		want string // a line the output must hold (both runs)
	}{
		{"tcp client", []string{"client", v.HostIP, tcpPort, "from-the-pod"}, "client got 18 bytes: hello from-the-pod"},
		{"tcp over ipv6", []string{"client", v.HostIP6, tcpPort, "six"}, "client got 9 bytes: hello six"},
		{"tcp via gateway", []string{"client", v.OtherHost, tcpPort, "routed"}, "client got 12 bytes: hello routed"},
		{"udp", []string{"udp", v.HostIP, udpPort, "datagram"}, "udp reply from " + v.HostIP + ":" + udpPort + ": echo:datagram"},
		{"ifaces", []string{"ifaces"}, v.PodIf + " " + v.PodIP + " "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			native := tu.Run(t, timeout, dir, "", vethArgv(t, v, false, dir, nil, append([]string{prog}, tc.args...)...)...)
			got := tu.Run(t, timeout, dir, "", vethArgv(t, v, true, dir, nil, append([]string{prog}, tc.args...)...)...)
			if !strings.Contains(native.Stdout, tc.want) {
				t.Fatalf("native run: %q (exit %d, stderr %q), want a line with %q", native.Stdout, native.ExitCode, native.Stderr, tc.want)
			}
			if got.Stdout != native.Stdout || got.ExitCode != native.ExitCode {
				t.Errorf("sandbox (exit %d):\n%s\nnative (exit %d):\n%s\nsandbox stderr:\n%s", got.ExitCode, got.Stdout, native.ExitCode, native.Stdout, got.Stderr)
			}
		})
	}

	// bulk moves 8 MB each way between the pod and the host, natively
	// and in a sandbox: windows fill, the host's segmentation offload
	// hands the AF_PACKET socket frames beyond the MTU, batches fill.
	t.Run("bulk", func(t *testing.T) {
		const size = "8000000"
		var outs [2]string
		for i, sandbox := range []bool{false, true} {
			var b strings.Builder
			// pod -> host
			port := strconv.Itoa(freePort(t))
			hostDir := t.TempDir()
			sink := runBackground(t, hostDir, []string{prog, "sink", port})
			waitFile(t, filepath.Join(hostDir, "listening"), sink)
			dir := t.TempDir()
			src := tu.Run(t, timeout, dir, "", vethArgv(t, v, sandbox, dir, nil, prog, "source", v.HostIP, port, size)...)
			got := <-sink
			fmt.Fprintf(&b, "pod source: %s(exit %d) host %s", src.Stdout, src.ExitCode, got.Stdout)
			// host -> pod
			port = strconv.Itoa(freePort(t))
			dir = t.TempDir()
			sink = runBackground(t, dir, vethArgv(t, v, sandbox, dir, nil, prog, "sink", port))
			waitFile(t, filepath.Join(dir, "listening"), sink)
			src = tu.Run(t, timeout, hostDir, "", prog, "source", v.PodIP, port, size)
			got = <-sink
			fmt.Fprintf(&b, "host source: %s(exit %d) pod %s(exit %d)", src.Stdout, src.ExitCode, got.Stdout, got.ExitCode)
			outs[i] = b.String()
		}
		if !strings.Contains(outs[0], "sink: "+size+" bytes") {
			t.Fatalf("native:\n%s", outs[0])
		}
		if outs[0] != outs[1] {
			t.Errorf("sandbox:\n%s\nnative:\n%s", outs[1], outs[0])
		}
	})

	t.Run("listener and ping", func(t *testing.T) {
		port := strconv.Itoa(freePort(t))
		var outs [2]string
		for i, sandbox := range []bool{false, true} {
			dir := t.TempDir()
			done := runBackground(t, dir, vethArgv(t, v, sandbox, dir, nil, prog, "serve", port, "2"))
			waitFile(t, filepath.Join(dir, "listening"), done)
			if sandbox {
				if a := podAddrs(t, v); strings.Contains(a, "inet") {
					t.Errorf("the host kernel still has the pod's address while the sandbox runs:\n%s", a)
				}
			}
			if out, err := exec.Command("busybox", "ping", "-c", "1", "-W", "5", v.PodIP).CombinedOutput(); err != nil {
				t.Errorf("ping %s (sandbox %v): %v\n%s", v.PodIP, sandbox, err, out)
			}
			for _, msg := range []string{"first", "second"} {
				if got := tcpRoundTrip(t, v.PodIP+":"+port, msg+"\n"); got != "pong:"+msg+"\n" {
					t.Errorf("sandbox %v: %q answered %q", sandbox, msg, got)
				}
			}
			res := <-done
			if res.ExitCode != 0 {
				t.Errorf("sandbox %v: exit %d\n%s\n%s", sandbox, res.ExitCode, res.Stdout, res.Stderr)
			}
			outs[i] = res.Stdout
		}
		if outs[0] != outs[1] {
			t.Errorf("sandbox:\n%s\nnative:\n%s", outs[1], outs[0])
		}
		// do gave the address back when it ended.
		if a := podAddrs(t, v); !strings.Contains(a, v.PodIP+"/24") {
			t.Errorf("the pod's address was not given back after the sandbox:\n%s", a)
		}
	})
}

// runBackground starts argv in dir and delivers its result once it ends;
// it is killed when the test ends or after twice the timeout, so that a
// program left waiting for a peer that never came fails the test rather
// than hanging it.
func runBackground(t *testing.T, dir string, argv []string) chan tu.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 2 * time.Second
	done := make(chan tu.Result, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", argv, err)
	}
	go func() {
		err := cmd.Wait()
		r := tu.Result{Stdout: out.String(), Stderr: errb.String()}
		if err != nil {
			r.ExitCode = -1
			if ee, ok := err.(*exec.ExitError); ok {
				r.ExitCode = ee.ExitCode()
			}
			r.Stderr += fmt.Sprintf("\n(%v)", err)
		}
		done <- r
	}()
	return done
}

// waitFile waits for path, failing the test if done delivers first.
func waitFile(t *testing.T, path string, done chan tu.Result) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case r := <-done: // a nil done never delivers
			t.Fatalf("the program ended before %s (exit %d):\n%s\n%s", filepath.Base(path), r.ExitCode, r.Stdout, r.Stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tcpRoundTrip connects to addr (retrying a refused connection for a
// while), sends msg and returns the first line of the answer.
func tcpRoundTrip(t *testing.T, addr, msg string) string {
	c, err := dialRetry("tcp", addr, timeout/2)
	if err != nil {
		return "connect: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout / 2))
	if _, err := io.WriteString(c, msg); err != nil {
		return "write: " + err.Error()
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "read: " + err.Error()
	}
	return line
}

// TestNetworkSandboxServerKill kills the remote sentry (a server with
// --network=sandbox) while a program in a sandbox on a pod's veth
// listens for the host and holds a connection to it: the client keeps
// its AF_PACKET socket and sends the same network to the restarted
// server; the listener, re-bound on the new server's netstack, answers
// the host again on the same address, and the held connection, which
// no server can rebuild, fails with ECONNRESET, then reads end of file
// (docs/COMPATIBILITY.md); the host's end of it is reset when it next
// sends.
func TestNetworkSandboxServerKill(t *testing.T) {
	tu.RequireRoot(t)
	buildDir, dir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	prog := tu.StaticProgramFile(t, buildDir, filepath.Join("testdata", "netsb", "netsb.c"))
	v := tu.NewVethNS(t)
	port, hport := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	// The held connection's host end: answers the first line with
	// "ack:", then is left to the test.
	ln, err := net.Listen("tcp", v.HostIP+":"+hport)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(timeout))
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "ack:"+line)
		held <- c
	}()
	gofer := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	serverArgs := []string{"server", "--gofer", gofer.Target, "--network", "sandbox"}
	srv := tu.StartDaemon(t, sockDir, "a", serverArgs[0], serverArgs[1:]...)
	flags := []string{"--server", srv.Target, "--grace", "5s", "--heartbeat", "50ms"}
	script := prog + " hold " + v.HostIP + " " + hport + " > hold.txt & " + prog + " serve " + port + " 2; wait"
	done := runBackground(t, dir, vethArgv(t, v, true, dir, flags, tu.Busybox, "sh", "-c", script))
	waitFile(t, filepath.Join(dir, "listening"), done)
	waitFile(t, filepath.Join(dir, "phase1"), done)
	if got := tcpRoundTrip(t, v.PodIP+":"+port, "before\n"); got != "pong:before\n" {
		t.Fatalf("before the kill: %q", got)
	}
	srv.Kill()
	time.Sleep(100 * time.Millisecond)
	srv2 := tu.StartDaemonAt(t, srv.Target, serverArgs[0], serverArgs[1:]...)
	if srv2 == nil {
		t.Fatal("server did not restart")
	}
	if got := tcpRoundTrip(t, v.PodIP+":"+port, "after\n"); got != "pong:after\n" {
		t.Errorf("after the kill: %q; server log:\n%s", got, srv2.Log)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := <-done
	want := "served 0: from " + v.HostIP + ": before\nserved 1: from " + v.HostIP + ": after\n"
	if res.Stdout != want || res.ExitCode != 0 {
		t.Errorf("program output (exit %d):\n%s\nwant:\n%s\nstderr:\n%s", res.ExitCode, res.Stdout, want, res.Stderr)
	}
	holdOut, _ := os.ReadFile(filepath.Join(dir, "hold.txt"))
	if want := "before: ack:one\nafter send: -1 errno 104\nafter read: 0 errno 0\n"; string(holdOut) != want {
		t.Errorf("held connection:\n%s\nwant:\n%s", holdOut, want)
	}
	// The host's end: the new server's stack knows no such connection
	// and resets it when the host sends.
	c := <-held
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout / 2))
	// One write only: a second one would take the reset's error.
	io.WriteString(c, "ping\n")
	if _, err := c.Read(make([]byte, 64)); err == nil || !strings.Contains(err.Error(), "reset") {
		t.Errorf("the host's end of the held connection: read %v, want a reset", err)
	}
}

// TestNetworkSandboxRefused: a client asking for --network=sandbox of a
// server that does not allow it fails at once, saying so.
func TestNetworkSandboxRefused(t *testing.T) {
	tu.RequireRoot(t)
	sockDir, dir := t.TempDir(), t.TempDir()
	v := tu.NewVethNS(t)
	gofer := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	srv := tu.StartDaemon(t, sockDir, "a", "server", "--gofer", gofer.Target)
	res := tu.Run(t, timeout, dir, "", vethArgv(t, v, true, dir, []string{"--server", srv.Target}, tu.Busybox, "true")...)
	if res.ExitCode != 125 || !strings.Contains(res.Stderr, "--network=sandbox") {
		t.Errorf("exit %d, stderr %q: want 125 and a refusal naming --network=sandbox", res.ExitCode, res.Stderr)
	}
	if a := podAddrs(t, v); !strings.Contains(a, v.PodIP+"/24") {
		t.Errorf("the pod's address was not given back after the refusal:\n%s", a)
	}
}

// TestOCINetworkSandbox runs a container as Kubernetes with a CNI plugin
// would: its config.json names the pod's network namespace (a veth to
// the host, as a CNI bridge plugin makes), and the runtime is started
// outside it. The container sees the pod's interface and address, talks
// TCP to the host, and a listener in it is reached from the host; when
// it ends, the namespace has its address back.
func TestOCINetworkSandbox(t *testing.T) {
	r := newOCIRuntime(t)
	buildDir := t.TempDir()
	prog := tu.StaticProgramFile(t, buildDir, filepath.Join("testdata", "netsb", "netsb.c"))
	v := tu.NewVethNS(t)
	port, lport := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	hostTCP(t, v.HostIP+":"+port)
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "/bin/netsb ifaces && /bin/netsb client " + v.HostIP + " " + port + " from-the-container && cd /tmp && /bin/netsb serve " + lport + " 1"}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/var/run/netns/" + v.Name})
	})
	b, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "bin", "netsb"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	c, msg, code := r.create("netsb", bundle)
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, msg)
	}
	r.must("start", "netsb")
	waitFile(t, filepath.Join(bundle, "rootfs", "tmp", "listening"), nil)
	if a := podAddrs(t, v); strings.Contains(a, "inet") {
		t.Errorf("the host kernel still has the pod's address while the container runs:\n%s", a)
	}
	if got := tcpRoundTrip(t, v.PodIP+":"+lport, "to-the-container\n"); got != "pong:to-the-container\n" {
		t.Errorf("the container's listener answered %q", got)
	}
	if code := c.wait(t); code != 0 {
		t.Errorf("container exit %d:\n%s", code, c.out(t))
	}
	r.must("delete", "netsb")
	out := c.out(t)
	for _, want := range []string{
		v.PodIf + " " + v.PodIP + " ",
		"client got 24 bytes: hello from-the-container",
		"served 0: from " + v.HostIP + ": to-the-container",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
	if a := podAddrs(t, v); !strings.Contains(a, v.PodIP+"/24") {
		t.Errorf("the pod's address was not given back after the container:\n%s", a)
	}
}

// TestContainerdNetworkSandbox runs a container through containerd's
// runc.v2 shim joined to a pod-style network namespace (ctr run
// --with-ns network:PATH, as the CRI plugin passes a CNI-made one): the
// container has the pod's address and reaches the host through it.
func TestContainerdNetworkSandbox(t *testing.T) {
	c := startContainerd(t)
	v := tu.NewVethNS(t)
	port := strconv.Itoa(freePort(t))
	hostTCP(t, v.HostIP+":"+port)
	script := "ip -4 -o addr show dev " + v.PodIf + " | grep -o 'inet [0-9./]*'; echo from-ctr | nc " + v.HostIP + " " + port + "; echo"
	args := c.RunArgs("--rm", "--with-ns", "network:/var/run/netns/"+v.Name, c.Image, "c-netsb", "busybox", "sh", "-c", script)
	out, errOut, code := c.Ctr(args...)
	want := "inet " + v.PodIP + "/24\nhello from-ctr\n\n"
	if code != 0 || out != want {
		t.Errorf("ctr run: exit %d, stdout %q (stderr %q); want %q", code, out, errOut, want)
	}
	if a := podAddrs(t, v); !strings.Contains(a, v.PodIP+"/24") {
		t.Errorf("the pod's address was not given back after the container:\n%s", a)
	}
}

// TestNetworkSandboxNetnsFlag runs do outside the pod's namespace with
// --netns naming it, against a remote sentry over TCP (gRPC): do reaches
// the server through its own network while the sandbox has the pod's.
func TestNetworkSandboxNetnsFlag(t *testing.T) {
	tu.RequireRoot(t)
	buildDir, sockDir, dir := t.TempDir(), t.TempDir(), t.TempDir()
	prog := tu.StaticProgramFile(t, buildDir, filepath.Join("testdata", "netsb", "netsb.c"))
	v := tu.NewVethNS(t)
	port := strconv.Itoa(freePort(t))
	hostTCP(t, v.HostIP+":"+port)
	gofer := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	srv := tu.StartDaemonTCP(t, "server", "--gofer", gofer.Target, "--network", "sandbox", "--insecure")
	do := []string{"--force-overlay=false", "--server", srv.Target, "--insecure", "--network=sandbox", "--netns", "/var/run/netns/" + v.Name}
	res := tu.Sandbox(t, timeout, dir, "", do, prog, "client", v.HostIP, port, "over-grpc")
	if want := "client got 15 bytes: hello over-grpc\n"; res.Stdout != want || res.ExitCode != 0 {
		t.Errorf("exit %d, stdout %q, want %q; stderr:\n%s", res.ExitCode, res.Stdout, want, res.Stderr)
	}
	if res := tu.Sandbox(t, timeout, dir, "", []string{"--netns", "/var/run/netns/" + v.Name}, tu.Busybox, "true"); res.ExitCode != 2 || !strings.Contains(res.Stderr, "--netns needs --network=sandbox") {
		t.Errorf("--netns without sandbox: exit %d, stderr %q", res.ExitCode, res.Stderr)
	}
}
