package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// seccompPrograms are the C programs of testdata/seccomp run natively and
// in the sandbox: argument checks, the privilege rule and ERRNO (basic),
// TRAP with its siginfo, the kill actions and strict mode (trap), and
// inheritance over fork, threads and exec with TSYNC (inherit), and
// SECCOMP_RET_TRACE with and without a tracer (tracer).
var seccompPrograms = []string{"basic", "trap", "inherit", "tracer"}

// TestSeccompFilters compares the application's own seccomp filters with
// Linux's: each program's output and exit status under `do`, on both
// platforms, equal a native run's.
func TestSeccompFilters(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "seccomp", seccompPrograms, platforms...)
}

// TestSeccompAcrossServerKill installs filters, kills the remote sentry
// -9 before they are used, and checks that after the recovery they still
// apply (ERRNO, TRAP with the handler's siginfo) in the process and in a
// child forked before the kill: filters are client state.
func TestSeccompAcrossServerKill(t *testing.T) {
	tu.RequireRoot(t)
	want, got, k := killAtMarker(t, tu.StaticProgram(t, t.TempDir(), "recover", testdataSource(t, "seccomp", "recover")), "installed")
	compare(t, want, got)
	if _, err := os.Stat(filepath.Join(k.dir, "made-by-seccomp-test")); err == nil {
		t.Errorf("a mkdir the filter refuses made its directory")
	}
}

// seccompProfile denies mkdir with runc's default errno (EPERM), rmdir
// with EROFS (errnoRet), and kills on a masked-equal clone flag test.
func seccompProfile(s *specs.Spec) {
	erofs := uint(unix.EROFS)
	s.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
			{Names: []string{"rmdir"}, Action: specs.ActErrno, ErrnoRet: &erofs},
			{Names: []string{"unshare"}, Action: specs.ActKillProcess},
		},
	}
}

// seccompScript tries what seccompProfile denies. The shell's report of
// the killed command ("Bad system call") goes to stderr when it reaps it,
// not always before the next line: outputs are compared as sets of lines.
const seccompScript = `mkdir /tmp/d 2>&1; echo mkdir=$?; [ -d /tmp/d ] && echo made
rmdir /tmp 2>&1; echo rmdir=$?
busybox unshare -u true; echo unshare=$?
echo done`

