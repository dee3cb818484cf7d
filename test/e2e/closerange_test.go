package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// closeRangeWhere matches close_range and fcntl F_GETFD in the client's
// strace: the call and where it was answered.
var closeRangeWhere = regexp.MustCompile(`(close_range|fcntl)\(0x[0-9a-f]+, 0x([0-9a-f]+)[^\n]*? where=(\w+)`)

// TestCloseRange runs testdata/closerange/closerange.c natively and
// under do (same output): close_range over fds written behind, over a
// pipe's last reader (a write then fails EPIPE), the next open's fd
// (the lowest the range freed), the errors, a table shared by clone's
// CLONE_FILES with and without CLOSE_RANGE_UNSHARE, and
// CLOSE_RANGE_CLOEXEC up to an exec. Each close_range waits for the
// server (sentry/client/closerange.go), whose reply's fd records keep the
// client's copy of each table exact: every F_GETFD the program makes,
// of the fds the ranges closed too, is answered on the client.
func TestCloseRange(t *testing.T) {
	tu.RequireRoot(t)
	log := stracedTestdata(t, "closerange", "closerange")
	where := map[string]int{}
	for _, m := range closeRangeWhere.FindAllSubmatch(log, -1) {
		call := string(m[1])
		if call == "fcntl" && string(m[2]) != "1" {
			continue // F_SETFD
		}
		where[call+" "+string(m[3])]++
	}
	t.Logf("calls by where: %v", where)
	// The parent's 8 and the three children's one each.
	if got := where["close_range forwarded"]; got != 11 {
		t.Errorf("%d close_range calls forwarded, want 11 (all of them)", got)
	}
	if got := where["fcntl forwarded"]; got != 0 {
		t.Errorf("%d F_GETFDs forwarded, want 0 (the copy of the table knows each fd)", got)
	}
}

// TestWriteErrorModes runs testdata/postclose/enospc.c in a full tmpfs,
// as TestPostedCloseWriteError runs it, with the two calls that treat a
// write behind's error apart from close: natively the write fails; in
// the sandbox it is written behind, and
//   - close_range, which reports no error on Linux, leaves the error on
//     the file (the server's CloseRange), so the fsync of the new
//     description reports it;
//   - a sync_file_range that waits for the page's write-out reports it,
//     as fdatasync would (the server's posted.go), and nothing after it
//     does.
//
// Either way once a round (the output is the native one).
func TestWriteErrorModes(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "postclose", "enospc.c"))
	const rounds = "5"
	for _, tc := range []struct {
		mode, reportedAt string
	}{
		{"close_range", "fsync"},
		{"sync_file_range", "sync_file_range"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			dir := fullTmpfs(t)
			native, err := exec.Command(prog, dir, rounds, tc.mode).Output()
			if err != nil {
				t.Fatalf("natively: %v\n%s", err, native)
			}
			want := ""
			for i := 0; i < 5; i++ {
				want += "round " + string(rune('0'+i)) + ": ENOSPC reported 1 time(s), other errors 0, second fsync 0\n"
			}
			if string(native) != want {
				t.Fatalf("natively:\n%s\nwant:\n%s", native, want)
			}
			r := tu.Sandbox(t, 3*time.Minute, dir, "", nil, prog, dir, rounds, tc.mode)
			if r.ExitCode != 0 || r.Stdout != string(native) {
				t.Fatalf("in the sandbox: exit %d\n%s\nnatively:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, native, r.Stderr)
			}
			if n := strings.Count(r.Stderr, ": "+tc.reportedAt+": No space left on device"); n == 0 {
				t.Errorf("no round reported ENOSPC at its %s:\n%s", tc.reportedAt, r.Stderr)
			}
		})
	}
}
