package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// The OCI runtime driven as containerd's runc.v2 shim drives it: global
// flags before the verb, a JSON log the shim reads errors from, stdio as
// files the container's process inherits, the pid file, and the pid the
// shim waits on (it is a child subreaper; so is this test process).

var subreaperOnce sync.Once

// ociRuntime calls the runtime's verbs with a private --root and log.
type ociRuntime struct {
	t         *testing.T
	bin, root string
	log       string
	dir       string
	// globals are global flags given to every verb after --root, --log
	// and --log-format.
	globals []string
}

func newOCIRuntime(t *testing.T) *ociRuntime {
	t.Helper()
	tu.RequireRoot(t)
	subreaperOnce.Do(func() {
		// Like the shim: the container's process, orphaned when create
		// exits, is reparented to us and we wait for it.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
		}
	})
	dir := t.TempDir()
	r := &ociRuntime{t: t, bin: tu.Binary(t), root: filepath.Join(dir, "root"), log: filepath.Join(dir, "log.json"), dir: dir}
	t.Cleanup(func() {
		// Leave nothing running, whatever the test did.
		ents, _ := os.ReadDir(r.root)
		for _, e := range ents {
			r.run(nil, "delete", "--force", e.Name())
		}
	})
	return r
}

// run calls a verb with the given stdio (nil: /dev/null and a file) and
// returns its stdout and exit code.
func (r *ociRuntime) run(stdio *[3]*os.File, args ...string) (string, int) {
	r.t.Helper()
	argv := append([]string{"--root", r.root, "--log", r.log, "--log-format", "json"}, r.globals...)
	cmd := exec.Command(r.bin, append(argv, args...)...)
	out, err := os.CreateTemp(r.dir, "stdout-")
	if err != nil {
		r.t.Fatal(err)
	}
	defer out.Close()
	if stdio != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio[0], stdio[1], stdio[2]
	} else {
		cmd.Stdout, cmd.Stderr = out, out
	}
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		r.t.Fatalf("%v timed out", args)
	}
	b, _ := os.ReadFile(out.Name())
	return string(b), cmd.ProcessState.ExitCode()
}

// must calls a verb that must succeed.
func (r *ociRuntime) must(args ...string) string {
	r.t.Helper()
	out, code := r.run(nil, args...)
	if code != 0 {
		r.t.Fatalf("%v: exit %d: %s\nlog: %s", args, code, out, r.lastError())
	}
	return out
}

// lastError is the msg of the log's last error line, as the shim reads it.
func (r *ociRuntime) lastError() string {
	f, err := os.Open(r.log)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last string
	s := bufio.NewScanner(f)
	for s.Scan() {
		var e struct{ Level, Msg string }
		if json.Unmarshal(s.Bytes(), &e) == nil && e.Level == "error" {
			last = e.Msg
		}
	}
	return last
}

func (r *ociRuntime) state(id string) specs.State {
	r.t.Helper()
	var st specs.State
	if err := json.Unmarshal([]byte(r.must("state", id)), &st); err != nil {
		r.t.Fatalf("state %s: %v", id, err)
	}
	return st
}

// container is one created container: its output file and its pid.
type container struct {
	id     string
	pid    int
	output string
}

// create creates id from bundle with the container's stdout and stderr in
// a file, and returns it with the pid from --pid-file.
func (r *ociRuntime) create(id, bundle string) (*container, string, int) {
	r.t.Helper()
	out := filepath.Join(r.dir, id+".out")
	f, err := os.Create(out)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	pidFile := filepath.Join(r.dir, id+".pid")
	msg, code := r.run(&[3]*os.File{null, f, f}, "create", "--bundle", bundle, "--pid-file", pidFile, id)
	if code != 0 {
		return nil, msg + r.lastError(), code
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		r.t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		r.t.Fatalf("pid file %q: %v", b, err)
	}
	return &container{id: id, pid: pid, output: out}, "", 0
}

