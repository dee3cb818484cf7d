package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// The --network=host tests: the application's sockets are the server
// machine's, so a program in the sandbox talks over 127.0.0.1 with a
// peer outside it (this test process), in both directions.

// hostNet are the do flags of a sandbox on the host's network.
var hostNet = []string{"--network", "host"}

// freePort returns a port of 127.0.0.1 free for both TCP and UDP now.
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", l.Addr().String())
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no port free for TCP and UDP")
	return 0
}

// dialRetry connects to addr until it listens (or timeout passes).
func dialRetry(network, addr string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial(network, addr)
		if err == nil || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// peerOfServe is the native peer of "hostpeer serve PORT": it connects,
// sends a line, reads the reply to end of file, then sends a datagram
// (again until answered: the program binds its UDP socket before it
// says ready, but a datagram sent early is only lost if nothing is
// bound) and reads the answer. It returns what it received.
func peerOfServe(addr string) (string, error) {
	c, err := dialRetry("tcp", addr, timeout/2)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout / 2))
	if _, err := io.WriteString(c, "hello from outside\n"); err != nil {
		return "", err
	}
	reply, err := io.ReadAll(c)
	if err != nil {
		return "", fmt.Errorf("read reply: %w", err)
	}
	c.Close()
	u, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(timeout / 2))
	if _, err := io.WriteString(u, "ping udp"); err != nil {
		return "", err
	}
	b := make([]byte, 64)
	n, err := u.Read(b)
	if err != nil {
		return "", fmt.Errorf("udp answer: %w", err)
	}
	return fmt.Sprintf("tcp: %q udp: %q", reply, b[:n]), nil
}

// peerOfConnect serves "hostpeer connect PORT": one connection, whose
// line it answers, and one datagram. It returns what it received.
func peerOfConnect(l net.Listener, u net.PacketConn) (string, error) {
	c, err := l.Accept()
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout / 2))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read line: %w", err)
	}
	if _, err := io.WriteString(c, "welcome inside\n"); err != nil {
		return "", err
	}
	c.Close()
	u.SetDeadline(time.Now().Add(timeout / 2))
	b := make([]byte, 64)
	n, from, err := u.ReadFrom(b)
	if err != nil {
		return "", fmt.Errorf("udp: %w", err)
	}
	if _, err := u.WriteTo([]byte("pong udp"), from); err != nil {
		return "", err
	}
	return fmt.Sprintf("tcp: %q udp: %q", line, b[:n]), nil
}

// hostPeer prepares a native peer for a program on port (a listener
// opened now, say) and returns its body, run while the program runs,
// which returns what the peer received.
type hostPeer func(t *testing.T, port int) func() (string, error)

// servePeer is the peer of a program that listens: the peer is a client.
func servePeer(client func(addr string) (string, error)) hostPeer {
	return func(_ *testing.T, port int) func() (string, error) {
		return func() (string, error) { return client("127.0.0.1:" + strconv.Itoa(port)) }
	}
}

// listenPeer is the peer of a program that connects: it listens for TCP
// and UDP on 127.0.0.1:port now.
func listenPeer(serve func(l net.Listener, u net.PacketConn) (string, error)) hostPeer {
	return func(t *testing.T, port int) func() (string, error) {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		return func() (string, error) { return serve(l, u) }
	}
}

// compareWithPeer runs argv (PORT in it replaced by a free port) natively
// and in a sandbox on the host's network, each with its own peer: the
// program's outputs and what the peers received must match.
func compareWithPeer(t *testing.T, dir string, peer hostPeer, argv ...string) {
	t.Helper()
	type outcome struct {
		res  tu.Result
		peer string
	}
	run := func(sandbox bool) outcome {
		port := freePort(t)
		body := peer(t, port)
		peerDone := make(chan string, 1)
		go func() {
			s, err := body()
			if err != nil {
				s = "peer error: " + err.Error()
			}
			peerDone <- s
		}()
		args := make([]string, len(argv))
		for i, a := range argv {
			args[i] = strings.ReplaceAll(a, "PORT", strconv.Itoa(port))
		}
		var res tu.Result
		if sandbox {
			res = tu.Sandbox(t, timeout, dir, "", hostNet, args...)
		} else {
			res = tu.Run(t, timeout, dir, "", args...)
		}
		select {
		case p := <-peerDone:
			return outcome{res, p}
		case <-time.After(timeout):
			t.Fatalf("the peer did not finish; program output:\n%s\n%s", res.Stdout, res.Stderr)
		}
		return outcome{}
	}
	want := run(false)
	if strings.HasPrefix(want.peer, "peer error") {
		t.Fatalf("native run: %s\n%s%s", want.peer, want.res.Stdout, want.res.Stderr)
	}
	got := run(true)
	if got.peer != want.peer {
		t.Errorf("the peer received %s, natively %s", got.peer, want.peer)
	}
	compare(t, want.res, got.res)
}

