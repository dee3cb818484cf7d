package e2e

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/test/chaos"
	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// socketPrograms are the C programs of testdata/sockets: eventfd, epoll
// and sockets, each run natively and in the sandbox with the same output
// expected.
var socketPrograms = []string{"eventfd", "epoll", "timerfd", "socketpair", "unixserver", "scmrights", "inet", "sendfile"}

// socketSource returns testdata/sockets/NAME.c with common.h inlined
// (testutil.StaticProgram compiles a single file).
func socketSource(t *testing.T, name string) string {
	t.Helper()
	return testdataSource(t, "sockets", name)
}

// testdataSource reads testdata/DIR/NAME.c with DIR's common.h, if DIR
// has one, inlined: in place of its `#include "common.h"`, or before the
// program when it has none (a #line keeps compiler messages pointing at
// NAME.c).
func testdataSource(t *testing.T, dir, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", dir, name+".c"))
	if err != nil {
		t.Fatal(err)
	}
	common, err := os.ReadFile(filepath.Join("testdata", dir, "common.h"))
	if errors.Is(err, fs.ErrNotExist) {
		return string(src)
	}
	if err != nil {
		t.Fatal(err)
	}
	if include := `#include "common.h"`; strings.Contains(string(src), include) {
		return strings.Replace(string(src), include, string(common), 1)
	}
	return string(common) + "\n#line 1 \"" + name + ".c\"\n" + string(src)
}

// TestSocketPrograms compares the socket, epoll and eventfd programs with
// native runs (systrap only: the calls are the server's, the platform
// does not matter to them).
func TestSocketPrograms(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "sockets", socketPrograms)
}

// TestSocketRecovery kills the remote sentry while a program holds an
// eventfd, an epoll instance, two listening AF_UNIX sockets, socketpairs
// (stream, seqpacket, one whose other end was closed) with queued data, a
// listening TCP socket on an ephemeral port and a TCP connection: all but
// the TCP connection come back with their state (the program's output
// matches native), and the connection fails with ECONNRESET, then reads
// end of file, as docs/COMPATIBILITY.md says.
func TestSocketRecovery(t *testing.T) {
	tu.RequireRoot(t)
	want, got, k := killAtPhase1(t, tu.StaticProgram(t, t.TempDir(), "recover", socketSource(t, "recover")))
	// The pair's lines are the documented difference from native: the
	// connection is reset, then reads end of file.
	const wantPair = "pair: tcp recv: -1 errno 104\npair: tcp recv again: 0 errno 0\npair: tcp client send: -1 errno 104\n"
	var gotPair string
	want.Stdout, _ = splitPrefixed(want.Stdout, "pair:")
	got.Stdout, gotPair = splitPrefixed(got.Stdout, "pair:")
	if gotPair != wantPair {
		t.Errorf("socketpair after the kill:\n%s\nwant:\n%s", gotPair, wantPair)
	}
	compare(t, want, got)
	if t.Failed() {
		t.Logf("server log:\n%s", k.server.Log)
	}
}

// splitPrefixed splits out the lines of s that start with prefix.
func splitPrefixed(s, prefix string) (rest, matched string) {
	var r, m strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			m.WriteString(l)
		} else {
			r.WriteString(l)
		}
	}
	return r.String(), m.String()
}