// wait waits for the container's process (reparented to this subreaper)
// and returns its exit code as the shim computes it.
func (c *container) wait(t *testing.T) int {
	t.Helper()
	done := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(c.pid, &ws, 0, nil)
			if err != unix.EINTR {
				break
			}
		}
		done <- ws
	}()
	select {
	case ws := <-done:
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	case <-time.After(timeout):
		unix.Kill(c.pid, unix.SIGKILL)
		t.Fatalf("container %s did not exit", c.id)
		return 0
	}
}

func (c *container) out(t *testing.T) string {
	b, err := os.ReadFile(c.output)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// busyboxBundle makes a bundle whose rootfs holds static busybox, with
// config.json from the runtime's own `spec`, changed by edit.
func busyboxBundle(t *testing.T, r *ociRuntime, edit func(*specs.Spec)) string {
	t.Helper()
	dir, err := os.MkdirTemp(r.dir, "bundle-")
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "tmp", "etc", "proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(tu.Busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"sh", "echo", "cat", "ls", "sleep", "id", "hostname", "pwd", "env", "touch", "ulimit"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", n))
	}
	r.must("spec", "--bundle", dir)
	var s specs.Spec
	cfg := filepath.Join(dir, "config.json")
	b, err = os.ReadFile(cfg)
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		t.Fatalf("spec's config.json: %v", err)
	}
	s.Process.Terminal = false
	s.Root.Readonly = false
	if edit != nil {
		edit(&s)
	}
	b, _ = json.Marshal(&s)
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func sh(script string) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c", script} }
}

// TestOCIConfig runs containers whose config.json sets one thing each and
// checks what the application sees, or that create refuses the field.
func TestOCIConfig(t *testing.T) {
	r := newOCIRuntime(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "f"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	then := func(fs ...func(*specs.Spec)) func(*specs.Spec) {
		return func(s *specs.Spec) {
			for _, f := range fs {
				f(s)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		edit     func(*specs.Spec)
		wantOut  string
		wantExit int
		// wantErr is part of create's error (the field it names).
		wantErr string
		// after, when set, checks the host once the container is gone.
		after func(t *testing.T)
	}{
		{name: "exit code and stdout", edit: sh("echo hello; exit 3"), wantOut: "hello\n", wantExit: 3},
		{name: "env cwd hostname", edit: then(sh(`echo "$FOO" $(pwd) $(hostname)`), func(s *specs.Spec) {
			s.Process.Env = append(s.Process.Env, "FOO=bar")
			s.Process.Cwd = "/tmp"
			s.Hostname = "box"
		}), wantOut: "bar /tmp box\n"},
		{name: "user", edit: then(sh(`id -u; id -g; id -G`), func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{5, 7}}
		}), wantOut: "1000\n1001\n1001 5 7\n"},
		{name: "rlimit", edit: then(sh(`ulimit -n`), func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 77, Hard: 88}}
		}), wantOut: "77\n"},
		{name: "bind mount read-only", edit: then(sh(`cat /data/f; touch /data/g 2>/dev/null || echo refused`), func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: hostDir, Options: []string{"rbind", "ro"}})
		}), wantOut: "from the host\nrefused\n"},
		{name: "bind mount writable", edit: then(sh(`echo new > /data/w && cat /data/w`), func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: hostDir, Options: []string{"rbind"}})
		}), wantOut: "new\n", after: func(t *testing.T) {
			if got, err := os.ReadFile(filepath.Join(hostDir, "w")); err != nil || string(got) != "new\n" {
				t.Errorf("the writable bind mount's file on the host: %q, %v", got, err)
			}
		}},
		{name: "tmpfs", edit: then(sh(`echo x > /scratch/y && ls /scratch`), func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}})
		}), wantOut: "y\n"},
		{name: "read-only root", edit: then(sh(`touch /tmp/z 2>/dev/null || echo refused`), func(s *specs.Spec) { s.Root.Readonly = true }), wantOut: "refused\n"},
		{name: "missing command", edit: func(s *specs.Spec) { s.Process.Args = []string{"/no/such"} }, wantExit: 127},
		{name: "container-namespace hooks refused", edit: func(s *specs.Spec) { s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}} }, wantErr: "config.json hooks.startContainer"},
		{name: "unknown mount type refused", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/n", Type: "nfs", Source: "h:/x"})
		}, wantErr: "mounts[2].type"},
		{name: "unknown mount option refused", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/n", Type: "tmpfs", Options: []string{"huge=always"}})
		}, wantErr: "mounts[2].options[0]"},
		{name: "nested device refused", edit: func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200}}
		}, wantErr: "linux.devices[0].path"},
		{name: "user namespace refused", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, wantErr: "linux.namespaces[5]"},
		{name: "plaintext remote sentry refused", edit: func(s *specs.Spec) {
			s.Annotations = map[string]string{"dev.runsc-decoupled.server": "192.0.2.1:7000"}
		}, wantErr: "annotation dev.runsc-decoupled.server"},
		{name: "bad rlimit refused", edit: func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}} }, wantErr: "process.rlimits[0].type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			bundle := busyboxBundle(t, r, tc.edit)
			c, msg, code := r.create(id, bundle)
			if tc.wantErr != "" {
				if code == 0 || !strings.Contains(msg, tc.wantErr) {
					t.Fatalf("create: exit %d, error %q; want a failure naming %q", code, msg, tc.wantErr)
				}
				if _, err := os.Stat(filepath.Join(r.root, id)); err == nil {
					t.Errorf("a refused create left its state directory")
				}
				return
			}
			if code != 0 {
				t.Fatalf("create: exit %d: %s", code, msg)
			}
			if st := r.state(id); st.Status != specs.StateCreated || st.Pid != c.pid {
				t.Errorf("state after create: %+v, want created with pid %d", st, c.pid)
			}
			r.must("start", id)
			exit := c.wait(t)
			if got := c.out(t); exit != tc.wantExit || (tc.wantOut != "" && got != tc.wantOut) {
				t.Errorf("exit %d, output %q; want %d, %q", exit, got, tc.wantExit, tc.wantOut)
			}
			if st := r.state(id); st.Status != specs.StateStopped {
				t.Errorf("state after exit: %s, want stopped", st.Status)
			}
			r.must("delete", id)
			if _, err := os.Stat(filepath.Join(r.root, id)); err == nil {
				t.Errorf("delete left the state directory")
			}
			if tc.after != nil {
				tc.after(t)
			}
		})
	}
}

