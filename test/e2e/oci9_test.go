package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestDoSignalHandlers checks that SIGINT and SIGQUIT sent to do run the
// application's handlers (TestDoSignals has TERM and HUP, and INT and
// QUIT without a handler).
func TestDoSignalHandlers(t *testing.T) {
	tu.RequireRoot(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
	}{{syscall.SIGINT, "INT"}, {syscall.SIGQUIT, "QUIT"}} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			cmd, out := doIn(t, tmp, nil, `trap 'echo got `+tc.name+`; exit 5' `+tc.name+`; echo ready; while :; do sleep 0.05; done`)
			waitFor(t, func() bool { return strings.Contains(out.String(), "ready") })
			cmd.Process.Signal(tc.sig)
			if code := waitExit(t, cmd); code != 5 || out.String() != "ready\ngot "+tc.name+"\n" {
				t.Fatalf("exit %d output %q; want 5 and the handler's line", code, out.String())
			}
			checkNoLeftovers(t, tmp)
		})
	}
}

// TestDoSignalBeforeStart checks that a signal that reaches do before the
// command started (here: do waiting for a server that accepted the
// connection and says nothing) ends do at once, saying so, with 128+N.
func TestDoSignalBeforeStart(t *testing.T) {
	tu.RequireRoot(t)
	sock := filepath.Join(t.TempDir(), "silent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			// A connection of an earlier do is not this one's.
			for len(accepted) > 0 {
				(<-accepted).Close()
			}
			cmd := exec.Command(tu.Binary(t), "do", "--server", "unix:"+sock, "--", "/bin/true")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case c := <-accepted:
				defer c.Close()
			case <-time.After(timeout):
				cmd.Process.Kill()
				t.Fatal("do did not connect")
			}
			cmd.Process.Signal(sig)
			start := time.Now()
			code := waitExit(t, cmd)
			// Without the early exit do waits out the recovery timeout.
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("do took %v to end after %v", took, sig)
			}
			if code != 128+int(sig) || !strings.Contains(out.String(), "before the command started") {
				t.Errorf("exit %d output %q; want %d and the reason", code, out.String(), 128+int(sig))
			}
		})
	}
}

// TestDoKVMUnavailable checks that --platform kvm where KVM cannot run the
// application is one line and exit 125: without a usable /dev/kvm (a
// file over it, in a mount namespace of the test's; a host without
// /dev/kvm is that case already). Nested KVM, where
// the guest never returns, is not tested: do's watchdog for it does not
// always fire (docs/OPERATIONS.md).
func TestDoKVMUnavailable(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.Binary(t)
	fake := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(fake, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare (util-linux) is needed: %v", err)
	}
	for _, tc := range []struct {
		name     string
		argv     []string
		wantLine string
	}{
		{"no kvm device", []string{"unshare", "-m", "sh", "-c", `if [ -e /dev/kvm ]; then mount --bind "$0" /dev/kvm || exit 99; fi; exec "$@"`, fake, bin, "do", "--platform", "kvm", "--", tu.Busybox, "echo", "ran"}, "kvm platform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			code := waitExit(t, cmd)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code != 125 || len(lines) != 1 || !strings.Contains(lines[0], tc.wantLine) {
				t.Errorf("exit %d stdout %q stderr %q; want 125 and one line naming %q", code, stdout.String(), stderr.String(), tc.wantLine)
			}
			checkNoLeftovers(t, tmp)
		})
	}
}

// TestOCIDevicesCgroup checks that linux.resources.devices programs the
// container's devices cgroup (v1) in the listed order, followed by the
// devices the sandbox's own host processes need, and that the container,
// its daemons and an exec run in it.
func TestOCIDevicesCgroup(t *testing.T) {
	r := newOCIRuntime(t)
	cgPath := fmt.Sprintf("/rd-oci9-devices-%d", os.Getpid())
	n := func(v int64) *int64 { return &v }
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "echo x > /dev/null && echo ready; exec sleep 1000"}
		s.Linux.CgroupsPath = cgPath
		s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: n(10), Minor: n(229), Access: "rwm"},
			{Allow: true, Type: "b", Major: n(8), Minor: n(20), Access: "rw"},
		}}
	})
	c, msg, code := r.create("dev", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	if _, err := os.Stat("/sys/fs/cgroup/devices"); err != nil {
		// cgroup v2: not programmed, and create says so.
		if b, _ := os.ReadFile(r.log); !strings.Contains(string(b), "linux.resources.devices: not applied under cgroup v2") {
			t.Errorf("no warning under cgroup v2 in the log: %s", b)
		}
	} else {
		dir := filepath.Join("/sys/fs/cgroup/devices", cgPath)
		b, err := os.ReadFile(filepath.Join(dir, "devices.list"))
		if err != nil {
			t.Fatal(err)
		}
		want := "c 10:229 rwm\nb 8:20 rw\nc *:* m\nb *:* m\nc 1:3 rwm\n"
		if !strings.HasPrefix(string(b), want) {
			t.Errorf("devices.list:\n%s\nwant it to begin with\n%s", b, want)
		}
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if !slices.Contains(strings.Fields(string(procs)), strconv.Itoa(c.pid)) {
			t.Errorf("the container's process %d is not in %s: %q", c.pid, dir, procs)
		}
	}
	r.must("start", "dev")
	waitFor(t, func() bool { return strings.Contains(c.out(t), "ready") })
	if out := r.must("exec", "dev", "sh", "-c", "echo exec > /dev/null && echo exec ran"); out != "exec ran\n" {
		t.Errorf("exec: %q", out)
	}
	r.must("kill", "dev", "KILL")
	c.wait(t)
	r.must("delete", "dev")
}

