package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// keysPrograms are the C programs of testdata/keys, each compared with a
// native run:
//   - timerfd_abs: absolute timerfds read back no more than they were set
//     to and never fire early (the server's view of the client's clocks is
//     refined from the timer calls' own clock samples, not only Hello's).
//   - sendfile_big: one sendfile of 40 MiB to a regular file moves it all
//     (beyond what a write record carries, it is made durable instead).
//   - dgram_fill: a datagram socketpair holds as many datagrams as Linux's
//     per-datagram charge against SO_SNDBUF allows, polls writable when
//     Linux does, and a sendfile to it when full is EAGAIN (LTP sendfile07).
var keysPrograms = []string{"timerfd_abs", "sendfile_big", "dgram_fill"}

func TestKeysPrograms(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "keys", keysPrograms)
}

// TestSendfileBigServerKill kills -9 the remote sentry while a program
// makes sendfiles larger than a write record may carry (synced copies,
// made durable before their reply): every copy completes once, and the
// output and file are identical to a native run.
func TestSendfileBigServerKill(t *testing.T) {
	tu.RequireRoot(t)
	const copyBytes = 12 << 20
	serverKillRun(t, serverKill{
		prog:  tu.StaticProgram(t, t.TempDir(), "sendfile_loop", testdataSource(t, "keys", "sendfile_loop")),
		kills: 3,
		// Kill inside copy 2k-1 (the file has grown past its start).
		ready: func(dir string, k int) bool {
			return size(filepath.Join(dir, "out")) > int64(2*k-1)*copyBytes+copyBytes/3
		},
		progress:   func(dir string) string { return fmt.Sprintf("%d bytes", size(filepath.Join(dir, "out"))) },
		grace:      "2s",
		runTimeout: 4 * timeout,
		poll:       2 * time.Millisecond,
	})
}

func size(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
