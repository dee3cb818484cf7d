package e2e

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestChildWaitOnClient runs testdata/childwait/childwait.c natively and
// in a sandbox: wait4 with WNOHANG finds no child ready while two children
// run (and leaves the status word alone), reports each after SIGCHLD said
// it exited, finds a child's exit_group (posted by the client) and a
// killed child by polling, fails ECHILD without a child and leaves a
// clone child with no exit signal to __WALL. The polls of running
// children, 2 a round, are answered by the client from the process
// records (sentry/client/childwait.go): 200 rounds wait for no more
// calls than 1.
func TestChildWaitOnClient(t *testing.T) {
	tu.RequireRoot(t)
	const rounds = 200
	one, many := roundsAsNatively(t, "childwait", rounds)
	t.Logf("waited calls: %d with 1 round, %d with %d", one, many, rounds)
	if many-one > 10 {
		t.Errorf("waited calls: %d with %d rounds against %d with 1: the %d polls of running children were sent", many, rounds, one, 2*(rounds-1))
	}
}

// makeWait matches make's poll of its children, wait4(-1, &status,
// WNOHANG, NULL), that found none ready, with where it was answered.
var makeWait = regexp.MustCompile(`wait4\(0xffffffff, 0x[0-9a-f]+, 0x1, 0x0\) = 0 .*where=(\w+)`)

// pathGrants matches the server's count of its client's path grants
// that succeeded and that failed because a change since their walk began
// moved the registry's path generation (readlease.PathGrantStats).
var pathGrants = regexp.MustCompile(`path_grants=(\d+) path_grants_moved=(\d+)`)

// mmapsReused matches the client's count of the private mmaps it mapped
// from a plan kept on a read lease (sentry/client/mmapreuse.go).
var mmapsReused = regexp.MustCompile(`mmaps_reused=(\d+)`)

// mmapsReplanned and mmapsForwarded match the client's counts of the
// mmaps mapped from a kept plan of a file no process mapped (the mmap
// posted), and of the file mmaps it waited for.
var (
	mmapsReplanned = regexp.MustCompile(`mmaps_replanned=(\d+)`)
	mmapsForwarded = regexp.MustCompile(`mmaps_forwarded=(\d+)`)
)

// pageReads matches the client's count of PageReads (each waited for
// inside a fault) and of the bytes they asked for; fileReleases its
// count of FileReleases and of those posted (sentry/client/mappable.go).
var (
	pageReads    = regexp.MustCompile(`page_reads=(\d+) page_read_bytes=(\d+)`)
	pagesAhead   = regexp.MustCompile(`pages_ahead=(\d+) pages_ahead_bytes=(\d+)`)
	fileReleases = regexp.MustCompile(`file_releases=(\d+) file_releases_posted=(\d+)`)
)

// TestMakeWaits builds the make workload's project (`make -s -j2` of 9
// C files with the host's gcc, then runs it) under do --strace and counts
// the calls make and gcc still wait for, by kind. make polls wait4(-1,
// WNOHANG) after each SIGCHLD until it finds no child ready (22-24 polls,
// all sent before childwait.go): the client answers them. Every change
// through the server fails the path grants in progress (readlease
// pathGen), but make's grants are short and its changes (162 a build)
// rarely fall inside one: 0-4 of ~260 grants failed so, none of them the
// reason a later stat waited (docs/BENCHMARKS.md, makepath). The bound
// keeps it so. ld.so's mmaps of the libraries each process loads were
// ~700 of make's ~1,450 waited calls; all but the first of a library
// come from the plan kept on its lease (540-560). The first faults of
// each binary and library read its pages: once per file up to its size
// (a second PageRead asked for the rest of its last page: ~37 a build),
// cc1's 33 MB in aligned 4 MiB windows (63 PageReads before, 8 after),
// ~45 PageReads in all (135 before). A file no process maps any more is
// released in a posted FileRelease (~120 a build, all waited before,
// mostly at a process's exit). make waits for ~700-800 calls.
func TestMakeWaits(t *testing.T) {
	tu.RequireRoot(t)
	for _, tool := range []string{"/usr/bin/make", "/usr/bin/gcc"} {
		if _, err := os.Stat(tool); err != nil {
			t.Fatalf("%s is required (test/setup.sh installs it): %v", tool, err)
		}
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tu.WriteMakeProject(dir); err != nil {
		t.Fatal(err)
	}
	r, log := sandboxLogged(t, dir, []string{"--strace", "--force-overlay=false"}, nil, "/bin/sh", "-c", "make -s -j2 && ./prog")
	if strings.TrimSpace(r.Stdout) != "1" {
		t.Fatalf("the built program said %q, want 1\n%s", r.Stdout, r.Stderr)
	}
	polls := map[string]int{}
	for _, m := range makeWait.FindAllStringSubmatch(string(log), -1) {
		polls[m[1]]++
	}
	reused := logInts(t, log, mmapsReused)[0]
	waited := waitedCalls(t, string(log))
	t.Logf("private mmaps mapped from a kept plan: %d", reused)
	if reused < 300 || waited > 1300 {
		t.Errorf("%d private mmaps mapped from a kept plan, %d waited calls; want at least 300 and at most 1,300", reused, waited)
	}
	// ld.so.cache, and the libraries of cc1, as and ld, are mapped by
	// no process between two compilers; glibc maps gconv-modules.cache
	// shared: from kept plans (before: 137-146 forwarded a build).
	replanned, forwarded := logInts(t, log, mmapsReplanned)[0], logInts(t, log, mmapsForwarded)[0]
	t.Logf("mmaps: %d forwarded, %d from a kept plan of a file mapped by nothing", forwarded, replanned)
	if forwarded > 70 || replanned < 30 {
		t.Errorf("%d file mmaps forwarded, %d mapped from a kept plan of a file mapped by nothing; want at most 70 and at least 30", forwarded, replanned)
	}
	reads, releases := logInts(t, log, pageReads), logInts(t, log, fileReleases)
	t.Logf("PageReads %d (%d bytes); FileReleases %d, %d of them posted", reads[0], reads[1], releases[0], releases[1])
	// The files of new ids up to 256 KiB come whole with their plans
	// (ld.so, ld.so.cache, the locale files, small libraries, sh, make,
	// the program: 24 of the 36 first PageReads, 44 before).
	ahead := logInts(t, log, pagesAhead)
	t.Logf("files brought whole by their plans: %d (%d bytes)", ahead[0], ahead[1])
	if reads[0] > 30 || ahead[0] < 15 {
		t.Errorf("%d PageReads, %d files brought by their plans; want at most 30 (a file's pages read to its size, a code file's in aligned windows, a small new one's with its plan) and at least 15", reads[0], ahead[0])
	}
	if releases[0] < 50 || releases[0]-releases[1] > 5 {
		t.Errorf("%d FileReleases, %d of them waited; want at least 50, at most 5 waited", releases[0], releases[0]-releases[1])
	}
	grants := logInts(t, log, pathGrants)
	t.Logf("make's wait4(-1, WNOHANG) = 0: %v; waited calls %d; path grants %d, %d failed by a change meanwhile", polls, waited, grants[0], grants[1])
	if grants[0] < 100 || grants[1]*20 > grants[0] {
		t.Errorf("path grants: %d made, %d failed by a change meanwhile; want at least 100 made and at most 1 in 20 failed so", grants[0], grants[1])
	}
	if polls["cached"] == 0 || polls["forwarded"] > 4 {
		t.Errorf("make's wait4(-1, WNOHANG) = 0: %v, want all but at most 4 answered by the client (cached)", polls)
	}
}
