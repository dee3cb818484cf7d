package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// containerd runs a private containerd (its own root, state and socket in
// a temp dir) and drives containers through ctr and containerd's runc.v2
// shim with --runc-binary set to runsc-decoupled, as a user of Debian's
// containerd would.
type containerd struct {
	t        *testing.T
	dir      string
	sock     string
	ns       string
	bin      string
	image    string
	runcRoot string
}

func startContainerd(t *testing.T) *containerd {
	t.Helper()
	tu.RequireRoot(t)
	for _, b := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not installed: run test/setup.sh (%v)", b, err)
		}
	}
	// Socket paths must stay short (108 bytes): a short temp dir.
	dir, err := os.MkdirTemp("", "rd-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &containerd{t: t, dir: dir, sock: filepath.Join(dir, "c.sock"), ns: fmt.Sprintf("rdtest%d", os.Getpid()), bin: tu.Binary(t)}
	// The shim keeps runc's state under /run/containerd/runc/<namespace>.
	c.runcRoot = filepath.Join("/run/containerd/runc", c.ns)
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc", filepath.Join(dir, "d.sock"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command("containerd", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Containers first (their shims outlive containerd), then it.
		out, _ := c.ctrErr("task", "ls", "-q")
		for _, id := range strings.Fields(out) {
			c.ctrErr("task", "kill", "-s", "KILL", id)
		}
		time.Sleep(200 * time.Millisecond)
		out, _ = c.ctrErr("container", "ls", "-q")
		for _, id := range strings.Fields(out) {
			c.ctrErr("task", "delete", "-f", id)
			c.ctrErr("container", "delete", id)
		}
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(c.runcRoot)
		if t.Failed() {
			t.Logf("containerd log:\n%s", log.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := c.ctrErr("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not start:\n%s", log.String())
		}
	}
	c.image = c.importBusybox()
	return c
}

// ctrErr runs ctr against this containerd and returns its combined output.
func (c *containerd) ctrErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.sock, "--namespace", c.ns}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ctr runs ctr and returns stdout, stderr and its exit code.
func (c *containerd) ctr(args ...string) (string, string, int) {
	c.t.Helper()
	r := tu.Run(c.t, timeout, "", "", append([]string{"ctr", "--address", c.sock, "--namespace", c.ns}, args...)...)
	return r.Stdout, r.Stderr, r.ExitCode
}

// runArgs are ctr run's flags for a container of the test image on our
// runtime.
func (c *containerd) runArgs(extra ...string) []string {
	return append([]string{"run", "--snapshotter", "native", "--runtime", "io.containerd.runc.v2", "--runc-binary", c.bin}, extra...)
}

// importBusybox builds a one-layer OCI image of static busybox and
// imports it; it returns the image's name.
func (c *containerd) importBusybox() string {
	c.t.Helper()
	const name = "docker.io/library/rd-busybox:latest"
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	bb, err := os.ReadFile(tu.Busybox)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, d := range []string{"bin/", "etc/", "tmp/", "proc/", "dev/", "sys/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: mode})
	}
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, n := range []string{"sh", "echo", "cat", "ls", "sleep", "pwd", "env", "id", "touch", "hostname"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + n, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	tw.Close()

	blobs := map[string][]byte{}
	add := func(b []byte) (string, int) {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		blobs[hex.EncodeToString(sum[:])] = b
		return d, len(b)
	}
	layerDigest, layerSize := add(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": []string{"sh"}, "WorkingDir": "/"},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	configDigest, configSize := add(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": configSize},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layerSize}},
	})
	manifestDigest, manifestSize := add(manifest)
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType":   "application/vnd.oci.image.manifest.v1+json",
			"digest":      manifestDigest,
			"size":        manifestSize,
			"platform":    map[string]string{"architecture": "amd64", "os": "linux"},
			"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"},
		}},
	})
	var image bytes.Buffer
	iw := tar.NewWriter(&image)
	file := func(name string, b []byte) {
		iw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		iw.Write(b)
	}
	file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	file("index.json", index)
	for d, b := range blobs {
		file("blobs/sha256/"+d, b)
	}
	iw.Close()
	path := filepath.Join(c.dir, "image.tar")
	if err := os.WriteFile(path, image.Bytes(), 0o644); err != nil {
		c.t.Fatal(err)
	}
	if out, err := c.ctrErr("image", "import", "--snapshotter", "native", path); err != nil {
		c.t.Fatalf("ctr image import: %v\n%s", err, out)
	}
	return name
}

