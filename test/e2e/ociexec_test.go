package e2e

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// An exec'd process is a process of the container's own sandbox: it sees
// the container's processes, signals them and is signalled by them.

// execDetached runs exec --detach as the shim does, with output to a file,
// and returns the exec process (its host pid from --pid-file).
func (r *ociRuntime) execDetached(t *testing.T, id, name string, flags []string, args ...string) *container {
	t.Helper()
	out := filepath.Join(r.dir, name+".out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	pidFile := filepath.Join(r.dir, name+".pid")
	if _, code := r.run(&[3]*os.File{null, f, f}, append(append(append([]string{"exec", "--detach", "--pid-file", pidFile}, flags...), id), args...)...); code != 0 {
		t.Fatalf("exec %v: exit %d: %s", args, code, r.lastError())
	}
	b, _ := os.ReadFile(pidFile)
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("exec pid file %q: %v", b, err)
	}
	return &container{id: name, pid: pid, output: out}
}

func TestOCIExecInSandbox(t *testing.T) {
	r := newOCIRuntime(t)
	// The init signals the process whose pid an exec leaves in /tmp/sigme.
	bundle := busyboxBundle(t, r, sh(`trap 'echo init got USR1' USR1; echo ready
while :; do
  if [ -f /tmp/sigme ]; then kill -USR2 $(cat /tmp/sigme); rm /tmp/sigme; fi
  sleep 0.05
done`))
	c, msg, code := r.create("s", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	defer func() {
		r.run(nil, "delete", "--force", "s")
		c.wait(t)
	}()
	r.must("start", "s")
	waitFor(t, func() bool { return strings.Contains(c.out(t), "ready") })

	for _, tc := range []struct {
		name     string
		flags    []string
		args     []string
		want     func(string) bool
		wantExit int
	}{
		{name: "sees the init in /proc", args: []string{"cat", "/proc/1/cmdline"},
			want: func(s string) bool { return strings.HasPrefix(s, "sh\x00-c\x00trap ") }},
		{name: "ps lists the init and itself", args: []string{"busybox", "ps", "-o", "pid,args"},
			want: func(s string) bool {
				return strings.Contains(s, "    1 sh -c trap") && strings.Contains(s, "busybox ps -o pid,args")
			}},
		{name: "a pid of the container's namespace", args: []string{"sh", "-c", "echo $$ $PPID"},
			want: func(s string) bool {
				f := strings.Fields(s)
				pid, _ := strconv.Atoi(f[0])
				return len(f) == 2 && pid > 1 && f[1] == "0"
			}},
		{name: "exit code", args: []string{"sh", "-c", "exit 9"}, want: func(s string) bool { return s == "" }, wantExit: 9},
		{name: "killed by a signal", args: []string{"sh", "-c", "kill -KILL $$"}, want: func(s string) bool { return s == "" }, wantExit: 128 + 9},
		{name: "user and cwd flags", flags: []string{"--user", "1000:1000", "--cwd", "/tmp"}, args: []string{"sh", "-c", "id -u; id -g; pwd"},
			want: func(s string) bool { return s == "1000\n1000\n/tmp\n" }},
		{name: "missing command", args: []string{"/bin/nope"}, want: func(s string) bool { return strings.Contains(s, `"/bin/nope": no such file or directory`) }, wantExit: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append(append([]string{"exec"}, tc.flags...), "s"), tc.args...)
			out, code := r.run(nil, args...)
			if code != tc.wantExit || !tc.want(out) {
				t.Errorf("exec %v: exit %d output %q (log %q); want exit %d", tc.args, code, out, r.lastError(), tc.wantExit)
			}
		})
	}

	t.Run("process.json: env, cwd, user, capabilities", func(t *testing.T) {
		caps := []string{"CAP_KILL"}
		proc := filepath.Join(r.dir, "caps.json")
		b, _ := json.Marshal(specs.Process{
			Args: []string{"sh", "-c", `echo $X; pwd; id -u; grep CapEff /proc/self/status`},
			Env:  []string{"X=from-json", "PATH=/bin"}, Cwd: "/etc",
			User: specs.User{UID: 7, GID: 7},
			// Ambient: a user other than root keeps capabilities across
			// execve only so, as with runc.
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps},
		})
		os.WriteFile(proc, b, 0o644)
		want := "from-json\n/etc\n7\nCapEff:\t0000000000000020\n"
		if out, code := r.run(nil, "exec", "--process", proc, "s"); code != 0 || out != want {
			t.Errorf("exec --process: exit %d output %q, want %q (log %q)", code, out, want, r.lastError())
		}
	})

	t.Run("signals the init", func(t *testing.T) {
		if out, code := r.run(nil, "exec", "s", "busybox", "kill", "-USR1", "1"); code != 0 {
			t.Fatalf("exec kill: exit %d %q", code, out)
		}
		waitFor(t, func() bool { return strings.Contains(c.out(t), "init got USR1") })
	})

	t.Run("signalled by the init", func(t *testing.T) {
		ec := r.execDetached(t, "s", "sig", nil, "sh", "-c", `trap 'echo exec got USR2; exit 3' USR2; echo $$ > /tmp/sigme; while :; do sleep 0.05; done`)
		if exit := ec.wait(t); exit != 3 || ec.out(t) != "exec got USR2\n" {
			t.Errorf("exec'd process signalled by the init: exit %d output %q; want 3", exit, ec.out(t))
		}
	})

	t.Run("exec process killed from the host", func(t *testing.T) {
		// The shim's kill of an exec signals its pid: the signal reaches
		// the process in the sandbox (its trap runs).
		ec := r.execDetached(t, "s", "hostsig", nil, "sh", "-c", `trap 'echo got TERM; exit 4' TERM; echo up; while :; do sleep 0.05; done`)
		waitFor(t, func() bool { return strings.Contains(ec.out(t), "up") })
		unix.Kill(ec.pid, unix.SIGTERM)
		if exit := ec.wait(t); exit != 4 || ec.out(t) != "up\ngot TERM\n" {
			t.Errorf("exec'd process after TERM to its exec process: exit %d output %q; want 4", exit, ec.out(t))
		}
	})

	t.Run("tty", func(t *testing.T) {
		sock := filepath.Join(r.dir, "exec-console.sock")
		masters := consoleMasters(t, sock)
		ec := r.execDetached(t, "s", "tty", []string{"--tty", "--console-socket", sock}, "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo is-a-tty; exit 2")
		var master *os.File
		select {
		case master = <-masters:
		case <-time.After(timeout):
			t.Fatal("no pty master on the console socket")
		}
		if master == nil {
			t.Fatal("console socket: no pty master")
		}
		defer master.Close()
		var out strings.Builder
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			buf := make([]byte, 4096)
			for {
				n, err := master.Read(buf)
				out.Write(buf[:n])
				if err != nil {
					return
				}
			}
		}()
		if exit := ec.wait(t); exit != 2 {
			t.Errorf("tty exec: exit %d, want 2", exit)
		}
		select {
		case <-readDone:
		case <-time.After(10 * time.Second):
			t.Fatalf("pty master did not reach EOF; got %q", out.String())
		}
		if got := strings.ReplaceAll(out.String(), "\r\n", "\n"); got != "is-a-tty\n" {
			t.Errorf("tty exec output %q, want %q", got, "is-a-tty\n")
		}
	})
}

