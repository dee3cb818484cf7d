package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// lentCounts matches the fds the server lent the client's read cache and
// the reads made through them (the end-of-session line of sentry/client).
var lentCounts = regexp.MustCompile(`lent_fds=(\d+) lent_fd_reads=(\d+)`)

// writeLentFile writes testdata/readcache/lentread.c's file of size bytes
// into dir.
func writeLentFile(t *testing.T, dir string, size int) string {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>10)
	}
	path := filepath.Join(dir, "big")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLentFDReads runs testdata/readcache/lentread.c natively and under
// do: reads spread over an 8 MiB file (beyond its lease's window) must
// return the file's bytes and leave its offset as on Linux, with the
// client reading them through the fd the server lent (one round trip for
// the fd instead of one for each read outside the 256 KiB windows
// forwarded reads bring: waited calls fewer by at least 15 than with
// --mapped-fds=false, which lends none); and reads of a far
// offset right after the process's own write there through another
// description must see the write.
func TestLentFDReads(t *testing.T) {
	tu.RequireRoot(t)
	prog := readCacheProgram(t, "lentread")
	const size = 8 << 20
	var waited [2]int
	for i, tc := range []struct {
		name  string
		flags []string
		lent  bool
	}{
		{"lent", nil, true},
		{"not lent", []string{"--mapped-fds=false"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := writeLentFile(t, dir, size)
			want := tu.Run(t, time.Minute, dir, "", prog, "scatter", file)
			if want.ExitCode != 0 {
				t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			_, log := sandboxLogged(t, dir, tc.flags, &want, prog, "scatter", file)
			lent := logInts(t, log, lentCounts)
			waited[i] = logInts(t, log, callCounts)[0]
			t.Logf("%d waited calls, %d fds lent, %d reads through them", waited[i], lent[0], lent[1])
			if tc.lent && (lent[0] != 1 || lent[1] < 60) {
				t.Errorf("%d fds lent, %d reads through them; want 1 and at least 60 of the 96", lent[0], lent[1])
			}
			if !tc.lent && lent[0] != 0 {
				t.Errorf("%d fds lent with --mapped-fds=false", lent[0])
			}
		})
	}
	if waited[0]+15 > waited[1] {
		t.Errorf("%d waited calls with lent fds, %d without: want at least 15 fewer", waited[0], waited[1])
	}
	t.Run("selfwrite", func(t *testing.T) {
		native := t.TempDir()
		want := tu.Run(t, time.Minute, native, "", prog, "selfwrite", writeLentFile(t, native, size))
		if want.ExitCode != 0 {
			t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
		}
		dir := t.TempDir()
		_, log := sandboxLogged(t, dir, nil, &want, prog, "selfwrite", writeLentFile(t, dir, size))
		if lent := logInts(t, log, lentCounts); lent[0] != 1 {
			t.Errorf("%d fds lent: the test tested nothing", lent[0])
		}
	})
}
