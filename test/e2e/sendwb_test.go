package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// Leased copies: sendfile and copy_file_range from a file the client
// holds a read lease on into one it writes behind are answered by the
// client and posted with the bytes (sentry/client/sendfile.go).

// copyWhere matches a client strace line of sendfile or copy_file_range
// and where it was answered.
var copyWhere = regexp.MustCompile(`client: (sendfile|copy_file_range)\([^\n]*: tid=\d+ where=(\w+)`)

// copyCounts counts the strace lines of log's sendfile and
// copy_file_range calls by where they were answered.
func copyCounts(log []byte) map[string]int {
	where := map[string]int{}
	for _, m := range copyWhere.FindAllSubmatch(log, -1) {
		where[string(m[2])]++
	}
	return where
}

func sendwbProgram(t *testing.T, name string) string {
	t.Helper()
	return tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "sendwb", name+".c"))
}

// TestLeasedCopyCases runs testdata/sendwb/cases.c natively and in the
// sandbox: sendfile and copy_file_range with and without offsets, from
// a short source, at its end, with a count of 0, into O_APPEND,
// read-only and same-file targets, then the targets' contents and both
// offsets. The output must be equal, and the copies from the leased
// source into the new files must have been answered by the client
// (posted, or at the end of the source cached), the others forwarded.
func TestLeasedCopyCases(t *testing.T) {
	tu.RequireRoot(t)
	prog := sendwbProgram(t, "cases")
	native := runNatively(t, prog)
	dir := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "do.log")
	got := tu.Sandbox(t, time.Minute, dir, "", []string{"--cwd", dir, "--strace", "--debug-log", logFile}, prog)
	compare(t, native, got)
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	where := copyCounts(log)
	t.Logf("sendfile and copy_file_range answered: %v", where)
	// cases.c: 4 sendfile and 4 copy_file_range that move bytes, 3
	// sendfile at or past the end or of 0 bytes; 6 calls the server
	// must answer (flags, O_APPEND twice, a read-only target, the
	// same file, a bad fd).
	if where["posted"] != 8 || where["cached"] != 3 || where["forwarded"] != 6 {
		t.Errorf("copies answered %v, want 8 posted, 3 cached, 6 forwarded", where)
	}
}

// perMemberCosts runs argv(n) in the sandbox for few and many files
// and returns the waited calls per file (the difference, so that
// start-up cancels out) and where the larger run's sendfile and
// copy_file_range calls were answered. check looks at the run's
// directory.
func perMemberCosts(t *testing.T, few, many int, argv func(dir string, n int) []string, check func(dir string)) (float64, map[string]int) {
	t.Helper()
	run := func(n int) (int, map[string]int) {
		dir := t.TempDir()
		_, log := sandboxLogged(t, dir, []string{"--strace"}, nil, argv(dir, n)...)
		check(dir)
		return logInts(t, log, callCounts)[0], copyCounts(log)
	}
	w1, _ := run(few)
	w2, where := run(many)
	perFile := float64(w2-w1) / float64(many-few)
	t.Logf("waited calls: %d for %d files, %d for %d: %.2f per file; sendfile and copy_file_range: %v", w1, few, w2, many, perFile, where)
	return perFile, where
}

// TestLeasedCopyTarCosts: busybox tar -xf copies each member's data with
// sendfile from the archive, which the client holds a read lease on,
// into the file it just created: each is posted, none waited for (one
// per member before), and the server no longer reads the archive. (The
// close that follows is posted.)
func TestLeasedCopyTarCosts(t *testing.T) {
	tu.RequireRoot(t)
	const few, many = 20, 120
	perFile, where := perMemberCosts(t, few, many, func(dir string, n int) []string {
		return []string{tu.Busybox, "tar", "-xf", tarOf(t, n)}
	}, func(dir string) {
		got, err := os.ReadFile(filepath.Join(dir, "top", "d1", "f001"))
		if err != nil || string(got) != strings.Repeat("0123456789abcdef", 32) {
			t.Fatalf("a file extracted: %q, %v", got, err)
		}
	})
	// A 256 KiB lease window may end inside the archive: the sendfile
	// crossing it is forwarded.
	if where["posted"] < many-2 || where["forwarded"] > 2 {
		t.Errorf("tar's sendfile of %d members: %v, want at least %d posted and at most 2 forwarded", many, where, many-2)
	}
	if perFile > 9.25 {
		t.Errorf("%.2f waited calls per member, want at most 9.25", perFile)
	}
}

