package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// callCounts matches the line the client logs at its end: how many
// forwarded calls it waited for and how many it sent without waiting
// (sentry/client's remoteSession).
var callCounts = regexp.MustCompile(`forwarded calls: waited=(\d+) posted=(\d+)`)

// forwardedCalls runs argv under do in dir and returns the client's
// waited-for and posted call counts.
func forwardedCalls(t *testing.T, dir string, argv ...string) (waited, posted int) {
	t.Helper()
	return forwardedCallsWith(t, dir, nil, argv...)
}

// forwardedCallsWith is forwardedCalls with do's flags.
func forwardedCallsWith(t *testing.T, dir string, flags []string, argv ...string) (waited, posted int) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "do.log")
	r := tu.Sandbox(t, 3*time.Minute, dir, "", append([]string{"--cwd", dir, "--debug-log", logFile}, flags...), argv...)
	if r.ExitCode != 0 {
		t.Fatalf("%v: exit %d\n%s%s", argv, r.ExitCode, r.Stdout, r.Stderr)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	m := callCounts.FindSubmatch(log)
	if m == nil {
		t.Fatalf("no call counts in the client's log:\n%s", log)
	}
	waited, _ = strconv.Atoi(string(m[1]))
	posted, _ = strconv.Atoi(string(m[2]))
	return waited, posted
}

// tarOf archives n files of 512 bytes in two directories, natively, and
// returns the archive's path.
func tarOf(t *testing.T, n int) string {
	t.Helper()
	return tarTree(t, n, 2)
}

// tarTree archives n files of 512 bytes, file i in top/d<i%dirs>/f<i>,
// natively, and returns the archive's path.
func tarTree(t *testing.T, n, dirs int) string {
	t.Helper()
	return tarTreeNamed(t, n, dirs, "top")
}

// tarTreeNamed is tarTree with the members named as top spells the
// tree's top directory ("top", or "./top" as `tar -C dir .` names
// members).
func tarTreeNamed(t *testing.T, n, dirs int, top string) string {
	t.Helper()
	src := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 32)
	for i := 0; i < n; i++ {
		sub := filepath.Join(src, "top", fmt.Sprintf("d%d", i%dirs))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	archive := filepath.Join(t.TempDir(), fmt.Sprintf("files%d.tar", n))
	if r := tu.Run(t, time.Minute, src, "", tu.Busybox, "tar", "-cf", archive, top); r.ExitCode != 0 {
		t.Fatalf("tar -c: exit %d\n%s", r.ExitCode, r.Stderr)
	}
	return archive
}

// checkTarExtracted fails t unless dir holds the n members of tarOf(t, n)
// with their contents.
func checkTarExtracted(t *testing.T, dir string, n int) {
	t.Helper()
	checkTreeExtracted(t, dir, n, 2)
}

// checkTreeExtracted fails t unless dir holds the n members of
// tarTree(t, n, dirs) with their contents.
func checkTreeExtracted(t *testing.T, dir string, n, dirs int) {
	t.Helper()
	data := strings.Repeat("0123456789abcdef", 32)
	for i := 0; i < n; i++ {
		name := filepath.Join(dir, "top", fmt.Sprintf("d%d", i%dirs), fmt.Sprintf("f%03d", i))
		if got, err := os.ReadFile(name); err != nil || string(got) != data {
			t.Fatalf("%s extracted: %q, %v", name, got, err)
		}
	}
}

// TestRoundTripsPerFile counts the client→server round trips a workload
// costs per file (the difference between a run on few files and one on
// more, so start-up and exit cancel out): the calls the application
// waited for, and all forwarded calls. It fails when a change makes a
// file cost more waited round trips than the table says (a regression of
// the pipelining in sentry/client) and reports the counts.
func TestRoundTripsPerFile(t *testing.T) {
	tu.RequireRoot(t)
	const few, many = 10, 50
	tests := []struct {
		name string
		// run runs the workload on n files in dir.
		run func(t *testing.T, dir string, n int) (waited, posted int)
		// maxWaited is the most waited-for round trips a file may cost.
		maxWaited float64
	}{
		{"busybox tar -xf", func(t *testing.T, dir string, n int) (int, int) {
			return forwardedCalls(t, dir, tu.Busybox, "tar", "-xf", tarOf(t, n))
		}, 14},
		{"files500 (sh: echo $i > f$i, cat f*, rm; cat's output to a file, so that no pipe read counts)", func(t *testing.T, dir string, n int) (int, int) {
			return forwardedCalls(t, dir, tu.Busybox, "sh", "-c",
				fmt.Sprintf(`mkdir w && cd w && i=0; while [ $i -lt %d ]; do echo $i > f$i; i=$((i+1)); done; cat f* >../all; cd .. && wc -l <all && rm -r w all`, n))
		}, 1},
		// do's default in-memory overlay gives no gofer handles: the
		// shell's write after its waited open of a file that exists
		// (O_TRUNC) is written behind by the file's inode number
		// (FileState.ino): 3 → 2 a file (the open and cat's copy wait).
		{"files in do's overlay rewritten (sh: echo $i > f$i of existing files, cat f* to a file)", func(t *testing.T, dir string, n int) (int, int) {
			if err := os.Mkdir(filepath.Join(dir, "w"), 0o755); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				if err := os.WriteFile(filepath.Join(dir, "w", fmt.Sprintf("f%d", i)), []byte("old\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return forwardedCallsWith(t, dir, []string{"--force-overlay"}, tu.Busybox, "sh", "-c",
				fmt.Sprintf(`cd w && i=0; while [ $i -lt %d ]; do echo $i > f$i; i=$((i+1)); done; cat f* >../all; cd .. && wc -l <all`, n))
		}, 2},
		// The benchmark's form: wc's read of the pipe waits (the pipe's
		// bytes are the server's) when cat's copies into it have not
		// outrun it; cat's copies of the files are posted from the
		// leases its first copy asked ahead (one wait per 64 files),
		// and its open, its copy that finds the file's end, the shell's
		// creation and write, rm's access and unlink do not wait.
		{"files500 (the benchmark's: cat f* | wc -l)", func(t *testing.T, dir string, n int) (int, int) {
			return forwardedCalls(t, dir, tu.Busybox, "sh", "-c",
				fmt.Sprintf(`mkdir w && cd w && i=0; while [ $i -lt %d ]; do echo $i > f$i; i=$((i+1)); done; cat f* | wc -l; cd .. && rm -r w`, n))
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w1, p1 := tc.run(t, t.TempDir(), few)
			w2, p2 := tc.run(t, t.TempDir(), many)
			waited := float64(w2-w1) / (many - few)
			posted := float64(p2-p1) / (many - few)
			t.Logf("per file: %.2f waited-for round trips, %.2f posted calls", waited, posted)
			// A quarter of a call per file of slack: now and then a
			// post waits (the socket's buffer is full) or a listing
			// takes one more getdents chunk, which is not a regression.
			if waited > tc.maxWaited+0.25 {
				t.Errorf("a file costs %.2f waited-for round trips, want at most %v", waited, tc.maxWaited)
			}
		})
	}
}

// TestWriteBehind runs testdata/wb/writebehind.c natively and under do:
// writes, umask and metadata calls the client posts must look to the
// program, its children and its mappings as on Linux.
func TestWriteBehind(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "wb", "writebehind.c"))
	want := tu.Run(t, timeout, t.TempDir(), "", prog)
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, prog)
	compare(t, want, got)
}
