package e2e

import (
	"regexp"
	"strconv"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// notattyCall matches a terminal query (TCGETS 0x5401, TIOCGWINSZ
// 0x5413, TIOCGPGRP 0x540f) of an fd (fd 3, or the stdio's 0-2), with
// where it was answered.
var notattyCall = regexp.MustCompile(`ioctl\((0x3|0x[012]), (0x5401|0x5413|0x540f), .*where=(\w+)`)

// TestTerminalQueriesOfFiles runs testdata/notatty/isatty.c natively and
// in a sandbox: the terminal ioctls of a regular file, a directory, a
// pipe and /dev/null say the same, and those of a regular file (fd 3,
// opened 200 times and asked isatty each time, as Python asks of each
// module it imports) are answered by the client from the description's
// kind, not sent to the server; so are those of the stdio, pipes here
// (as of gcc's tools under make), the client knowing from what it told
// the server that they are no terminal.
func TestTerminalQueriesOfFiles(t *testing.T) {
	tu.RequireRoot(t)
	const rounds = 200
	prog := tu.StaticProgram(t, t.TempDir(), "isatty", testdataSource(t, "notatty", "isatty"))
	nativeDir, dir := t.TempDir(), t.TempDir()
	want := tu.Run(t, timeout, nativeDir, "", prog, strconv.Itoa(rounds))
	if want.ExitCode != 0 {
		t.Fatalf("natively: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	_, log, _ := stracedRun(t, dir, nil, "", prog, strconv.Itoa(rounds))
	got := tu.Sandbox(t, timeout, dir, "", []string{"--cwd", dir}, prog, strconv.Itoa(rounds))
	compare(t, want, got)
	where, stdio := map[string]int{}, map[string]int{}
	for _, m := range notattyCall.FindAllStringSubmatch(log, -1) {
		if m[1] == "0x3" {
			where[m[3]]++
		} else {
			stdio[m[3]]++
		}
	}
	// fd 3 is the regular file (4 queries when created, 4 when opened,
	// then isatty in 199 rounds), then the directory's and the pipe's
	// read end (4 each: sent, the client answers only of regular
	// files).
	t.Logf("terminal queries of fd 3: %v", where)
	if where["cached"] != rounds+7 || where["forwarded"] > 8 {
		t.Errorf("terminal queries of fd 3: %v; want %d answered by the client (the file's) and at most 8 forwarded (the directory's and the pipe's)", where, rounds+7)
	}
	// 4 queries of each of fds 0-2 (3 ioctls and isatty), none sent.
	t.Logf("terminal queries of fds 0-2: %v", stdio)
	if stdio["cached"] != 12 || stdio["forwarded"] != 0 {
		t.Errorf("terminal queries of fds 0-2: %v; want 12 answered by the client and none forwarded", stdio)
	}
}

// fileAdviceCall matches a FICLONE ioctl (0x40049409) or a fadvise64
// of fd 3 or 4 and where it was answered.
var fileAdviceCall = regexp.MustCompile(`(ioctl|fadvise64)\((0x3|0x4), (?:0x40049409|0x0), .*where=(\w+)`)

// TestFileAdviceOnClient runs testdata/notatty/fileadvice.c natively and
// in a sandbox: cp's FICLONE and fadvise64 of each file it copies, and
// fadvise64's errors on a regular file, an O_PATH one and a pipe, say
// the same; those of the regular files (200 rounds) are answered by the
// client from the description's kind (sentry/client/filekind.go), not
// sent to the server.
func TestFileAdviceOnClient(t *testing.T) {
	tu.RequireRoot(t)
	const rounds = 200
	prog := tu.StaticProgram(t, t.TempDir(), "fileadvice", testdataSource(t, "notatty", "fileadvice"))
	nativeDir, dir := t.TempDir(), t.TempDir()
	want := tu.Run(t, timeout, nativeDir, "", prog, strconv.Itoa(rounds))
	if want.ExitCode != 0 {
		t.Fatalf("natively: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	got, log, _ := stracedRun(t, dir, nil, "", prog, strconv.Itoa(rounds))
	compare(t, want, got)
	where := map[string]int{}
	for _, m := range fileAdviceCall.FindAllStringSubmatch(log, -1) {
		where[m[1]+" "+m[3]]++
	}
	t.Logf("FICLONE and fadvise64 of fds 3 and 4: %v", where)
	if where["ioctl cached"] < rounds || where["fadvise64 cached"] < rounds+3 {
		t.Errorf("FICLONE and fadvise64 of fds 3 and 4: %v; want at least %d and %d answered by the client", where, rounds, rounds+3)
	}
	if where["ioctl forwarded"] != 1 || where["fadvise64 forwarded"] != 2 {
		t.Errorf("FICLONE and fadvise64 of fds 3 and 4: %v; want those of the O_PATH fd (one each) and the pipe's (fadvise64) forwarded", where)
	}
}