// TestOCILifecycle checks kill, exec, ps, list, delete and the state the
// shim sees at each step.
func TestOCILifecycle(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, sh(`trap 'echo got USR1' USR1; echo ready; while true; do sleep 0.1; done`))

	t.Run("kill", func(t *testing.T) {
		c, msg, code := r.create("k", bundle)
		if code != 0 {
			t.Fatalf("create: %s", msg)
		}
		r.must("start", "k")
		if st := r.state("k"); st.Status != specs.StateRunning {
			t.Fatalf("state after start: %s", st.Status)
		}
		waitFor(t, func() bool { return strings.Contains(c.out(t), "ready") })
		// init has no TERM handler: as in a PID namespace, it survives.
		r.must("kill", "k", "TERM")
		r.must("kill", "k", "SIGUSR1")
		waitFor(t, func() bool { return strings.Contains(c.out(t), "got USR1") })
		if st := r.state("k"); st.Status != specs.StateRunning {
			t.Fatalf("state after TERM: %s", st.Status)
		}
		var pids []int
		if err := json.Unmarshal([]byte(r.must("ps", "--format", "json", "k")), &pids); err != nil || len(pids) == 0 || pids[0] != c.pid {
			t.Errorf("ps: %v %v, want the container's pid %d first", pids, err, c.pid)
		}
		if out := r.must("list", "--quiet"); out != "k\n" {
			t.Errorf("list -q: %q", out)
		}
		if _, code := r.run(nil, "delete", "k"); code == 0 {
			t.Errorf("delete of a running container succeeded without --force")
		}
		r.must("kill", "--all", "k", "KILL")
		if exit := c.wait(t); exit != 128+9 {
			t.Errorf("exit %d after KILL, want 137", exit)
		}
		if _, code := r.run(nil, "kill", "k", "KILL"); code == 0 || !strings.Contains(r.lastError(), "not running") {
			t.Errorf("kill of a stopped container: exit %d, %q", code, r.lastError())
		}
		r.must("delete", "k")
	})

	t.Run("exec", func(t *testing.T) {
		c, msg, code := r.create("e", bundle)
		if code != 0 {
			t.Fatalf("create: %s", msg)
		}
		r.must("start", "e")
		proc := filepath.Join(r.dir, "process.json")
		b, _ := json.Marshal(specs.Process{Args: []string{"sh", "-c", "echo exec $X; pwd; exit 4"}, Env: []string{"X=y", "PATH=/bin"}, Cwd: "/tmp"})
		os.WriteFile(proc, b, 0o644)
		outFile := filepath.Join(r.dir, "exec.out")
		f, _ := os.Create(outFile)
		null, _ := os.Open(os.DevNull)
		pidFile := filepath.Join(r.dir, "exec.pid")
		// As the shim: --detach, then wait for the pid in --pid-file.
		_, code = r.run(&[3]*os.File{null, f, f}, "exec", "--process", proc, "--detach", "--pid-file", pidFile, "e")
		f.Close()
		null.Close()
		if code != 0 {
			t.Fatalf("exec: exit %d: %s", code, r.lastError())
		}
		pb, _ := os.ReadFile(pidFile)
		pid, _ := strconv.Atoi(string(pb))
		ec := &container{id: "exec", pid: pid, output: outFile}
		if exit := ec.wait(t); exit != 4 || ec.out(t) != "exec y\n/tmp\n" {
			t.Errorf("exec: exit %d output %q", exit, ec.out(t))
		}
		// exec with the command on the command line, not detached.
		if out, code := r.run(nil, "exec", "e", "sh", "-c", "echo $((6*7))"); code != 0 || out != "42\n" {
			t.Errorf("exec ARGS: exit %d output %q", code, out)
		}
		r.must("delete", "--force", "e")
		if exit := c.wait(t); exit != 128+9 {
			t.Errorf("exit %d after delete --force, want 137", exit)
		}
		if _, code := r.run(nil, "state", "e"); code == 0 {
			t.Errorf("state of a deleted container succeeded")
		}
	})

	t.Run("delete created", func(t *testing.T) {
		c, msg, code := r.create("d", bundle)
		if code != 0 {
			t.Fatalf("create: %s", msg)
		}
		r.must("delete", "d")
		c.wait(t)
		if out := c.out(t); out != "" {
			t.Errorf("a container deleted before start ran: %q", out)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"state", "nope"},
			{"start", "nope"},
			{"kill", "nope"},
			{"create", "--bundle", bundle, "../x"},
			{"create", "--bundle", filepath.Join(r.dir, "no-bundle"), "x"},
			{"pause", "x"},
			{"events", "x"},
			{"kill", "x", "NOSUCHSIG"},
		} {
			if _, code := r.run(nil, args...); code != 1 || r.lastError() == "" {
				t.Errorf("%v: exit %d, log %q; want 1 and an error in the log", args, code, r.lastError())
			}
		}
	})
}

