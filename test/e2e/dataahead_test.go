package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// Leases ahead: the first waited copy or read of a file a posted open
// made from a glob's listing asks for the read leases of the files
// listed after it (sentry/client/dataahead.go), so cat's copies of
// those are posted, not waited for.

// aheadCounts matches the client's end-of-run count of leases ahead
// taken and used.
var aheadCounts = regexp.MustCompile(`leases_ahead=(\d+)/(\d+)`)

// writeFiles makes files f0..f<n-1> in dir, file i holding content(i).
func writeFiles(t *testing.T, dir string, n int, content func(i int) string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), []byte(content(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLeasesAhead counts cat's waited sendfiles of n files a glob
// listed: one per maxDataAhead (64) files, not one per file (200 of 200
// without leases ahead), with the output a native run gives. Into a
// regular file too: the lease ahead names its file's gofer handle, so a
// copy from it is posted while copies into another file are in flight
// (without the handle, every copy waited for them). Into one of its
// inputs (f0, the first, which the shell empties), the output is still
// native's. Each run has a directory of its own: a redirection changes
// the files.
func TestLeasesAhead(t *testing.T) {
	tu.RequireRoot(t)
	const n = 200
	tests := []struct {
		name, script string
		// maxWaited is the most waited sendfiles in all.
		maxWaited int
		// out is the file the script writes (relative to the
		// directory above w), compared with native's byte for byte.
		out string
	}{
		{"cat into a pipe", `cat f* | md5sum`, n/64 + 2, ""},
		{"cat of a listed directory's names", `cd .. && cat w/f* | md5sum`, n/64 + 2, ""},
		{"cat into a file", `cat f* > ../out`, n/64 + 2, "out"},
		{"cat into one of its inputs", `cat f* > f0`, n/64 + 3, "w/f0"},
	}
	setup := func(t *testing.T) (dir, w string) {
		dir = t.TempDir()
		w = filepath.Join(dir, "w")
		writeFiles(t, w, n, func(i int) string { return strings.Repeat(fmt.Sprintf("%d ", i), i%7+1) + "\n" })
		return dir, w
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nativeDir, w := setup(t)
			want := tu.Run(t, timeout, w, "", tu.Busybox, "sh", "-c", tc.script)
			if want.ExitCode != 0 {
				t.Fatalf("native: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			dir, w := setup(t)
			logFile := filepath.Join(t.TempDir(), "do.log")
			got := tu.Sandbox(t, timeout, w, "", []string{"--cwd", w, "--strace", "--debug-log", logFile}, tu.Busybox, "sh", "-c", tc.script)
			if got.ExitCode != 0 || got.Stdout != want.Stdout {
				t.Fatalf("sandboxed: exit %d, stdout %q, want %q\n%s", got.ExitCode, got.Stdout, want.Stdout, got.Stderr)
			}
			if tc.out != "" {
				wantOut, err := os.ReadFile(filepath.Join(nativeDir, tc.out))
				if err != nil {
					t.Fatal(err)
				}
				gotOut, err := os.ReadFile(filepath.Join(dir, tc.out))
				if err != nil {
					t.Fatal(err)
				}
				if len(wantOut) == 0 || !bytes.Equal(gotOut, wantOut) {
					t.Fatalf("sandboxed: %s holds %d bytes, want native's %d (equal: %v)", tc.out, len(gotOut), len(wantOut), bytes.Equal(gotOut, wantOut))
				}
			}
			log, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			where := copyCounts(log)
			t.Logf("cat's sendfiles: %v; %s", where, aheadCounts.Find(log))
			if where["forwarded"] > tc.maxWaited {
				t.Errorf("%d of cat's sendfiles waited, want at most %d", where["forwarded"], tc.maxWaited)
			}
			if where["posted"] < n-tc.maxWaited {
				t.Errorf("%d of cat's sendfiles posted, want at least %d", where["posted"], n-tc.maxWaited)
			}
		})
	}
}

// TestLeasesAheadRevoked: another sandbox on the same server rewrites
// two of the files after cat's first copy took their leases ahead
// (one to another size, one to the same): the files' next cat shows
// the new content, as the server revoked the leases before the other
// sandbox's writes returned.
func TestLeasesAheadRevoked(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	w := filepath.Join(dir, "w")
	writeFiles(t, w, 100, func(i int) string { return fmt.Sprintf("old%d\n", i) })
	sock := t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s")
	logFile := filepath.Join(t.TempDir(), "reader.log")
	// The reader's cat of f0 takes the leases of the 64 names after it
	// in the glob's order (f1, f10..f19, f2, ..., f5, f50, ...); then
	// it lets the writer go and waits for it to be done.
	reader := []string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", w, "--debug-log", logFile, "--",
		tu.Busybox, "sh", "-c", `for f in f*; do cat $f; if [ $f = f0 ]; then : > ../go; while [ ! -e ../done ]; do :; done; fi; done`}
	writer := []string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir, "--",
		tu.Busybox, "sh", "-c", `while [ ! -e go ]; do :; done; echo changed > w/f5; echo new50 > w/f50; : > done`}
	r, wout, werr := tu.RunBeside(t, 3*time.Minute, dir, writer, reader)
	if werr != nil {
		t.Fatalf("writer: %v\n%s", werr, wout)
	}
	if r.ExitCode != 0 {
		t.Fatalf("reader: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	want := tu.Run(t, timeout, w, "", tu.Busybox, "sh", "-c", `for f in f*; do cat $f; done`)
	if r.Stdout != want.Stdout {
		t.Errorf("the reader saw\n%s\nwant (the files as the writer left them)\n%s", r.Stdout, want.Stdout)
	}
	if !strings.Contains(r.Stdout, "changed\n") || !strings.Contains(r.Stdout, "new50\n") {
		t.Errorf("the reader did not see the writer's changes:\n%s", r.Stdout)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	m := aheadCounts.FindSubmatch(log)
	if m == nil {
		t.Fatalf("no count of leases ahead in the reader's log")
	}
	t.Logf("reader: leases ahead taken/used %s/%s", m[1], m[2])
	if string(m[1]) == "0" {
		t.Errorf("the reader took no lease ahead: the test did not test them")
	}
}
