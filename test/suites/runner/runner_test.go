package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary a test that leaves a process behind in
// another process group (as LTP's library does) and hangs; the value is
// where it writes that process's pid.
const helperEnv = "SUITES_RUNNER_TEST_HELPER"

func TestMain(m *testing.M) {
	if pidFile := os.Getenv(helperEnv); pidFile != "" {
		cmd := exec.Command("/bin/sleep", "100")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.WriteFile(pidFile, []byte(fmt.Sprint(cmd.Process.Pid)), 0o644)
		fmt.Println("started")
		select {}
	}
	os.Exit(m.Run())
}

func TestLTPStatus(t *testing.T) {
	for _, tc := range []struct {
		exit int
		want string
	}{
		{0, statusPass},
		{32, statusConf},
		{1, statusFail},
		{2, statusFail},
		{33, statusFail}, // TFAIL and TCONF
		{34, statusFail}, // TBROK and TCONF
		{4, statusFail},  // TWARN
		{125, statusFail},
		{-1, statusFail},
	} {
		if got := ltpStatus(tc.exit); got != tc.want {
			t.Errorf("ltpStatus(%d) = %s, want %s", tc.exit, got, tc.want)
		}
	}
}

func TestTAPStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exit   int
		output string
		want   string
	}{
		{"all ok", 0, "1..3\nok 1\nok 2\nok 3\n", statusPass},
		{"one failed", 0, "1..3\nok 1\nnot ok 2 - tried 'chmod x 0', expected 0, got EPERM\nok 3\n", statusFail},
		{"failure marked TODO", 0, "1..2\nok 1\nnot ok 2 # TODO known\n", statusPass},
		{"fewer than planned", 0, "1..3\nok 1\nok 2\n", statusFail},
		{"more than planned", 0, "1..1\nok 1\nok 2\n", statusFail},
		{"no plan", 0, "ok 1\n", statusFail},
		{"exit status", 1, "1..1\nok 1\n", statusFail},
		{"skip", 0, "1..0 # SKIP no ACLs\n", statusConf},
		{"noise between", 0, "1..2\nsome stderr\nok 1\n# comment\nok 2\n", statusPass},
		{"could not start", 1, "not ok - could not find pjdfstest app\n", statusFail},
		{"empty", 0, "", statusFail},
	} {
		if got := tapStatus(tc.exit, []byte(tc.output)); got != tc.want {
			t.Errorf("%s: tapStatus = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestParseRuntest(t *testing.T) {
	good := "#DESCRIPTION: syscalls\n\nopen01 open01\n  fcntl07_64 fcntl07_64 -i 3\n# comment\n"
	es, err := parseRuntest(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].name != "open01" || strings.Join(es[1].argv, " ") != "fcntl07_64 -i 3" {
		t.Errorf("parseRuntest = %+v", es)
	}
	for _, bad := range []string{"lonely\n", "x y | z\n", "x y; rm -rf z\n", "x \"y\"\n"} {
		if _, err := parseRuntest(strings.NewReader(bad)); err == nil {
			t.Errorf("parseRuntest(%q) accepted a line it cannot run", bad)
		}
	}
}

func TestLTPCause(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		exit         int
		output       string
		want         string
	}{
		{"library TBROK keeps its site", statusFail, 2,
			"tst_tmpdir.c:308: TINFO: Using /tmp/x as tmpdir\ntst_test.c:148: TBROK: mmap((nil),4096,PROT_READ | PROT_WRITE(3),1,3,0) failed: ENODEV (19)\n",
			"tst_test.c:148: TBROK: mmap((nil),N,PROT_READ | PROT_WRITE(3),1,3,0) failed: ENODEV (19)"},
		{"test file site dropped", statusFail, 1,
			"open04.c:47: TINFO: x\nopen04.c:51: TFAIL: open() failed: expected EMFILE: ENOSYS (38)\n",
			"TFAIL: open() failed: expected EMFILE: ENOSYS (38)"},
		{"TBROK wins over an earlier TFAIL", statusFail, 3,
			"a.c:1: TFAIL: first\nsafe_macros.c:20: TBROK: fork() failed: EAGAIN (11)\n",
			"safe_macros.c:20: TBROK: fork() failed: EAGAIN (11)"},
		{"old library", statusFail, 2,
			"fcntl01     1  TBROK  :  fcntl01.c:123: pipe failed: errno=ENOSYS(38)\n",
			"TBROK: pipe failed: errno=ENOSYS(38)"},
		{"pids and sizes", statusFail, 1,
			"kill05.c:9: TFAIL: kill(31337) wrote 65536 bytes\n",
			"TFAIL: kill(N) wrote N bytes"},
		{"hex addresses", statusFail, 1,
			"mmap01.c:9: TFAIL: mapped at 0x7f00dead0000 not 0x1000\n",
			"TFAIL: mapped at 0x? not 0x?"},
		{"scratch paths", statusFail, 2,
			"symlink03    1  TBROK  :  symlink03.c:9: chown(/tmp/suites-scratch-42/decoupled-7/LTP_symbN5wT,-1,0) failed\n",
			"TBROK: chown($TMPDIR/LTP_*,-1,0) failed"},
		{"timeout names the last line", statusTimeout, -1,
			"tst_test.c:1900: TINFO: Timeout per run is 0h 00m 30s\n\nsuites: killed after 1m0s\n",
			"timeout, last line: tst_test.c:N: TINFO: Timeout per run is 0h 00m 30s"},
		{"no result line", statusFail, 125,
			"runsc-decoupled: connect: refused\n",
			"exit 125, last line: runsc-decoupled: connect: refused"},
	} {
		if got := ltpCause(tc.status, tc.exit, []byte(tc.output)); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestPjdfstestCause(t *testing.T) {
	for _, tc := range []struct {
		name, status, output, want string
	}{
		{"first failed assertion", statusFail,
			"1..3\nok 1\nnot ok 2 - tried 'mkfifo pjdfstest_0123456789abcdef0123456789abcdef 0644', expected 0, got ENOSYS\nnot ok 3 - tried 'unlink x', expected 0, got ENOENT\n",
			"mkfifo: expected 0, got ENOSYS"},
		{"before the plan", statusFail,
			"Cannot figure out file system type, define it by hand.\n",
			"before the plan: Cannot figure out file system type, define it by hand."},
		{"TODO failures are not causes", statusFail,
			"1..2\nnot ok 1 # TODO x\nok 2\n",
			"exit 1, plan not met, last line: ok 2"},
		{"timeout", statusTimeout, "1..12\n\nsuites: killed after 1m0s\n", "timeout, last line: 1..12"},
	} {
		if got := pjdfstestCause(tc.status, 1, []byte(tc.output)); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// A test that outlives its timeout is reported as such, and the processes
// it left behind die with it instead of holding the runner up.
func TestExecuteTimeoutKillsGroup(t *testing.T) {
	scratch := t.TempDir()
	pidFile := filepath.Join(scratch, "child.pid")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tt := test{suite: "ltp", name: "sleeper", argv: []string{self}, env: []string{helperEnv + "=" + pidFile}}
	start := time.Now()
	res := execute(context.Background(), tt, "native", func(a []string) []string { return a }, scratch, 500*time.Millisecond)
	if res.status != statusTimeout {
		t.Fatalf("status %s, want %s; output %q", res.status, statusTimeout, res.output)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v to give up after a 500ms timeout", d)
	}
	if !strings.Contains(string(res.output), "started") {
		t.Errorf("output %q lacks what the test printed", res.output)
	}
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	// The sleep ran in a process group of its own, as LTP's tests do, but
	// in the test's session, so it is gone (or a zombie of init) by now.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background child %s still alive: %s", pid, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExecuteStatuses(t *testing.T) {
	for _, tc := range []struct {
		suite, script, want string
		exit                int
	}{
		{"ltp", "exit 0", statusPass, 0},
		{"ltp", "exit 32", statusConf, 32},
		{"ltp", "exit 2", statusFail, 2},
		{"ltp", "kill -9 $$", statusFail, 128 + 9},
		{"pjdfstest", "echo 1..1; echo ok 1", statusPass, 0},
		{"pjdfstest", "echo 1..2; echo ok 1", statusFail, 0},
	} {
		tt := test{suite: tc.suite, name: "t", argv: []string{"/bin/sh", "-c", tc.script}}
		res := execute(context.Background(), tt, "native", func(a []string) []string { return a }, t.TempDir(), time.Minute)
		if res.status != tc.want || res.exit != tc.exit {
			t.Errorf("%s %q: status %s exit %d, want %s exit %d (output %q)", tc.suite, tc.script, res.status, res.exit, tc.want, tc.exit, res.output)
		}
	}
}

func TestHeadAndTail(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	big := strings.Repeat("a", keptOutput) + strings.Repeat("b", 3*keptOutput) + strings.Repeat("c", keptOutput)
	f.WriteString(big)
	got := string(headAndTail(f))
	if !strings.HasPrefix(got, strings.Repeat("a", keptOutput)+"\n[... ") ||
		!strings.HasSuffix(got, "left out ...]\n"+strings.Repeat("c", keptOutput)) ||
		strings.Contains(got, "bb") {
		t.Errorf("headAndTail kept %d bytes, not the head and the tail", len(got))
	}
}

func TestSelected(t *testing.T) {
	for _, tc := range []struct {
		name, filter string
		want         bool
	}{
		{"open01", "", true},
		{"open01", "open", true},
		{"open01", "bind06,open0", true},
		{"open01", "bind06,fork13", false},
		{"chown/00.t", "chown/", true},
	} {
		if got := selected(tc.name, tc.filter); got != tc.want {
			t.Errorf("selected(%q, %q) = %v", tc.name, tc.filter, got)
		}
	}
}

// A runner that reopens its stdout (runsc does) must not overwrite what
// was written before: the output keeps its order and its start.
func TestExecuteOutputSurvivesReopen(t *testing.T) {
	script := "echo 1..2; echo ok 1; echo ok 2 >/proc/self/fd/1; echo err >/proc/self/fd/2"
	tt := test{suite: "pjdfstest", name: "t", argv: []string{"/bin/sh", "-c", script}}
	res := execute(context.Background(), tt, "native", func(a []string) []string { return a }, t.TempDir(), time.Minute)
	if got, want := string(res.output), "1..2\nok 1\nok 2\nerr\n"; got != want || res.status != statusPass {
		t.Errorf("output %q status %s, want %q pass", got, res.status, want)
	}
}