// TestNetworkHost runs hostpeer natively and in a sandbox on the host's
// network against the same native peer, as a server and as a client.
func TestNetworkHost(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "nethost", "hostpeer.c"))
	t.Run("serve", func(t *testing.T) { compareWithPeer(t, dir, servePeer(peerOfServe), prog, "serve", "PORT") })
	t.Run("connect", func(t *testing.T) { compareWithPeer(t, dir, listenPeer(peerOfConnect), prog, "connect", "PORT") })
}

// TestNetworkModeIsolation checks that the host's network is reached only
// when asked: the same connection to a native listener succeeds with
// --network=host and is refused on the sandbox's own loopback by default
// (no connection reaches the listener); and a client of a remote server
// cannot ask for the host's network.
func TestNetworkModeIsolation(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "nethost", "hostpeer.c"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
			accepted <- struct{}{}
		}
	}()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	cases := []struct {
		name     string
		flags    []string
		want     string
		accepted int
	}{
		{"default", nil, "probe: -1 errno 111\n", 0},
		{"none", []string{"--network", "none"}, "probe: -1 errno 111\n", 0},
		{"host", hostNet, "probe: 0 errno 0\n", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tu.Sandbox(t, timeout, dir, "", tc.flags, prog, "probe", port)
			if got.Stdout != tc.want || got.ExitCode != 0 {
				t.Errorf("got %q (exit %d, stderr %q), want %q", got.Stdout, got.ExitCode, got.Stderr, tc.want)
			}
			n := 0
			for done := false; !done; {
				select {
				case <-accepted:
					n++
				case <-time.After(200 * time.Millisecond):
					done = true
				}
			}
			if n != tc.accepted {
				t.Errorf("the native listener accepted %d connections, want %d", n, tc.accepted)
			}
		})
	}
	t.Run("remote client cannot ask", func(t *testing.T) {
		got := tu.Sandbox(t, timeout, dir, "", []string{"--server", "unix:/nonexistent.sock", "--network", "host"}, prog, "probe", port)
		if got.ExitCode != 2 || !strings.Contains(got.Stderr, "--network") {
			t.Errorf("do --server --network host: exit %d, stderr %q; want exit 2 naming --network", got.ExitCode, got.Stderr)
		}
	})
	t.Run("sandbox with nothing to bring", func(t *testing.T) {
		// In a namespace of its own with only a loopback (never the
		// machine's: test/e2e/netsb_test.go runs it in a pod's).
		got := tu.Run(t, timeout, dir, "", "unshare", "--net", tu.Binary(t), "do", "--network", "sandbox", "--", prog, "probe", port)
		if got.ExitCode != 125 || !strings.Contains(got.Stderr, "no interface") {
			t.Errorf("do --network sandbox: exit %d, stderr %q; want exit 125, no interface", got.ExitCode, got.Stderr)
		}
	})
}

