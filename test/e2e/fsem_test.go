package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// File semantics (permissions, errnos, FIFOs, locks, xattrs, utimes): each
// program in testdata/fsem prints every call's result or errno name, and
// its output in the sandbox must match a native run. The programs set up
// as root and drop to a non-root user where the case needs one, as
// pjdfstest does.

// fsemProgram compiles testdata/fsem/NAME.c with common.h prepended.
func fsemProgram(t *testing.T, dir, name string) string {
	t.Helper()
	return tu.StaticProgram(t, dir, name, testdataSource(t, "fsem", name))
}

// runFsem runs program name natively and in the sandbox, each in a fresh
// directory, and compares their output.
func runFsem(t *testing.T, name string, flags ...string) {
	tu.RequireRoot(t)
	bin := fsemProgram(t, t.TempDir(), name)
	nativeDir, sandboxDir := t.TempDir(), t.TempDir()
	want := tu.Run(t, timeout, nativeDir, "", bin)
	if want.ExitCode != 0 || strings.Contains(want.Stdout, "setup ") {
		t.Fatalf("native run failed (exit %d):\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	got := tu.Sandbox(t, timeout, sandboxDir, "", flags, bin)
	compare(t, want, got)
	if t.Failed() {
		t.Logf("program: %s", filepath.Join("test/e2e/testdata/fsem", name+".c"))
	}
}

// TestFsemPermissions checks set-id semantics too, so its gofer keeps
// set-id bits (they are stripped by default).
func TestFsemPermissions(t *testing.T) { runFsem(t, "perm", "--allow-setuid") }

func TestFsemErrnos(t *testing.T) { runFsem(t, "errno") }

func TestFsemFifos(t *testing.T) { runFsem(t, "fifo") }

func TestFsemLocks(t *testing.T) { runFsem(t, "lock") }

// TestFsemLocksAcrossServerKill kills the remote sentry (kill -9, then a
// restart on the same address) while a child process keeps failing to
// take the locks its parent holds: after the recovery the locks are
// still held by the parent (every try still fails with EAGAIN) and are
// released by its unlock.
func TestFsemLocksAcrossServerKill(t *testing.T) {
	tu.RequireRoot(t)
	bin := fsemProgram(t, t.TempDir(), "lockrecover")
	nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	want := tu.Run(t, timeout, nativeDir, "", bin)
	if !strings.Contains(want.Stdout, "0 unexpected results") {
		t.Fatalf("native run:\n%s%s", want.Stdout, want.Stderr)
	}
	k := startKillable(t, sockDir, sandboxDir, "5s", bin)
	progress := func() int {
		b, _ := os.ReadFile(filepath.Join(sandboxDir, "progress"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	k.waitUntil(func() bool { return progress() >= 10 })
	t.Logf("killing the server after %d tries", progress())
	k.killServer()
	got := k.wait()
	if k.recoveries() == 0 {
		t.Errorf("no recovery logged (the program ended before the kill?)")
	}
	compare(t, want, got)
}

// TestFsemGNULsAndCp: GNU ls -l and cp -a ask for xattrs and ACLs of
// every file; finding none (ENOTSUP for the ACLs) they print nothing
// about them.
func TestFsemGNULsAndCp(t *testing.T) {
	tu.RequireRoot(t)
	for _, tool := range []string{"/bin/ls", "/bin/cp"} {
		if _, err := os.Stat(tool); err != nil {
			t.Fatalf("GNU coreutils (%s) is required: %v", tool, err)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o640); err != nil {
		t.Fatal(err)
	}
	got := tu.Sandbox(t, timeout, dir, "", nil, "/bin/sh", "-c", "/bin/ls -l f >/dev/null && /bin/cp -a f g && /bin/ls -l g | cut -c1-10")
	if got.ExitCode != 0 || got.Stderr != "" || got.Stdout != "-rw-r-----\n" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", got.ExitCode, got.Stdout, got.Stderr)
	}
}
