package e2e

import (
	"embed"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// File semantics (permissions, errnos, FIFOs, locks, xattrs, utimes): each
// program in testdata/fsem prints every call's result or errno name, and
// its output in the sandbox must match a native run. The programs set up
// as root and drop to a non-root user where the case needs one, as
// pjdfstest does.

//go:embed testdata/fsem
var fsemPrograms embed.FS

// fsemProgram compiles testdata/fsem/NAME.c with common.h prepended.
func fsemProgram(t *testing.T, dir, name string) string {
	t.Helper()
	common, err := fsemPrograms.ReadFile("testdata/fsem/common.h")
	if err != nil {
		t.Fatal(err)
	}
	src, err := fsemPrograms.ReadFile("testdata/fsem/" + name + ".c")
	if err != nil {
		t.Fatal(err)
	}
	return tu.StaticProgram(t, dir, name, string(common)+"\n#line 1 \""+name+".c\"\n"+string(src))
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

func TestFsemPermissions(t *testing.T) { runFsem(t, "perm") }

func TestFsemErrnos(t *testing.T) { runFsem(t, "errno") }

func TestFsemFifos(t *testing.T) { runFsem(t, "fifo") }