// TestLeasedCopyCpCosts: busybox cp copies a file with sendfile until
// one returns 0. The first is forwarded and its reply leases the source
// to the client, which answers the one that finds the end: a file costs
// one waited call fewer than before (5 of 6: the target's newfstatat,
// the source's, both openat, the first sendfile).
func TestLeasedCopyCpCosts(t *testing.T) {
	tu.RequireRoot(t)
	const few, many = 10, 60
	src := t.TempDir()
	for i := 0; i < many; i++ {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), []byte(strings.Repeat("x", 100+i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	perFile, where := perMemberCosts(t, few, many, func(dir string, n int) []string {
		files := []string{tu.Busybox, "cp"}
		for i := 0; i < n; i++ {
			files = append(files, filepath.Join(src, fmt.Sprintf("f%03d", i)))
		}
		return append(files, dir)
	}, func(dir string) {
		got, err := os.ReadFile(filepath.Join(dir, "f005"))
		if err != nil || string(got) != strings.Repeat("x", 105) {
			t.Fatalf("a file copied: %q, %v", got, err)
		}
	})
	if where["cached"] < many || where["forwarded"] > many {
		t.Errorf("cp's sendfile of %d files: %v, want the %d that find the end cached, at most %d forwarded", many, where, many, many)
	}
	if perFile > 5.25 {
		t.Errorf("%.2f waited calls per file, want at most 5.25 (the sendfile that finds the end cached)", perFile)
	}
}

// TestLeasedCopyTwoSandboxes runs testdata/sendwb/twocopy.c in two
// sandboxes of one server: a writer that keeps truncating and rewriting
// a file (publishing each version in another file) and a copier that
// sendfiles it whole into a new file, from a read lease when it holds
// one, and checks that the copy holds the count sendfile returned of a
// version at least as new as the one published before it. A copier
// whose server read the source itself when it ran the posted call (not
// the bytes the lease showed) finds copies shorter than their count
// after a truncation (36 of 1,107 in one run); one that used a revoked
// lease would find versions older than published.
func TestLeasedCopyTwoSandboxes(t *testing.T) {
	tu.RequireRoot(t)
	prog := sendwbProgram(t, "twocopy")
	const versions = "150"
	run := func(t *testing.T, argv func(role, dir string) []string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "ver"), []byte("00000000"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "src"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		c, wtext, werr := tu.RunBeside(t, 3*time.Minute, dir, argv("writer", dir), argv("copier", dir))
		if c.ExitCode != 0 || werr != nil || wtext != "writer: "+versions+" versions\n" {
			t.Fatalf("copier: exit %d\n%s%s\nwriter: %v\n%s", c.ExitCode, c.Stdout, c.Stderr, werr, wtext)
		}
		t.Logf("%s", c.Stderr)
		return c.Stdout
	}
	if native := run(t, func(role, dir string) []string { return []string{prog, role, dir, versions} }); native != "copier: 0 violations\n" {
		t.Fatalf("natively the copier said:\n%s", native)
	}
	sock := t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s")
	logs := t.TempDir()
	sandboxed := run(t, func(role, dir string) []string {
		return []string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir, "--strace",
			"--debug-log", filepath.Join(logs, role+".log"), "--", prog, role, dir, versions}
	})
	if sandboxed != "copier: 0 violations\n" {
		t.Errorf("in a sandbox the copier said:\n%s", sandboxed)
	}
	log, err := os.ReadFile(filepath.Join(logs, "copier.log"))
	if err != nil {
		t.Fatal(err)
	}
	where := copyCounts(log)
	t.Logf("the copier's sendfile: %v", where)
	if where["posted"] < 20 {
		t.Errorf("the copier's sendfile: %v, want at least 20 posted (copies from a lease racing the writer)", where)
	}
}
