package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// observerChangerRuns runs prog as a changer beside an observer (`prog
// changer DIR`, `prog observer DIR`, each saying "ROLE: N steps" at its
// end), first as two host processes, then in two sandboxes on one server
// and gofer whose leases last a minute (so an answer a change did not
// revoke would show), each time in a fresh DIR that setup prepares. It
// returns what the observer printed natively and sandboxed, and the
// directory of the sandboxes' debug logs (ROLE.log).
func observerChangerRuns(t *testing.T, prog string, steps int, setup func(t *testing.T, dir string), doFlags ...string) (native, sandboxed, logs string) {
	t.Helper()
	done := fmt.Sprintf(" %d steps\n", steps)
	run := func(argv func(role, dir string) []string) string {
		t.Helper()
		dir := t.TempDir()
		setup(t, dir)
		o, cout, cerr := tu.RunBeside(t, 3*time.Minute, dir, argv("changer", dir), argv("observer", dir))
		if o.ExitCode != 0 || cerr != nil {
			t.Fatalf("observer: exit %d\n%s%s\nchanger: %v\n%s", o.ExitCode, o.Stdout, o.Stderr, cerr, cout)
		}
		if cout != "changer:"+done {
			t.Errorf("changer said %q", cout)
		}
		return o.Stdout
	}
	native = run(func(role, dir string) []string { return []string{prog, role, dir} })
	if !strings.HasSuffix(native, "observer:"+done) {
		t.Fatalf("native observer said:\n%s", native)
	}
	sock := t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s")
	logs = t.TempDir()
	sandboxed = run(func(role, dir string) []string {
		argv := []string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir,
			"--debug-log", filepath.Join(logs, role+".log")}
		return append(append(argv, doFlags...), "--", prog, role, dir)
	})
	if sandboxed != native {
		t.Errorf("the observer in a sandbox saw (-) what it saw natively (+):\n%s", lineDiff(sandboxed, native))
	}
	return native, sandboxed, logs
}
