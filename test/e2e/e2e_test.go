package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

const timeout = 60 * time.Second

var platforms = []string{"systrap", "ptrace"}

const helloC = `
#include <unistd.h>
#include <stdlib.h>
int main(void) {
	write(1, "hello from the sandbox\n", 23);
	write(2, "to stderr\n", 10);
	exit(7);
}
`

const segvC = `
int main(void) { *(volatile int *)8 = 1; return 0; }
`

// TestStaticProgram is step 1: write(1, ...) and exit_group go through the
// remote sentry.
func TestStaticProgram(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	hello := tu.StaticProgram(t, dir, "hello", helloC)
	segv := tu.StaticProgram(t, dir, "segv", segvC)
	for _, p := range platforms {
		for _, prog := range []string{hello, segv} {
			t.Run(p+"/"+filepath.Base(prog), func(t *testing.T) {
				want := tu.Run(t, timeout, dir, "", prog)
				got := tu.Sandbox(t, timeout, dir, "", []string{"--platform", p}, prog)
				compare(t, want, got)
			})
		}
	}
}

// shellCases are busybox workloads whose output must match native.
var shellCases = []struct {
	name   string
	script string
	stdin  string
}{
	{"echo", `echo hi`, ""},
	{"issue", `cd /tmp && echo hi > x && cat x | wc -c; seq 1 5000 | sort -rn | head -3`, ""},
	{"files", `mkdir -p a/b && echo one > a/b/f && cp a/b/f a/g && ls a a/b && cat a/g && mv a/g a/h && ls a && rm -r a && ls`, ""},
	{"stat", `echo data > f && wc -c f && ls -l f | cut -c1-10 && test -f f && echo isfile`, ""},
	{"append", `for i in 1 2 3; do echo line $i >> log; done; cat log; wc -l log`, ""},
	{"pipeline", `seq 1 20000 | grep 7 | sort -n | tail -2 | wc -l`, ""},
	{"stdin", `cat; echo done`, "some input\nmore\n"},
	{"exitstatus", `sh -c 'exit 3'; echo $?; false; echo $?`, ""},
	{"signal", `sh -c 'kill -9 $$'; echo $?`, ""},
	{"subshell", `(cd /; pwd); pwd | wc -c; x=$(echo sub); echo $x`, ""},
	{"exit code", `echo bye; exit 42`, ""},
	{"dup", `echo err 1>&2; echo out 2>&1`, ""},
	{"redirect", `echo a > f; echo b >> f; exec 3< f; read l <&3; echo $l; cat <&3`, ""},
}

// TestShell covers steps 2 and 3: files through the gofer, processes,
// pipes, exec and exit statuses.
func TestShell(t *testing.T) {
	tu.RequireRoot(t)
	for _, p := range platforms {
		for _, c := range shellCases {
			t.Run(p+"/"+c.name, func(t *testing.T) {
				nativeDir, sandboxDir := t.TempDir(), t.TempDir()
				want := tu.Run(t, timeout, nativeDir, c.stdin, tu.Busybox, "sh", "-c", c.script)
				got := tu.Sandbox(t, timeout, sandboxDir, c.stdin, []string{"--platform", p}, tu.Busybox, "sh", "-c", c.script)
				compare(t, want, got)
				compareTrees(t, nativeDir, sandboxDir)
			})
		}
	}
}

// TestExternalDaemons is step 4: the kernel state lives in separately
// started daemons, and two clients share one server.
func TestExternalDaemons(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
	script := `ls -l /etc | head -5; seq 1 3000 | sort -rn | head -2; echo $$`
	want := tu.Run(t, timeout, dir, "", tu.Busybox, "sh", "-c", "ls -l /etc | head -5; seq 1 3000 | sort -rn | head -2; echo 1")
	var wg sync.WaitGroup
	results := make([]tu.Result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = tu.Sandbox(t, timeout, dir, "", []string{"--server", s.Target}, tu.Busybox, "sh", "-c", script)
		}()
	}
	wg.Wait()
	for i, got := range results {
		t.Run(fmt.Sprint("client", i), func(t *testing.T) { compare(t, want, got) })
	}
	if t.Failed() {
		t.Logf("server log:\n%s\ngofer log:\n%s", s.Log, g.Log)
	}
}

func compare(t *testing.T, want, got tu.Result) {
	t.Helper()
	if got.Stdout != want.Stdout {
		t.Errorf("stdout differs\nnative:\n%s\nsandbox:\n%s", want.Stdout, got.Stdout)
	}
	if got.ExitCode != want.ExitCode {
		t.Errorf("exit code: native %d, sandbox %d", want.ExitCode, got.ExitCode)
	}
	if t.Failed() {
		t.Logf("sandbox stderr:\n%s", got.Stderr)
	}
}

// compareTrees checks that two directories hold the same files with the
// same contents.
func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	ta, tb := tree(t, a), tree(t, b)
	if ta != tb {
		t.Errorf("files differ\nnative:\n%s\nsandbox:\n%s", ta, tb)
	}
}

func tree(t *testing.T, root string) string {
	var sb strings.Builder
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&sb, "%s %v", rel, fi.Mode())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&sb, " %q", data)
		}
		sb.WriteString("\n")
		return nil
	})
	return sb.String()
}
