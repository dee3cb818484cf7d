package e2e

import (
	"os"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// netPrograms are the C programs of testdata/net (memfd_create, splice,
// tee, copy_file_range, sendmmsg/recvmmsg, signalfd, inotify), each run
// natively and in the sandbox with the same output expected.
var netPrograms = []string{"memfd", "splice", "mmsg", "inotify"}

// netSource returns testdata/net/NAME.c with common.h inlined
// (testutil.StaticProgram compiles a single file).
func netSource(t *testing.T, name string) string {
	t.Helper()
	return testdataSource(t, "net", name)
}

// TestNetPrograms compares the programs of testdata/net with native runs.
func TestNetPrograms(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "net", netPrograms)
}

// TestRecoveryPrograms kills the remote sentry while a program holds the
// state its name says (it signals "phase1" and waits for "go"); the
// program's output after the kill must match a native run.
//   - memfd_recover: a memfd with data, seals, a shared mapping and a
//     second description;
//   - splice_recover: pipes holding bytes that splice and tee put there
//     and a file copy_file_range wrote (the bytes were in no call's
//     inputs, so the server's write records carried them).
//   - inotify_recover: an inotify instance whose watches (with a hole
//     in their descriptors) come back with their descriptors and masks.
func TestRecoveryPrograms(t *testing.T) {
	tu.RequireRoot(t)
	for _, name := range []string{"memfd_recover", "splice_recover", "inotify_recover"} {
		t.Run(name, func(t *testing.T) {
			want, got, k := killAtPhase1(t, tu.StaticProgram(t, t.TempDir(), name, netSource(t, name)))
			compare(t, want, got)
			if t.Failed() {
				clientLog, _ := os.ReadFile(k.logFile)
				t.Logf("server log:\n%s\nclient log:\n%s", k.server.Log, clientLog)
			}
		})
	}
}