// TestNetworkHostServerKill kills the remote sentry (a server with
// --network=host) while a program in the sandbox holds a listener on
// the host's 127.0.0.1 and a connection from a native peer: the
// listener is re-bound on the same port (the peer connects again and is
// answered) and the connection polls as a reset one, fails with
// ECONNRESET, then reads end of file and fails writes with EPIPE, as
// docs/COMPATIBILITY.md says; the
// peer sees its connection closed.
func TestNetworkHostServerKill(t *testing.T) {
	tu.RequireRoot(t)
	buildDir, dir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	prog := tu.StaticProgramFile(t, buildDir, filepath.Join("testdata", "nethost", "hostkill.c"))
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	gofer := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	serverArgs := []string{"server", "--gofer", gofer.Target, "--network", "host"}
	srv := tu.StartDaemon(t, sockDir, "a", serverArgs[0], serverArgs[1:]...)
	done := make(chan tu.Result, 1)
	go func() {
		flags := []string{"--server", srv.Target, "--cwd", dir, "--grace", "5s", "--heartbeat", "50ms"}
		done <- tu.Sandbox(t, 2*timeout, dir, "", flags, prog, strconv.Itoa(port))
	}()
	// roundtrip sends ping on c and reads the answer line.
	roundtrip := func(c net.Conn, ping string) string {
		c.SetDeadline(time.Now().Add(timeout / 2))
		if _, err := io.WriteString(c, ping); err != nil {
			return "write: " + err.Error()
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return "read: " + err.Error()
		}
		return line
	}
	c, err := dialRetry("tcp", addr, timeout/2)
	if err != nil {
		t.Fatalf("connect to the sandbox's listener: %v", err)
	}
	defer c.Close()
	if got := roundtrip(c, "ping\n"); got != "pong\n" {
		t.Fatalf("before the kill: got %q", got)
	}
	deadline := time.Now().Add(timeout)
	for {
		if tu.Exists(filepath.Join(dir, "phase1")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the program did not reach phase1")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Kill()
	time.Sleep(100 * time.Millisecond)
	srv2 := tu.StartDaemonAt(t, srv.Target, serverArgs[0], append(serverArgs[1:], "--log-level", "debug")...)
	if srv2 == nil {
		t.Fatal("server did not restart")
	}
	defer func() {
		if t.Failed() {
			t.Logf("restarted server's log:\n%s", srv2.Log)
		}
	}()
	// The old server's socket closed with it: the peer reads end of file.
	c.SetDeadline(time.Now().Add(timeout / 2))
	if n, err := c.Read(make([]byte, 8)); err == nil {
		t.Errorf("the peer's connection still open after the kill (read %d bytes)", n)
	}
	c.Close()
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c2, err := dialRetry("tcp", addr, timeout/2)
	if err != nil {
		c.Close()
		t.Fatalf("connect to the re-bound listener: %v; program:\n%+v", err, <-done)
	}
	defer c2.Close()
	if got := roundtrip(c2, "ping again\n"); got != "pong\n" {
		t.Errorf("after the kill: got %q", got)
	}
	res := <-done
	const want = "before: recv 5: ping\nbefore: send 5\n" +
		"old conn poll: 1 revents 0x201d\nold conn recv: -1 errno 104\nold conn recv again: 0 errno 0\n" +
		"old conn SO_ERROR: 0\nold conn send: -1 errno 32\n" +
		"after: recv 11: ping again\nafter: send 5\n"
	if res.Stdout != want || res.ExitCode != 0 {
		t.Errorf("program output (exit %d):\n%s\nwant:\n%s\nstderr:\n%s", res.ExitCode, res.Stdout, want, res.Stderr)
	}
}

// TestNetworkHostTools runs real servers and clients in a sandbox on the
// host's network against native peers, compared with native runs:
// busybox nc listening and connecting, python3's http.server fetched by
// a native Go client, python3's urllib fetching from a native Go server;
// and Go's net/http and python3's asyncio talking to themselves.
func TestNetworkHostTools(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	data := strings.Repeat("0123456789abcdef", 4096)
	for name, body := range map[string]string{"index.txt": "hello over the host's network\n", "data.txt": data} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, py := range []string{"http_serve.py", "http_fetch.py"} {
		src, err := os.ReadFile(filepath.Join("testdata", "nethost", py))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, py), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// ncClient sends a line and reads data.txt (nc ends when the
	// connection does: only then does the peer close).
	ncClient := func(addr string) (string, error) {
		c, err := dialRetry("tcp", addr, timeout/2)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout / 2))
		if _, err := io.WriteString(c, "hello from outside\n"); err != nil {
			return "", err
		}
		b := make([]byte, len(data))
		if _, err := io.ReadFull(c, b); err != nil {
			return "", err
		}
		return fmt.Sprintf("data.txt intact: %v", string(b) == data), nil
	}
	// ncServer answers one connection with a line and reads its line.
	ncServer := func(l net.Listener, _ net.PacketConn) (string, error) {
		c, err := l.Accept()
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout / 2))
		if _, err := io.WriteString(c, "welcome inside\n"); err != nil {
			return "", err
		}
		return bufio.NewReader(c).ReadString('\n')
	}
	// httpClient fetches two pages and a missing one.
	httpClient := func(addr string) (string, error) {
		var out strings.Builder
		for _, page := range []string{"index.txt", "data.txt", "nope"} {
			var resp *http.Response
			var err error
			for deadline := time.Now().Add(timeout / 2); ; time.Sleep(20 * time.Millisecond) {
				if resp, err = http.Get("http://" + addr + "/" + page); err == nil || time.Now().After(deadline) {
					break
				}
			}
			if err != nil {
				return "", err
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&out, "%s: %d %d bytes; ", page, resp.StatusCode, len(b))
		}
		return out.String(), nil
	}
	// httpServer serves index.txt until the fetcher asked for two pages.
	httpServer := func(l net.Listener, _ net.PacketConn) (string, error) {
		var mu sync.Mutex
		var seen []string
		done := make(chan struct{})
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.URL.Path)
			if len(seen) == 2 {
				close(done)
			}
			mu.Unlock()
			if r.URL.Path != "/index.txt" {
				http.NotFound(w, r)
				return
			}
			io.WriteString(w, "hello from the host\n")
		})}
		go srv.Serve(l)
		select {
		case <-done:
		case <-time.After(timeout / 2):
		}
		// Shutdown, not Close: the second request's handler may not
		// have written its answer yet, and Close would cut it off.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		cancel()
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(seen, " "), nil
	}
	// Go's net/http (epoll, non-blocking sockets, timers) and python3's
	// asyncio with both ends in the sandbox, on the host's loopback.
	gohttp := filepath.Join(dir, "gohttp")
	build := exec.Command("go", "build", "-o", gohttp, "./testdata/sockets/gohttp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	asyncio, err := os.ReadFile(filepath.Join("testdata", "sockets", "tools", "asyncio_echo.py"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "asyncio_echo.py"), asyncio, 0o644); err != nil {
		t.Fatal(err)
	}
	noPeer := func(*testing.T, int) func() (string, error) { return func() (string, error) { return "", nil } }
	cases := []struct {
		name string
		peer hostPeer
		argv []string
	}{
		{"go net/http inside", noPeer, []string{gohttp, "50"}},
		{"python3 asyncio inside", noPeer, []string{"/usr/bin/python3", "asyncio_echo.py"}},
		{"busybox nc listen", servePeer(ncClient), []string{tu.Busybox, "sh", "-c", "busybox nc -l -p PORT < data.txt"}},
		{"busybox nc connect", listenPeer(ncServer), []string{tu.Busybox, "sh", "-c", "(echo hello from inside; sleep 1) | busybox nc 127.0.0.1 PORT"}},
		{"python3 http.server", servePeer(httpClient), []string{"/usr/bin/python3", "http_serve.py", "PORT", "3", dir}},
		{"python3 urllib", listenPeer(httpServer), []string{"/usr/bin/python3", "http_fetch.py", "http://127.0.0.1:PORT"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { compareWithPeer(t, dir, tc.peer, tc.argv...) })
	}
}

// TestSocketErrnos compares the errnos of LTP's socket cases (socket01,
// socketpair01, bind02, connect03, accept03, epoll_ctl06) with a native run, on both
// networks.
func TestSocketErrnos(t *testing.T) {
	tu.RequireRoot(t)
	buildDir := t.TempDir()
	prog := tu.StaticProgramFile(t, buildDir, filepath.Join("testdata", "nethost", "sockerrno.c"))
	want := tu.Run(t, timeout, t.TempDir(), "", prog)
	for _, network := range []string{"none", "host"} {
		t.Run(network, func(t *testing.T) {
			got := tu.Sandbox(t, timeout, t.TempDir(), "", []string{"--network", network}, prog)
			compare(t, want, got)
		})
	}
}
