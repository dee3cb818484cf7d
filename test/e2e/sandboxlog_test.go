package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// sandboxLogged runs argv under do in dir (also its working directory)
// with flags and a client debug log, checks its output against want (with
// want nil: that it exited 0), and returns the result and the log.
func sandboxLogged(t *testing.T, dir string, flags []string, want *tu.Result, argv ...string) (tu.Result, []byte) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "do.log")
	flags = append([]string{"--cwd", dir, "--debug-log", logFile}, flags...)
	got := tu.Sandbox(t, 3*time.Minute, dir, "", flags, argv...)
	if want != nil {
		compare(t, *want, got)
	} else if got.ExitCode != 0 {
		t.Fatalf("%v: exit %d\n%s%s", argv, got.ExitCode, got.Stdout, got.Stderr)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	return got, log
}

// runNatively runs argv natively in a new directory and returns what it
// did; the test fails if it exits non-zero (the reference output a
// sandboxed run is compared with).
func runNatively(t *testing.T, argv ...string) tu.Result {
	t.Helper()
	r := tu.Run(t, time.Minute, t.TempDir(), "", argv...)
	if r.ExitCode != 0 {
		t.Fatalf("%v natively: exit %d\n%s%s", argv, r.ExitCode, r.Stdout, r.Stderr)
	}
	return r
}

// logInts returns the numbers re's groups match in a client's log (the
// first match); the test fails if re does not match.
func logInts(t *testing.T, log []byte, re *regexp.Regexp) []int {
	t.Helper()
	m := re.FindSubmatch(log)
	if m == nil {
		t.Fatalf("no %q in the client's log:\n%s", re, log)
	}
	ns := make([]int, len(m)-1)
	for i, g := range m[1:] {
		n, err := strconv.Atoi(string(g))
		if err != nil {
			t.Fatalf("%q in the client's log: %v", re, err)
		}
		ns[i] = n
	}
	return ns
}

// stracedTestdata builds testdata/DIR/NAME.c (testdataSource), runs it
// with args natively and under do with --strace, fails t if the sandbox's run
// differs from the native one, and returns the client's log.
func stracedTestdata(t *testing.T, dir, name string, args ...string) []byte {
	t.Helper()
	prog := tu.StaticProgram(t, t.TempDir(), name, testdataSource(t, dir, name))
	argv := append([]string{prog}, args...)
	want := tu.Run(t, timeout, t.TempDir(), "", argv...)
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	_, log := sandboxLogged(t, t.TempDir(), []string{"--strace"}, &want, argv...)
	return log
}

// whereCounts counts the calls re matches in a client's strace log by
// where they were answered (re's first group: forwarded, cached,
// posted...).
func whereCounts(re *regexp.Regexp, log []byte) map[string]int {
	where := map[string]int{}
	for _, m := range re.FindAllSubmatch(log, -1) {
		where[string(m[1])]++
	}
	return where
}

// logCount returns how many times re matches in a client's log (its
// --strace lines: "client: CALL(ARGS) = RET: tid=N where=...").
func logCount(log []byte, re string) int {
	return len(regexp.MustCompile(re).FindAll(log, -1))
}