// TestOperationsContainerdConfig checks the containerd configuration that
// docs/OPERATIONS.md gives against the containerd installed here: it
// parses, names the runc.v2 shim with this binary, passes the
// remote-sentry annotations, and the RuntimeClass beside it names its
// handler.
func TestOperationsContainerdConfig(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(tu.RepoRoot(), "docs", "OPERATIONS.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := func(lang string) string {
		_, after, ok := strings.Cut(string(doc), "\n```"+lang+"\n")
		if !ok {
			t.Fatalf("OPERATIONS.md has no %s block", lang)
		}
		body, _, _ := strings.Cut(after, "\n```")
		return body
	}
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(block("toml")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("containerd", "-c", cfg, "config", "dump").CombinedOutput()
	if err != nil {
		t.Fatalf("containerd config dump: %v\n%s", err, out)
	}
	const rt = `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc-decoupled]`
	_, section, ok := strings.Cut(string(out), rt)
	if !ok {
		t.Fatalf("containerd did not take the runtime handler:\n%s", out)
	}
	section, _, _ = strings.Cut(section, "\n\n      [")
	for _, want := range []string{
		`runtime_type = "io.containerd.runc.v2"`,
		`pod_annotations = ["dev.runsc-decoupled.*"]`,
		`BinaryName = "/usr/local/bin/runsc-decoupled"`,
		`SystemdCgroup = false`,
	} {
		if !strings.Contains(section, want) {
			t.Errorf("containerd's view of the handler lacks %s:\n%s", want, section)
		}
	}
	yaml := block("yaml")
	for _, want := range []string{"kind: RuntimeClass", "handler: runsc-decoupled", "runtimeClassName: runsc-decoupled"} {
		if !strings.Contains(yaml, want) {
			t.Errorf("the Kubernetes manifest lacks %q:\n%s", want, yaml)
		}
	}
}

// TestOCIProcessSecurity checks from inside the container what
// config.json's process says of its privileges: noNewPrivileges, and the
// capability sets (in /proc/self/status as the kernel shows them); and
// that state reports the annotations.
func TestOCIProcessSecurity(t *testing.T) {
	r := newOCIRuntime(t)
	for _, tc := range []struct {
		name string
		edit func(*specs.Spec)
		want string
	}{
		{"no new privileges", func(s *specs.Spec) { s.Process.NoNewPrivileges = true }, "NoNewPrivs:\t1\n"},
		{"privileges may grow", func(s *specs.Spec) { s.Process.NoNewPrivileges = false }, "NoNewPrivs:\t0\n"},
		{"capabilities", func(s *specs.Spec) {
			// CAP_CHOWN (0) and CAP_KILL (5).
			caps := []string{"CAP_CHOWN", "CAP_KILL"}
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
		}, "CapPrm:\t0000000000000021\nCapEff:\t0000000000000021\nCapBnd:\t0000000000000021\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			bundle := busyboxBundle(t, r, func(s *specs.Spec) {
				s.Process.Args = []string{"sh", "-c", "while read -r l; do case $l in NoNewPrivs*|CapPrm*|CapEff*|CapBnd*) echo \"$l\";; esac; done < /proc/self/status"}
				s.Annotations = map[string]string{"org.example.test": id}
				tc.edit(s)
			})
			c, msg, code := r.create(id, bundle)
			if code != 0 {
				t.Fatalf("create: %s", msg)
			}
			if st := r.state(id); st.Annotations["org.example.test"] != id {
				t.Errorf("state's annotations: %v", st.Annotations)
			}
			r.must("start", id)
			if code := c.wait(t); code != 0 {
				t.Fatalf("exit %d: %s", code, c.out(t))
			}
			got := strings.ReplaceAll(c.out(t), " ", "\t")
			if !strings.Contains(got, tc.want) {
				t.Errorf("inside: %q, want %q in it", got, tc.want)
			}
			r.must("delete", id)
		})
	}
}

// TestDoServerKilledBeforeConnect checks that a first connection waits out
// the grace period for a server killed -9 (its socket left, refusing) and
// restarted on the same socket, as a recovery would: a wrong target fails
// within the grace (TestBadCommandLines), a restarting one is found.
func TestDoServerKilledBeforeConnect(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
	s.Kill()
	cmd := exec.Command(tu.Binary(t), "do", "--grace", "20s", "--server", s.Target, "--", tu.Busybox, "echo", "ran")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	tu.StartDaemonAt(t, s.Target, "server", "--gofer", g.Target)
	if code := waitExit(t, cmd); code != 0 || out.String() != "ran\n" {
		t.Errorf("exit %d output %q; want the command run on the restarted server", code, out.String())
	}
}