// waitFor polls cond for up to the test timeout.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("condition not met in %v", timeout)
}

// TestOCIRunAndVersion covers run (create+start+wait) and the
// informational verbs.
func TestOCIRunAndVersion(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, sh("echo ran; exit 9"))
	out, code := r.run(nil, "run", "--bundle", bundle, "r")
	if code != 9 || out != "ran\n" {
		t.Errorf("run: exit %d output %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(r.root, "r")); err == nil {
		t.Errorf("run left its state directory")
	}
	if out := r.must("--version"); !strings.Contains(out, "spec: "+specs.Version) {
		t.Errorf("--version: %q", out)
	}
	var f struct {
		OCIVersionMax string `json:"ociVersionMax"`
	}
	if err := json.Unmarshal([]byte(r.must("features")), &f); err != nil || f.OCIVersionMax != specs.Version {
		t.Errorf("features: %v %+v", err, f)
	}
}

// TestOCIRemoteSentryKill runs a container whose kernel state lives in
// remote sentries named by the annotation, kills -9 the one it uses
// mid-run, and checks that the container finishes as if nothing happened
// (on the second sentry, after the grace period).
func TestOCIRemoteSentryKill(t *testing.T) {
	r := newOCIRuntime(t)
	const script = `i=0
while [ $i -lt 600 ]; do echo "line $i" >> a; echo "other $i" >> b; i=$((i+1)); done
wc -l a b
echo done`
	want := tu.Run(t, timeout, t.TempDir(), "", tu.Busybox, "sh", "-c", script)
	sockDir, err := os.MkdirTemp("", "rd-oci-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	var bundle string
	var a, b *tu.Daemon
	bundle = busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		s.Process.Cwd = "/tmp"
	})
	rootfs := filepath.Join(bundle, "rootfs")
	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", rootfs)
	a = tu.StartDaemon(t, sockDir, "a", "server", "--gofer", g.Target)
	b = tu.StartDaemon(t, sockDir, "b", "server", "--gofer", g.Target)
	cfg := filepath.Join(bundle, "config.json")
	var s specs.Spec
	raw, _ := os.ReadFile(cfg)
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	s.Annotations = map[string]string{"dev.runsc-decoupled.server": a.Target + "," + b.Target}
	raw, _ = json.Marshal(&s)
	os.WriteFile(cfg, raw, 0o644)

	c, msg, code := r.create("remote", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", "remote")
	waitFor(t, func() bool {
		data, _ := os.ReadFile(filepath.Join(rootfs, "tmp", "a"))
		return strings.Count(string(data), "\n") >= 150
	})
	a.Kill()
	if data, _ := os.ReadFile(filepath.Join(rootfs, "tmp", "b")); strings.Count(string(data), "\n") >= 600 {
		t.Fatalf("the job finished before its sentry was killed")
	}
	if exit := c.wait(t); exit != want.ExitCode || c.out(t) != want.Stdout {
		t.Errorf("after kill -9 of its sentry: exit %d output %q; want %d %q", exit, c.out(t), want.ExitCode, want.Stdout)
	}
	for _, f := range []string{"a", "b"} {
		data, _ := os.ReadFile(filepath.Join(rootfs, "tmp", f))
		if n := strings.Count(string(data), "\n"); n != 600 {
			t.Errorf("%s has %d lines, want 600", f, n)
		}
	}
	r.must("delete", "remote")
}