// TestContainerd runs containers through containerd's runc.v2 shim with
// runsc-decoupled as its runc binary.
func TestContainerd(t *testing.T) {
	c := startContainerd(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "f"), []byte("host file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		flags    []string
		script   string
		wantOut  string
		wantExit int
	}{
		{name: "exit code and stdout", script: "echo hello; exit 7", wantOut: "hello\n", wantExit: 7},
		{name: "env and cwd", flags: []string{"--env", "FOO=bar", "--cwd", "/tmp"}, script: `echo "$FOO" $(pwd)`, wantOut: "bar /tmp\n"},
		{name: "bind mount", flags: []string{"--mount", "type=bind,src=" + hostDir + ",dst=/data,options=rbind:ro"}, script: "cat /data/f; touch /data/x 2>/dev/null || echo read-only", wantOut: "host file\nread-only\n"},
		{name: "pid 1 and stderr", script: "echo $$; echo to-stderr >&2", wantOut: "1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "c-" + strings.ReplaceAll(tc.name, " ", "-")
			args := c.runArgs(append(append([]string{"--rm"}, tc.flags...), c.image, id, "sh", "-c", tc.script)...)
			out, errOut, code := c.ctr(args...)
			if code != tc.wantExit || out != tc.wantOut {
				t.Errorf("ctr run: exit %d, stdout %q (stderr %q); want %d, %q", code, out, errOut, tc.wantExit, tc.wantOut)
			}
		})
	}

	t.Run("exec kill delete", func(t *testing.T) {
		const id = "c-long"
		if out, errOut, code := c.ctr(c.runArgs("-d", c.image, id, "sh", "-c", "echo started; sleep 1000")...); code != 0 {
			t.Fatalf("ctr run -d: exit %d: %s %s", code, out, errOut)
		}
		waitFor(t, func() bool {
			out, _, _ := c.ctr("task", "ls")
			return strings.Contains(out, id) && strings.Contains(out, "RUNNING")
		})
		// The shim really runs our runtime (runc keeps no control socket).
		if _, err := os.Stat(filepath.Join(c.runcRoot, id, "ctl.sock")); err != nil {
			t.Fatalf("not run by runsc-decoupled: %v", err)
		}
		out, errOut, code := c.ctr("task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo exec $((2+3)); exit 6")
		if code != 6 || out != "exec 5\n" {
			t.Errorf("ctr task exec: exit %d stdout %q stderr %q", code, out, errOut)
		}
		// A detached exec is one of the task's processes: ps names it (the
		// shim matches our ps's pids with the exec's pid file), and kill
		// --all ends it with the container.
		if out, errOut, code := c.ctr("task", "exec", "--detach", "--exec-id", "e2", id, "sleep", "1000"); code != 0 {
			t.Fatalf("ctr task exec --detach: exit %d: %s %s", code, out, errOut)
		}
		if out, _, code := c.ctr("task", "ps", id); code != 0 || !strings.Contains(out, "PID") || !strings.Contains(out, "e2") {
			t.Errorf("ctr task ps: exit %d %q, want the exec e2 listed", code, out)
		}
		if _, errOut, code := c.ctr("task", "kill", "--all", "-s", "KILL", id); code != 0 {
			t.Fatalf("ctr task kill --all: exit %d %s", code, errOut)
		}
		waitFor(t, func() bool {
			out, _, _ := c.ctr("task", "ls")
			return strings.Contains(out, "STOPPED")
		})
		if _, errOut, code := c.ctr("task", "delete", id); code != 0 {
			t.Errorf("ctr task delete: exit %d %s", code, errOut)
		}
		if _, errOut, code := c.ctr("container", "delete", id); code != 0 {
			t.Errorf("ctr container delete: exit %d %s", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(c.runcRoot, id)); err == nil {
			t.Errorf("the runtime's state of %s is left after delete", id)
		}
	})

	t.Run("tty", func(t *testing.T) {
		// ctr -t wants a terminal on its stdin: give it a pty's slave.
		master, slave := openPty(t)
		defer master.Close()
		cmd := exec.Command("ctr", append([]string{"--address", c.sock, "--namespace", c.ns},
			c.runArgs("-t", "--rm", c.image, "c-tty", "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo is-a-tty; busybox stty size; exit 3")...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120})
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		slave.Close()
		var out strings.Builder
		readDone := make(chan struct{})
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := master.Read(buf)
				out.Write(buf[:n])
				if err != nil {
					close(readDone)
					return
				}
			}
		}()
		waitDone := make(chan error, 1)
		go func() { waitDone <- cmd.Wait() }()
		select {
		case <-waitDone:
		case <-time.After(timeout):
			cmd.Process.Kill()
			t.Fatalf("ctr run -t did not exit; output %q", out.String())
		}
		select {
		case <-readDone:
		case <-time.After(5 * time.Second):
		}
		// Two terminals (the container's, ctr's) each turn \n into \r\n.
		got := strings.ReplaceAll(out.String(), "\r", "")
		if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(got, "is-a-tty\n40 120\n") {
			t.Errorf("ctr run -t: exit %d output %q; want 3 and a 40x120 terminal", code, got)
		}
	})

	t.Run("remote sentry killed", func(t *testing.T) {
		// The annotation names two remote sentries over one gofer, whose
		// root is a busybox tree of the test's: the container's files.
		root := t.TempDir()
		for _, d := range []string{"bin", "tmp"} {
			os.MkdirAll(filepath.Join(root, d), 0o755)
		}
		bb, _ := os.ReadFile(tu.Busybox)
		os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755)
		os.Symlink("busybox", filepath.Join(root, "bin", "sh"))
		sockDir, err := os.MkdirTemp("", "rd-ctr-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(sockDir)
		g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", root)
		a := tu.StartDaemon(t, sockDir, "a", "server", "--gofer", g.Target)
		b := tu.StartDaemon(t, sockDir, "b", "server", "--gofer", g.Target)
		const script = "cd /tmp; i=0; while [ $i -lt 600 ]; do echo line $i >> a; i=$((i+1)); done; busybox wc -l a"
		done := make(chan [3]string, 1)
		go func() {
			out, errOut, code := c.ctr(c.runArgs("--rm", "--annotation", "dev.runsc-decoupled.server="+a.Target+","+b.Target, c.image, "c-remote", "sh", "-c", script)...)
			done <- [3]string{out, errOut, fmt.Sprint(code)}
		}()
		var res [3]string
		finished := false
		waitFor(t, func() bool {
			select {
			case res = <-done:
				finished = true
				return true
			default:
			}
			data, _ := os.ReadFile(filepath.Join(root, "tmp", "a"))
			return strings.Count(string(data), "\n") >= 150
		})
		if finished {
			t.Fatalf("ctr run ended before the kill: exit %s stdout %q stderr %q", res[2], res[0], res[1])
		}
		a.Cmd.Process.Kill()
		if data, _ := os.ReadFile(filepath.Join(root, "tmp", "a")); strings.Count(string(data), "\n") >= 600 {
			t.Fatalf("the job finished before its sentry was killed")
		}
		select {
		case res = <-done:
		case <-time.After(2 * timeout):
			t.Fatal("ctr run did not finish")
		}
		if res[2] != "0" || strings.TrimSpace(res[0]) != "600 a" {
			t.Errorf("after kill -9 of its sentry: exit %s stdout %q stderr %q; want 0 and 600 lines", res[2], res[0], res[1])
		}
	})
}

// openPty returns a new pty's master and slave.
func openPty(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return master, slave
}
