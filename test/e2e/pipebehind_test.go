package e2e

import (
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// stracedPipeCall matches a write(2) to fd 4, or a read(2) or close(2)
// of fd 3 (the pipe of testdata/pipes/pipebehind.c), or a close(2) of
// fd 5 (its second pipe's read end) in the client's strace, with where
// the client answered it.
var stracedPipeCall = regexp.MustCompile(`do\.client: (write\(0x4|read\(0x3|close\(0x3|close\(0x5)[,)].*where=(\w+)`)

// TestPipeWritesBehind runs testdata/pipes/pipebehind.c under do with the
// client's strace and compares its output with a native run: the writes
// to a pipe with a reader are posted within the room the server granted
// (the first write waits and brings it: 15 of the 16 are posted), the
// first read of the 16,000 bytes brings a copy of the 11,904 after its
// 4,096 and the 3 reads after it are answered from it (posted as reads
// that take the bytes out), and a
// write after the last reader left still fails with EPIPE and raises
// SIGPIPE, whether the reader's close was the process's own (that close
// waits, so its pipe record comes back before the write) or a child's
// exit the parent waited for (the record comes with wait4's reply); and
// a forked child reading the description whose copy the parent's read
// brought reads past the bytes the parent read, as does the parent
// after it, while a readv (forwarded) drops the copy first. The last
// reader of a pipe none of whose write ends has room is closed posted
// (other: the second pipe's), that of the pipe with room waits.
func TestPipeWritesBehind(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgram(t, dir, "pipebehind", testdataSource(t, "pipes", "pipebehind"))
	for _, tc := range []struct {
		mode string
		// want are the counts of the pipe's calls by where the client
		// answered them ("write(0x4 posted"...).
		want map[string]int
	}{
		{"own", map[string]int{"write(0x4 forwarded": 2, "write(0x4 posted": 15, "read(0x3 forwarded": 1, "read(0x3 posted": 3, "close(0x3 forwarded": 1}},
		{"child", map[string]int{"write(0x4 forwarded": 2}},
		// The parent's first read brings a copy of the bytes after it,
		// the description's: the child's read of that description is
		// answered from it, and the parent's after it, each its own
		// bytes.
		{"shared", map[string]int{"read(0x3 forwarded": 1, "read(0x3 posted": 2}},
		// A readv is forwarded and drops the copy first: it and the
		// read after it take their bytes from the pipe.
		{"readv", map[string]int{"read(0x3 forwarded": 2, "read(0x3 posted": 0}},
		// The second pipe's read end, whose pipe no write end has
		// room in, is closed posted while the first pipe has room;
		// the first pipe's read end waits.
		{"other", map[string]int{"close(0x5 posted": 1, "close(0x5 forwarded": 0, "close(0x3 forwarded": 1, "write(0x4 posted": 4}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			want := tu.Run(t, timeout, dir, "", prog, tc.mode)
			_, log := sandboxLogged(t, dir, []string{"--strace"}, &want, prog, tc.mode)
			got := map[string]int{}
			for _, m := range stracedPipeCall.FindAllStringSubmatch(string(log), -1) {
				got[m[1]+" "+m[2]]++
			}
			t.Logf("%s: %q; pipe calls %v", tc.mode, want.Stdout, got)
			for k, n := range tc.want {
				if got[k] != n {
					t.Errorf("%s: %d, want %d (all: %v)", k, got[k], n, got)
				}
			}
		})
	}
}
