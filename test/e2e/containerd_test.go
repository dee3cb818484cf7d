package e2e

import (
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

// containerd is testutil's private containerd, driven by one test.
type containerd struct {
	*tu.Containerd
	t *testing.T
}

func startContainerd(t *testing.T) *containerd {
	t.Helper()
	return &containerd{Containerd: tu.StartContainerd(t), t: t}
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
			args := c.RunArgs(append(append([]string{"--rm"}, tc.flags...), c.Image, id, "sh", "-c", tc.script)...)
			out, errOut, code := c.Ctr(args...)
			if code != tc.wantExit || out != tc.wantOut {
				t.Errorf("ctr run: exit %d, stdout %q (stderr %q); want %d, %q", code, out, errOut, tc.wantExit, tc.wantOut)
			}
		})
	}

	t.Run("exec kill delete", func(t *testing.T) {
		const id = "c-long"
		if out, errOut, code := c.Ctr(c.RunArgs("-d", c.Image, id, "sh", "-c", "echo started; sleep 1000")...); code != 0 {
			t.Fatalf("ctr run -d: exit %d: %s %s", code, out, errOut)
		}
		waitFor(t, func() bool {
			out, _, _ := c.Ctr("task", "ls")
			return strings.Contains(out, id) && strings.Contains(out, "RUNNING")
		})
		// The shim really runs our runtime (runc keeps no control socket).
		if _, err := os.Stat(filepath.Join(c.RuncRoot, id, "ctl.sock")); err != nil {
			t.Fatalf("not run by runsc-decoupled: %v", err)
		}
		out, errOut, code := c.Ctr("task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo exec $((2+3)); exit 6")
		if code != 6 || out != "exec 5\n" {
			t.Errorf("ctr task exec: exit %d stdout %q stderr %q", code, out, errOut)
		}
		// A detached exec is one of the task's processes: ps names it (the
		// shim matches our ps's pids with the exec's pid file), and kill
		// --all ends it with the container.
		if out, errOut, code := c.Ctr("task", "exec", "--detach", "--exec-id", "e2", id, "sleep", "1000"); code != 0 {
			t.Fatalf("ctr task exec --detach: exit %d: %s %s", code, out, errOut)
		}
		if out, _, code := c.Ctr("task", "ps", id); code != 0 || !strings.Contains(out, "PID") || !strings.Contains(out, "e2") {
			t.Errorf("ctr task ps: exit %d %q, want the exec e2 listed", code, out)
		}
		// pause and resume go through the shim to the runtime's freezer.
		if _, errOut, code := c.Ctr("task", "pause", id); code != 0 {
			t.Errorf("ctr task pause: exit %d %s", code, errOut)
		}
		if out, _, _ := c.Ctr("task", "ls"); !strings.Contains(out, "PAUSED") {
			t.Errorf("ctr task ls after pause: %q", out)
		}
		if _, errOut, code := c.Ctr("task", "resume", id); code != 0 {
			t.Errorf("ctr task resume: exit %d %s", code, errOut)
		}
		if out, _, _ := c.Ctr("task", "ls"); !strings.Contains(out, "RUNNING") {
			t.Errorf("ctr task ls after resume: %q", out)
		}
		if _, errOut, code := c.Ctr("task", "kill", "--all", "-s", "KILL", id); code != 0 {
			t.Fatalf("ctr task kill --all: exit %d %s", code, errOut)
		}
		waitFor(t, func() bool {
			out, _, _ := c.Ctr("task", "ls")
			return strings.Contains(out, "STOPPED")
		})
		if _, errOut, code := c.Ctr("task", "delete", id); code != 0 {
			t.Errorf("ctr task delete: exit %d %s", code, errOut)
		}
		if _, errOut, code := c.Ctr("container", "delete", id); code != 0 {
			t.Errorf("ctr container delete: exit %d %s", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(c.RuncRoot, id)); err == nil {
			t.Errorf("the runtime's state of %s is left after delete", id)
		}
	})

	t.Run("tty", func(t *testing.T) {
		// ctr -t wants a terminal on its stdin: give it a pty's slave.
		master, slave := openPty(t)
		defer master.Close()
		cmd := exec.Command("ctr", append([]string{"--address", c.Sock, "--namespace", c.NS},
			// ctr sizes the console after start returns, which is once
			// the process has exec'd (as with runc): the size reaches the
			// application a moment later, so it is polled for.
			c.RunArgs("-t", "--rm", c.Image, "c-tty", "sh", "-c", `[ -t 0 ] && [ -t 1 ] && echo is-a-tty; i=0; while [ $i -lt 100 ]; do s=$(busybox stty size 2>&1); case "$s" in [1-9]*) break;; esac; sleep 0.1; i=$((i+1)); done; echo "$s"; exit 3`)...)...)
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
			out, errOut, code := c.Ctr(c.RunArgs("--rm", "--annotation", "dev.runsc-decoupled.server="+a.Target+","+b.Target, c.Image, "c-remote", "sh", "-c", script)...)
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
		a.Kill()
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