// TestOCISeccomp runs a container whose config.json has a seccomp profile,
// under this runtime and under runc when runc can run it here, and
// checks the output (and that an exec gets the profile too, as runc's).
func TestOCISeccomp(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		seccompProfile(s)
		sh(seccompScript)(s)
	})
	want := "mkdir: can't create directory '/tmp/d': Operation not permitted\nmkdir=1\n" +
		"rmdir: '/tmp': Read-only file system\nrmdir=1\nBad system call\nunshare=159\ndone\n"
	c, msg, code := r.create("sc", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	r.must("start", "sc")
	if exit := c.wait(t); exit != 0 {
		t.Errorf("exit %d", exit)
	}
	got := c.out(t)
	if sortedLines(got) != sortedLines(want) {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	r.must("delete", "sc")

	if runc, err := exec.LookPath("runc"); err == nil {
		root := filepath.Join(t.TempDir(), "runc")
		cmd := exec.Command(runc, "--root", root, "run", "--bundle", bundle, "sc-runc")
		out, err := cmd.CombinedOutput()
		switch {
		case err != nil && len(out) == 0:
			t.Logf("runc could not run the bundle here: %v", err)
		case sortedLines(string(out)) != sortedLines(got):
			t.Errorf("runc printed:\n%s\nthis runtime:\n%s", out, got)
		default:
			t.Logf("runc's output is the same")
		}
	}

	// exec: the container's profile applies to the new process.
	bundle = busyboxBundle(t, r, func(s *specs.Spec) {
		seccompProfile(s)
		sh(`echo ready; while :; do sleep 0.1; done`)(s)
	})
	c, msg, code = r.create("sce", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	defer func() {
		r.run(nil, "delete", "--force", "sce")
		c.wait(t)
	}()
	r.must("start", "sce")
	waitFor(t, func() bool { return strings.Contains(c.out(t), "ready") })
	if out, code := r.run(nil, "exec", "sce", "sh", "-c", seccompScript); code != 0 || sortedLines(out) != sortedLines(want) {
		t.Errorf("exec: exit %d, output:\n%s\nwant:\n%s", code, out, want)
	}
}

// TestContainerdDefaultSeccomp runs containers with containerd's default
// seccomp profile (`ctr run --seccomp`, Docker's profile: some hundred
// rules with argument conditions), under this runtime and runc: busybox
// works, and what the profile refuses a container without
// CAP_SYS_ADMIN (unshare, mount) fails as under runc.
func TestContainerdDefaultSeccomp(t *testing.T) {
	c := startContainerd(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatalf("runc is required (test/setup.sh installs it): %v", err)
	}
	const script = `echo hi; ls / >/dev/null && echo ls ok; mkdir /tmp/x && echo mkdir ok
busybox unshare -u true 2>&1; echo unshare=$?
busybox mount -t tmpfs none /mnt 2>&1; echo mount=$?`
	var outs []string
	for i, bin := range []string{c.Bin, runc} {
		id := fmt.Sprintf("seccomp-%d", i)
		out, errOut, code := c.Ctr(c.RunArgsWith(bin, "--rm", "--seccomp", c.Image, id, "sh", "-c", script)...)
		if code != 0 {
			t.Fatalf("%s: ctr run: exit %d, stderr %q", bin, code, errOut)
		}
		outs = append(outs, out)
	}
	if outs[0] != outs[1] {
		t.Errorf("with containerd's default seccomp profile, this runtime printed:\n%s\nrunc:\n%s", outs[0], outs[1])
	}
	t.Logf("output:\n%s", outs[0])
	if !strings.Contains(outs[0], "unshare=1") || !strings.Contains(outs[0], "mkdir ok") {
		t.Errorf("output:\n%s", outs[0])
	}
}

// terminalEditors are keystroke scripts for full-screen and line-editing
// programs in a pty: each runs natively and under do on a file of its
// own, and the files (or the shell's result) must be the same.
func TestTerminalEditors(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.Binary(t)
	bb := tu.Busybox
	var lines strings.Builder
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	const (
		esc   = "\x1b"
		left  = "\x1b[D"
		enter = "\r"
	)
	type step struct {
		keys string
		// await is what the terminal must show (once more than before
		// the keys) before the next step; "" waits for nothing. Each
		// step but the last waits, so that keys never arrive early.
		await string
	}
	for _, tc := range []struct {
		name  string
		input string // the file's content before
		argv  func(file string) []string
		steps []step
	}{
		{name: "busybox vi", input: "first\n", argv: func(f string) []string { return []string{bb, "vi", f} }, steps: []step{
			{"", "first"},
			// After each Escape, wait for vi's command-mode status line,
			// so that the next key is not read as part of an escape
			// sequence.
			{"Ahello", "hello"},
			{esc, "\x1b[K- "},
			{"osecond line", "second line"},
			{esc, "\x1b[K- "},
			{":1" + enter, "1/2 50%"},
			{"Otop", "top"},
			{esc, "\x1b[K- "},
			{":wq" + enter, ""},
		}},
		{name: "busybox less", input: lines.String(), argv: func(f string) []string { return []string{bb, "less", f} }, steps: []step{
			// busybox less draws its first page before it puts the
			// terminal in raw mode, and its status line (reverse
			// video) after: keys typed before that line are echoed
			// and edited by the line discipline, natively too.
			{"", "\x1b[7m"},
			{"/line 150" + enter, "line 160"},
			{"q", ""},
		}},
		{name: "ash line editing", argv: func(f string) []string { return []string{bb, "sh", "-i"} }, steps: []step{
			{"", "$ "},
			// Type, move the cursor left, insert: echo abc>FILE.
			{"echo ac>%FILE%%LEFT%b" + enter, ""},
			{"exit" + enter, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			results := map[string]string{}
			for _, run := range []string{"native", "sandbox"} {
				dir := t.TempDir()
				file := filepath.Join(dir, "f")
				if tc.input != "" {
					if err := os.WriteFile(file, []byte(tc.input), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				argv := tc.argv(file)
				if run == "sandbox" {
					argv = append([]string{bin, "do", "--force-overlay=false", "--"}, argv...)
				}
				s := startTerminalSession(t, []string{"PS1=$ ", "ENV=", "HOME=/", "TERM=xterm"}, argv...)
				for _, st := range tc.steps {
					// A step that types awaits a new occurrence of its
					// text; one that only waits (no keys) any, since the
					// program's output may be on the screen already.
					n := 0
					if st.await != "" {
						n = 1
						if st.keys != "" {
							n += strings.Count(s.transcript(), st.await)
						}
					}
					keys := strings.ReplaceAll(st.keys, "%LEFT%", strings.Repeat(left, len(">"+file)+1))
					if _, err := s.master.WriteString(strings.ReplaceAll(keys, "%FILE%", file)); err != nil {
						t.Fatal(err)
					}
					if st.await != "" {
						s.await(st.await, n, "")
					}
				}
				start := time.Now()
				select {
				case <-s.done:
				case <-time.After(timeout):
					t.Fatalf("%s: the program did not exit; the terminal shows:\n%q", run, s.transcript())
				}
				t.Logf("%s: exited %v after its last key", run, time.Since(start).Round(time.Millisecond))
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%s: %v; the terminal shows:\n%q", run, err, s.transcript())
				}
				results[run] = string(b)
			}
			if results["native"] != results["sandbox"] {
				t.Errorf("the file differs\nnative:  %q\nsandbox: %q", results["native"], results["sandbox"])
			}
			t.Logf("file: %q", results["native"])
		})
	}
}

// TestOCIExecChildrenKeepStdio checks that a child an exec'd process
// leaves behind still writes to the exec's stdout after the exec
// returned, as with runc (whose children hold the shim's pipes).
func TestOCIExecChildrenKeepStdio(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, sh(`echo ready; while :; do sleep 0.1; done`))
	c, msg, code := r.create("keep", bundle)
	if code != 0 {
		t.Fatalf("create: %s", msg)
	}
	defer func() {
		r.run(nil, "delete", "--force", "keep")
		c.wait(t)
	}()
	r.must("start", "keep")
	waitFor(t, func() bool { return strings.Contains(c.out(t), "ready") })
	outPath := filepath.Join(t.TempDir(), "exec.out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	// The child waits for the file /tmp/go, made after exec returned.
	start := time.Now()
	if _, code := r.run(&[3]*os.File{null, out, out}, "exec", "keep", "sh", "-c",
		`(while [ ! -e /tmp/go ]; do sleep 0.05; done; echo from the child) & echo parent done`); code != 0 {
		t.Fatalf("exec: exit %d", code)
	}
	if got, _ := os.ReadFile(outPath); string(got) != "parent done\n" {
		t.Fatalf("exec's output %q", got)
	}
	t.Logf("exec returned after %v", time.Since(start))
	r.must("exec", "keep", "touch", "/tmp/go")
	t.Logf("second exec returned after %v", time.Since(start))
	waitFor(t, func() bool {
		got, _ := os.ReadFile(outPath)
		return string(got) == "parent done\nfrom the child\n"
	})
}

// TestTerminalAcrossServerKill runs an interactive shell in a pty under
// do with a remote sentry, and kills the sentry -9 (restarted on the same
// address) while a foreground job reads the terminal: the job keeps
// reading it (it is still the foreground process group), end of file
// (Ctrl-D) and Ctrl-C still work after the recovery, and the shell
// carries on.
func TestTerminalAcrossServerKill(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.Binary(t)
	sockDir, dir := t.TempDir(), t.TempDir()
	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	srv := tu.StartDaemon(t, sockDir, "a", "server", "--gofer", g.Target)
	logFile := filepath.Join(sockDir, "client.log")
	s := startTerminalSession(t, []string{"PS1=$ ", "ENV=", "HOME=/", "TERM=xterm"},
		bin, "do", "--server", srv.Target, "--grace", "5s", "--heartbeat", "50ms", "--debug-log", logFile,
		"--force-overlay=false", "--cwd", dir, "--", tu.Busybox, "sh", "-i")
	file := filepath.Join(dir, "typed")
	waitFile := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
			b, _ := os.ReadFile(file)
			if string(b) == want {
				return
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(logFile)
				t.Fatalf("the file has %q, want %q; the terminal shows:\n%q\nclient log:\n%s", b, want, s.transcript(), lastLines(string(log), 30))
			}
		}
	}
	s.await("$ ", 1, "")
	s.typeLine(tu.Busybox + " cat > " + file)
	s.typeLine("before")
	waitFile("before\n")

	srv.Kill()
	time.Sleep(100 * time.Millisecond)
	if srv = tu.StartDaemonAt(t, srv.Target, "server", "--gofer", g.Target); srv == nil {
		t.Fatal("server did not restart")
	}
	s.typeLine("after")
	waitFile("before\nafter\n")
	s.master.WriteString("\x04") // end of file: cat ends, the shell prompts
	s.await("$ ", 2, "")
	s.typeLine("echo started; " + tu.Busybox + " sleep 100")
	s.await("\r\nstarted\r\n", 1, "")
	// Ctrl-C ends the foreground job only; typed again until the shell
	// prompts (the first may come before sleep is in the foreground).
	s.await("$ ", 3, "\x03")
	s.typeLine("echo alive $((6*7))")
	s.await("alive 42", 1, "")
	s.typeLine("exit")
	select {
	case <-s.done:
	case <-time.After(timeout):
		t.Fatalf("the shell did not exit; the terminal shows:\n%q", s.transcript())
	}
	log, _ := os.ReadFile(logFile)
	if !bytes.Contains(log, []byte("recovered from a remote sentry failure")) {
		t.Errorf("no recovery logged")
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// sortedLines is s's lines in order, for comparing outputs whose order
// between stdout and stderr varies.
func sortedLines(s string) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	slices.Sort(l)
	return strings.Join(l, "\n")
}