// TestOCITerminal creates a terminal container as the shim does: a
// console socket receives the pty master, and the application sees a
// terminal of the configured size on its stdio.
func TestOCITerminal(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 111}
		s.Process.Args = []string{"sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo is-a-tty; busybox stty size; exit 5"}
	})
	sock := filepath.Join(r.dir, "console.sock")
	masterCh := consoleMasters(t, sock)
	pidFile := filepath.Join(r.dir, "tty.pid")
	if out, code := r.run(nil, "create", "--bundle", bundle, "--pid-file", pidFile, "--console-socket", sock, "tty"); code != 0 {
		t.Fatalf("create: exit %d %s %s", code, out, r.lastError())
	}
	master := <-masterCh
	if master == nil {
		t.Fatal("no pty master on the console socket")
	}
	defer master.Close()
	pb, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(pb))
	var output strings.Builder
	readDone := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			output.Write(buf[:n])
			if err != nil {
				close(readDone)
				return
			}
		}
	}()
	r.must("start", "tty")
	c := &container{id: "tty", pid: pid}
	if exit := c.wait(t); exit != 5 {
		t.Errorf("exit %d, want 5", exit)
	}
	// The slave closed with the container: the master reads EIO.
	select {
	case <-readDone:
	case <-time.After(10 * time.Second):
		t.Fatalf("pty master did not reach EOF; got %q", output.String())
	}
	if got := strings.ReplaceAll(output.String(), "\r\n", "\n"); got != "is-a-tty\n33 111\n" {
		t.Errorf("terminal output %q, want %q", got, "is-a-tty\n33 111\n")
	}
	// A terminal container without a console socket is refused, naming
	// the field.
	if _, code := r.run(nil, "create", "--bundle", bundle, "tty2"); code == 0 || !strings.Contains(r.lastError(), "process.terminal") {
		t.Errorf("terminal without --console-socket: exit %d, %q", code, r.lastError())
	}
	r.must("delete", "tty")
}