// TestSocketTools runs real servers and clients on the sandbox's
// loopback network, compared with native runs: busybox nc, httpd and
// wget, a python3 asyncio echo server with its client, python3 -m
// http.server fetched with urllib, a Go net/http server and client.
func TestSocketTools(t *testing.T) {
	tu.RequireRoot(t)
	// Fixed ports for busybox (it cannot report an ephemeral one): the
	// native run and the sandbox's own stack use them one after the
	// other; the sandbox's ports are its own.
	port := 20000 + os.Getpid()%5000
	cases := []struct {
		name   string
		script string
		argv   func(script string) []string
	}{
		{"busybox nc httpd wget", "busybox.sh", func(s string) []string {
			return []string{tu.Busybox, "sh", s, strconv.Itoa(port), strconv.Itoa(port + 1)}
		}},
		{"python3 asyncio echo", "asyncio_echo.py", func(s string) []string { return []string{"/usr/bin/python3", s} }},
		{"python3 http.server", "http_server.py", func(s string) []string { return []string{"/usr/bin/python3", s} }},
		{"go net/http", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.script == "" {
				// A static Go binary built from testdata/sockets/gohttp.
				bin := filepath.Join(dir, "gohttp")
				build := exec.Command("go", "build", "-o", bin, "./testdata/sockets/gohttp")
				build.Env = append(os.Environ(), "CGO_ENABLED=0")
				if out, err := build.CombinedOutput(); err != nil {
					t.Fatalf("go build: %v\n%s", err, out)
				}
				want := tu.Run(t, timeout, dir, "", bin, "100")
				got := tu.Sandbox(t, timeout, dir, "", nil, bin, "100")
				compare(t, want, got)
				return
			}
			src, err := os.ReadFile(filepath.Join("testdata", "sockets", "tools", tc.script))
			if err != nil {
				t.Fatal(err)
			}
			script := filepath.Join(dir, tc.script)
			if err := os.WriteFile(script, src, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "www", "index.txt"), []byte("hello over http\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			want := tu.Run(t, timeout, dir, "", tc.argv(script)...)
			got := tu.Sandbox(t, timeout, dir, "", []string{"--cwd", dir}, tc.argv(script)...)
			compare(t, want, got)
		})
	}
}

// TestSocketpairEchoServerKills kills the remote sentry three times under
// a socketpair echo loop with an eventfd and epoll: the output matches
// native (the pair comes back with its queued data every time).
func TestSocketpairEchoServerKills(t *testing.T) {
	chaosServerKills(t, "socketpair", nil)
}

// chaosServerKills runs the chaos workload name's program (with 4000)
// under do with doFlags, kills the remote sentry three times 700 ms
// apart, and compares the output with a native run's.
func chaosServerKills(t *testing.T, name string, doFlags []string) {
	t.Helper()
	tu.RequireRoot(t)
	w, ok := chaos.Find(name)
	if !ok {
		t.Fatalf("chaos workload %s is gone", name)
	}
	buildDir, dir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	prog := tu.StaticProgram(t, buildDir, name, w.CSource)
	want := tu.Run(t, timeout, dir, "", prog, "4000")
	k := startKillableWith(t, sockDir, dir, "5s", doFlags, prog, "4000")
	for range 3 {
		at := time.Now().Add(700 * time.Millisecond)
		if !k.waitUntil(func() bool { return time.Now().After(at) }) {
			break
		}
		k.killServer()
	}
	got := k.wait()
	n := k.recoveries()
	t.Logf("%d recoveries", n)
	if n == 0 {
		t.Errorf("no recovery logged (the loop finished before the first kill?)")
	}
	compare(t, want, got)
}

// TestInetLostConnectionServerKill kills the remote sentry while a
// program polls a loopback TCP connection (testdata/sockets/lostconn.c):
// the connections come back lost and report what a reset connection
// does natively (the program resets its own there): poll's and epoll's
// events with POLLERR until the reset is taken, SO_ERROR ECONNRESET once
// then 0, reads ECONNRESET then end of file, sends EPIPE.
func TestInetLostConnectionServerKill(t *testing.T) {
	tu.RequireRoot(t)
	serverKillRun(t, serverKill{
		prog:     tu.StaticProgram(t, t.TempDir(), "lostconn", socketSource(t, "lostconn")),
		kills:    1,
		ready:    func(dir string, _ int) bool { return tu.Exists(filepath.Join(dir, "ready")) },
		progress: func(string) string { return "polling the connection" },
	})
}
