package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/test/pki"
	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// confinedNamespaces are the namespaces a daemon must not share with the
// host (every daemon here is on Unix sockets only, so the network one
// too).
var confinedNamespaces = []string{"mnt", "net", "ipc", "uts"}

// checkConfined checks that pid runs in namespaces of its own, under its
// seccomp filter, and sees exactly the top-level entries want under /.
func checkConfined(t *testing.T, name string, pid int, want []string) {
	t.Helper()
	// A daemon listens before it confines itself (it binds its socket
	// first): wait for the filter, its last step.
	for deadline := time.Now().Add(10 * time.Second); !filtered(pid) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	for _, ns := range confinedNamespaces {
		host, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		its, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if err != nil {
			t.Fatal(err)
		}
		if its == host {
			t.Errorf("%s shares the host's %s namespace (%s)", name, ns, its)
		}
	}
	root := fmt.Sprintf("/proc/%d/root", pid)
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s sees / = %v, want %v", name, got, want)
	}
	// A host file it has no business with.
	if _, err := os.Stat(filepath.Join(root, "etc/passwd")); !os.IsNotExist(err) {
		t.Errorf("%s sees the host's /etc/passwd (err %v)", name, err)
	}
	if !filtered(pid) {
		t.Errorf("%s is not under a seccomp filter", name)
	}
}

// filtered says whether pid runs under a seccomp filter.
func filtered(pid int) bool {
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	return strings.Contains(string(st), "\nSeccomp:\t2\n")
}

// topDir is the first component of an absolute path.
func topDir(p string) string {
	return strings.SplitN(strings.TrimPrefix(p, "/"), "/", 2)[0]
}

// TestDaemonsConfined: standalone daemons run in their own mount, net,
// IPC and UTS namespaces; the gofer sees only the tree it serves and
// /proc, the server only its gofer's socket directory; and an
// application still runs through them (a file it writes lands in the
// served tree).
func TestDaemonsConfined(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", rootfs)
	s := tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
	checkConfined(t, "gofer", g.Cmd.Process.Pid, []string{"proc", topDir(rootfs)})
	checkConfined(t, "server", s.Cmd.Process.Pid, []string{topDir(dir)})
	// The server sees its gofer's socket, read-only, and nothing of the
	// served tree's contents beyond that directory.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root%s/gofer.sock", s.Cmd.Process.Pid, dir)); err != nil {
		t.Errorf("the server cannot see its gofer's socket: %v", err)
	}
	got := tu.Run(t, timeout, dir, "", tu.Binary(t), "do", "--server", s.Target, "--", "/bin/busybox", "sh", "-c", "echo confined > /tmp/out && cat /tmp/out")
	if got.ExitCode != 0 || strings.TrimSpace(got.Stdout) != "confined" {
		t.Fatalf("do through confined daemons: exit %d, stdout %q, stderr %s", got.ExitCode, got.Stdout, got.Stderr)
	}
	if b, err := os.ReadFile(filepath.Join(rootfs, "tmp/out")); err != nil || string(b) != "confined\n" {
		t.Fatalf("the served tree has %q, %v", b, err)
	}
}

// TestEmbeddedDaemonsConfined: do's own gofer and server are confined the
// same way (the gofer sees its overlay of --root and /proc).
func TestEmbeddedDaemonsConfined(t *testing.T) {
	tu.RequireRoot(t)
	cmd := exec.Command(tu.Binary(t), "do", "--", "/usr/bin/busybox", "sleep", "30")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	daemons := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for len(daemons) < 2 && time.Now().Before(deadline) {
		for _, pid := range tu.ChildPIDs(cmd.Process.Pid) {
			if verb := tu.DaemonVerb(pid); verb != "" {
				daemons[verb] = pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(daemons) < 2 {
		t.Fatalf("found the embedded daemons %v; do's stderr: %s", daemons, stderr.String())
	}
	// The server sees only the private socket directory, under $TMPDIR.
	checkConfined(t, "server", daemons["server"], []string{topDir(os.TempDir())})
	checkConfined(t, "gofer", daemons["gofer"], []string{"proc", topDir(os.TempDir())})
}

// TestCertBoundedClient: a client whose certificate bounds it to uid and
// gid 65534 (runsc-decoupled-user:65534:65534) may not start its
// application as root, while a certificate of the same CA without such a
// name may.
func TestCertBoundedClient(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	p, err := pki.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemonTCP(t, "server", "--gofer", g.Target, "--tls-cert", p.Server.Cert, "--tls-key", p.Server.Key, "--tls-ca", p.CA)
	flags := func(id pki.Identity) []string {
		return []string{"--server", s.Target, "--tls-cert", id.Cert, "--tls-key", id.Key, "--tls-ca", p.CA}
	}
	if r := tu.Sandbox(t, timeout, dir, "", flags(p.Client), tu.Busybox, "echo", "operator"); r.ExitCode != 0 || r.Stdout != "operator\n" {
		t.Fatalf("operator certificate: exit %d, stdout %q, stderr %s", r.ExitCode, r.Stdout, r.Stderr)
	}
	r := tu.Sandbox(t, timeout, dir, "", flags(p.Nobody), tu.Busybox, "echo", "root")
	if r.ExitCode == 0 || !strings.Contains(r.Stderr, "start: operation not permitted") {
		t.Fatalf("bounded certificate ran as root: exit %d, stdout %q, stderr %s", r.ExitCode, r.Stdout, r.Stderr)
	}
}
