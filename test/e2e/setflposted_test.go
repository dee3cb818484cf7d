package e2e

import (
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestSetflPosted compares testdata/setflposted.c (F_SETFL as Go's
// os.Open makes it, from a process with two threads; ones that change
// other flags, of a pipe, of a file being written) with native, and
// counts the F_SETFL calls the client posts: those that change only
// O_NONBLOCK of a regular file, a directory or /dev/null, 74 of the 78,
// those of read-only opens
// (which may be posted) before the open's reply too; the one that
// changes nothing is answered without being sent; O_APPEND's, the one
// clearing O_APPEND and the pipe's are waited for. The read-only opens
// of the two-thread process are posted too (but with
// --threaded-opens=false), and their F_SETFLs go before the open's
// reply names the server's description.
func TestSetflPosted(t *testing.T) {
	tu.RequireRoot(t)
	for _, tc := range []struct {
		name  string
		flags []string
		// postedOpens is how many opens are posted at least.
		postedOpens int
	}{
		{name: "opens waited", flags: []string{"--strace", "--threaded-opens=false"}},
		{name: "threaded opens", flags: []string{"--strace"}, postedOpens: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "setflposted.c"))
			want := tu.Run(t, timeout, dir, "", prog)
			_, log := sandboxLogged(t, dir, tc.flags, &want, prog)
			posted := logCount(log, `client: fcntl\(0x[0-9a-f]+, 0x4, [^\n]*where=posted`)
			cached := logCount(log, `client: fcntl\(0x[0-9a-f]+, 0x4, [^\n]*where=cached`)
			all := logCount(log, `client: fcntl\(0x[0-9a-f]+, 0x4, `)
			if posted != 74 || cached != 1 || all != 78 {
				t.Errorf("of %d F_SETFL calls %d posted and %d answered on the client, want 74 and 1 of 78", all, posted, cached)
			}
			if opens := logCount(log, `client: openat\([^\n]*where=posted`); opens < tc.postedOpens {
				t.Errorf("%d opens posted, want %d at least", opens, tc.postedOpens)
			}
		})
	}
}