// consoleMasters accepts one connection on a console socket at sock and
// returns the pty master it carries (nil on failure).
func consoleMasters(t *testing.T, sock string) <-chan *os.File {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan *os.File, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			ch <- nil
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		var fds []int
		if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && perr == nil && len(msgs) == 1 {
			fds, _ = unix.ParseUnixRights(&msgs[0])
		}
		if len(fds) != 1 {
			ch <- nil
			return
		}
		ch <- os.NewFile(uintptr(fds[0]), "pty-master")
	}()
	return ch
}

// TestOCIExecServerKill kills -9 the remote sentry of a container while
// an exec'd process runs: the exec'd process, a process of the container's
// sandbox, is rebuilt with the init on the next sentry and finishes with
// the output and files of a run without the kill.
func TestOCIExecServerKill(t *testing.T) {
	r := newOCIRuntime(t)
	const script = `i=0
while [ $i -lt 600 ]; do echo "line $i" >> a; i=$((i+1)); done
wc -l a
echo done; exit 3`
	want := tu.Run(t, timeout, t.TempDir(), "", tu.Busybox, "sh", "-c", script)
	sockDir, err := os.MkdirTemp("", "rd-ociexec-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	bundle := busyboxBundle(t, r, sh("echo ready; while :; do sleep 0.05; done"))
	rootfs := filepath.Join(bundle, "rootfs")
	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", rootfs)
	a := tu.StartDaemon(t, sockDir, "a", "server", "--gofer", g.Target)
	b := tu.StartDaemon(t, sockDir, "b", "server", "--gofer", g.Target)
	cfg := filepath.Join(bundle, "config.json")
	var s specs.Spec
	raw, _ := os.ReadFile(cfg)
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	s.Annotations = map[string]string{"dev.runsc-decoupled.server": a.Target + "," + b.Target}
	raw, _ = json.Marshal(&s)
	os.WriteFile(cfg, raw, 0o644)

	c, msg, code := r.create("rx", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	defer func() {
		r.run(nil, "delete", "--force", "rx")
		c.wait(t)
	}()
	r.must("start", "rx")
	waitFor(t, func() bool { return strings.Contains(c.out(t), "ready") })
	ec := r.execDetached(t, "rx", "loop", []string{"--cwd", "/tmp"}, "sh", "-c", script)
	waitFor(t, func() bool {
		data, _ := os.ReadFile(filepath.Join(rootfs, "tmp", "a"))
		return strings.Count(string(data), "\n") >= 150
	})
	a.Cmd.Process.Kill()
	if data, _ := os.ReadFile(filepath.Join(rootfs, "tmp", "a")); strings.Count(string(data), "\n") >= 600 {
		t.Fatalf("the exec'd job finished before its sentry was killed")
	}
	if exit := ec.wait(t); exit != want.ExitCode || ec.out(t) != want.Stdout {
		t.Errorf("exec'd process after kill -9 of its sentry: exit %d output %q; want %d %q", exit, ec.out(t), want.ExitCode, want.Stdout)
	}
	data, _ := os.ReadFile(filepath.Join(rootfs, "tmp", "a"))
	if n := strings.Count(string(data), "\n"); n != 600 {
		t.Errorf("a has %d lines, want 600", n)
	}
	// The container carries on: an exec after the recovery works.
	if out, code := r.run(nil, "exec", "rx", "cat", "/proc/1/cmdline"); code != 0 || !strings.HasPrefix(out, "sh\x00-c\x00echo ready") {
		t.Errorf("exec after recovery: exit %d output %q", code, out)
	}
}

// TestOCIMaskedAndReadonlyPaths applies linux.maskedPaths and
// linux.readonlyPaths to the root's files as runc does: a masked file
// cannot be read, a masked directory is empty, a read-only path takes no
// writes; a missing path is ignored, and the host's files are unchanged.
func TestOCIMaskedAndReadonlyPaths(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `cat /etc/secret || echo masked file; ls /etc/hidden | wc -l; touch /etc/ro/x || echo read-only; cat /etc/ro/f`}
		s.Linux.MaskedPaths = []string{"/etc/secret", "/etc/hidden", "/no/such/path", "/proc/kcore"}
		s.Linux.ReadonlyPaths = []string{"/etc/ro", "/proc/sys"}
	})
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"etc/hidden", "etc/ro"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	os.WriteFile(filepath.Join(rootfs, "etc/secret"), []byte("secret\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/hidden/h"), []byte("hidden\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/ro/f"), []byte("readable\n"), 0o644)
	c, msg, code := r.create("mask", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", "mask")
	if exit := c.wait(t); exit != 0 {
		t.Errorf("exit %d: %q", exit, c.out(t))
	}
	out := c.out(t)
	for _, want := range []string{"masked file\n", "0\n", "read-only\n", "readable\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if line == "secret" || line == "hidden" {
			t.Errorf("masked contents shown: %q", out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(rootfs, "etc/secret")); string(b) != "secret\n" {
		t.Errorf("the host's file changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "etc/ro/x")); err == nil {
		t.Errorf("a file was created in a read-only path")
	}
	r.must("delete", "mask")
}

// TestOCISysctl: linux.sysctl names the sentry serves are set before the
// container's process starts; another name fails create, naming it.
func TestOCISysctl(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni"}
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "99"}
	})
	c, msg, code := r.create("sysctl", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", "sysctl")
	if exit := c.wait(t); exit != 0 || c.out(t) != "1\n99\n" {
		t.Errorf("exit %d output %q, want 1 and 99", exit, c.out(t))
	}
	r.must("delete", "sysctl")

	bad := busyboxBundle(t, r, func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.core.somaxconn": "5"} })
	if _, msg, code := r.create("badsysctl", bad); code == 0 || !strings.Contains(msg, "net.core.somaxconn") {
		t.Errorf("create with an unserved sysctl: exit %d, %q; want a failure naming it", code, msg)
	}
}

// TestOCIDevices: linux.devices are nodes of the sandbox's /dev with the
// configured type, numbers, mode and owner; one of a device the sentry
// serves works as it, another fails as a node without a driver (ENXIO).
func TestOCIDevices(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `busybox stat -c '%n %F %t:%T %a %u' /dev/test1 /dev/test2 /dev/mynull; echo x > /dev/mynull && echo null works; cat /dev/test1 || echo no driver`}
		mode := os.FileMode(0o660)
		uid := uint32(7)
		s.Linux.Devices = []specs.LinuxDevice{
			{Path: "/dev/test1", Type: "c", Major: 10, Minor: 666, FileMode: &mode, UID: &uid},
			{Path: "/dev/test2", Type: "b", Major: 8, Minor: 1, FileMode: &mode},
			{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3},
		}
	})
	c, msg, code := r.create("dev", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", "dev")
	want := "/dev/test1 character special file a:29a 660 7\n/dev/test2 block special file 8:1 660 0\n/dev/mynull character special file 1:3 666 0\nnull works\n"
	if exit := c.wait(t); exit != 0 || !strings.HasPrefix(c.out(t), want) || !strings.HasSuffix(c.out(t), "no driver\n") {
		t.Errorf("exit %d output %q, want %q then a failed cat", exit, c.out(t), want)
	}
	r.must("delete", "dev")
}
