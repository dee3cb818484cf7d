package e2e

import (
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

// Posted creating opens and the negative unlink
// (sentry/client/postcreate.go, docs/COMPATIBILITY.md "Pipelined
// calls").

// postedCreates matches how many creating opens the client posted (the
// end-of-session line of sentry/client).
var postedCreates = regexp.MustCompile(`posted_creates=(\d+)`)

// createsOf returns the posted creating opens of a client's log.
func createsOf(t *testing.T, log string) int {
	t.Helper()
	m := postedCreates.FindStringSubmatch(log)
	if m == nil {
		t.Fatal("no posted_creates in the client's log")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// postCreateProgram compiles testdata/postcreate/name.c.
func postCreateProgram(t *testing.T, name string) string {
	t.Helper()
	return tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "postcreate", name+".c"))
}

// TestPostedCreates runs testdata/postcreate/creates.c natively and under
// do, with posted creates and without: creations with O_EXCL, O_TRUNC,
// neither, O_APPEND and relative to a dirfd, under several umasks and
// in a setgid directory, each after two unlinks of the missing name, an
// fstat and writes right after the creation, then tar's chown, chmod
// and utimensat; the fd the creation gets when a lower one is free; a
// trailing slash, a missing directory, and names made by mkdir and
// rename after the unlink found them missing. The output must be the
// native one; with posted creates, the creations (six) are posted and
// the second unlink of each name answered on the client.
func TestPostedCreates(t *testing.T) {
	tu.RequireRoot(t)
	prog := postCreateProgram(t, "creates")
	want := runNatively(t, prog)
	tests := []struct {
		name  string
		flags []string
		// minCreates is the fewest creations posted, minUnlinks the
		// fewest unlinks answered on the client.
		minCreates, minUnlinks int
	}{
		{name: "posted", minCreates: 6, minUnlinks: 6},
		{name: "waited", flags: []string{"--posted-creates=false"}, minUnlinks: 6},
		{name: "without the caches", flags: []string{"--read-cache=false"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			got, log, counts := stracedRun(t, dir, tc.flags, "w/", prog)
			compare(t, want, got)
			creates := createsOf(t, log)
			cached := counts["unlink cached"] + counts["unlinkat cached"]
			t.Logf("%d creations posted; unlinks: %d answered on the client, %d forwarded", creates, cached,
				counts["unlink forwarded"]+counts["unlinkat forwarded"])
			if creates < tc.minCreates || (tc.minCreates == 0 && creates != 0) {
				t.Errorf("%d creations posted, want at least %d (none without)", creates, tc.minCreates)
			}
			if cached < tc.minUnlinks || (tc.minUnlinks == 0 && cached != 0) {
				t.Errorf("%d unlinks answered on the client, want at least %d (none without)", cached, tc.minUnlinks)
			}
		})
	}
}

// createdOpen matches busybox tar's open of a member in the client's
// strace (O_WRONLY|O_CREAT|O_EXCL) and where the client answered it.
var createdOpen = regexp.MustCompile(`openat\(AT_FDCWD, "(?:\./)?top/[^"]*", 0xc1, 0x[0-9a-f]+\) = \d+ \(0x[0-9a-f]+\): tid=\d+ where=(\w+)`)

// dirStat matches tar's stat of a member's directory that waited for the
// server.
var dirStat = regexp.MustCompile(`newfstatat\(AT_FDCWD, "(?:\./)?top/d[01]", .*where=forwarded`)

// TestPostedCreateTarCalls runs busybox tar -xf of 200 files in two
// directories under do, with posted creates and without, and counts the
// calls tar waited for per file. Per member tar unlinks its name
// (ENOENT, waited), creates it with O_CREAT|O_EXCL, copies its data
// (sendfile, posted) and restores its attributes (posted); before the
// next member it stats the member's directory. The unlink's lease on the
// name's absence lets the client post the creation, with the fd it
// predicts, and send it at once; a stat of the directory that comes
// before the creation's reply (it must see the directory's new mtime)
// waits for that reply, which brings the directory's stat, instead of
// asking the server (a round trip) unless the reply takes over 100 ms.
// Counted: 2.1 waited calls per file before (the unlink and the
// creation), 1.1 after (the unlink), besides the stats of the
// directories that still asked the server (a few at the start, more on
// a machine loaded enough to delay a reply 100 ms).
func TestPostedCreateTarCalls(t *testing.T) {
	tu.RequireRoot(t)
	const files = 200
	archive := tarOf(t, files)
	tests := []struct {
		name  string
		flags []string
		// minPosted is the fewest creations posted per file; the
		// waited calls per file but the stats of the directories are
		// between minWaited and maxWaited.
		minPosted, minWaited, maxWaited float64
	}{
		{name: "waited", flags: []string{"--posted-creates=false", "--complete-names=false"}, minWaited: 1.9, maxWaited: 2.3},
		{name: "posted", flags: []string{"--complete-names=false"}, minPosted: 0.95, minWaited: 0.9, maxWaited: 1.3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, log, _ := stracedRun(t, dir, tc.flags, "top", tu.Busybox, "tar", "-xf", archive)
			checkTarExtracted(t, dir, files)
			where := map[string]int{}
			for _, m := range createdOpen.FindAllStringSubmatch(log, -1) {
				where[m[1]]++
			}
			dirStats := len(dirStat.FindAllString(log, -1))
			waited := float64(waitedCalls(t, log)) / files
			posted := float64(where["posted"]) / files
			others := waited - float64(dirStats)/files
			t.Logf("per file: %.2f waited calls, %.2f of them stats of the directory; creations %.2f posted, %.2f forwarded",
				waited, float64(dirStats)/files, posted, float64(where["forwarded"])/files)
			if posted < tc.minPosted || (tc.minPosted == 0 && posted != 0) {
				t.Errorf("%.2f creations posted per file, want at least %v (none without)", posted, tc.minPosted)
			}
			if others < tc.minWaited || others > tc.maxWaited {
				t.Errorf("%.2f waited calls per file besides the stats of the directories, want %v to %v", others, tc.minWaited, tc.maxWaited)
			}
		})
	}
}

// ownerFstat matches tar's fstat of the /etc/passwd or /etc/group it
// opens for each member, by where it was answered.
var ownerFstat = regexp.MustCompile(`newfstatat\(0x4, "", 0x[0-9a-f]+, 0x1000\) = 0 \(0x0\): tid=\d+ where=(\w+)`)

// TestOverlayTarCalls runs busybox tar -xf of 400 files under do's
// default in-memory overlay, whose files have no gofer handle, and
// counts where tar's fstat of the /etc/passwd and /etc/group it opens
// for each member (to map owner names) was answered. It comes while the
// previous member's data is written behind (a posted sendfile to a file
// tar just created), which could be to any file without a handle; but a
// file created after the passwd file's lease arrived is not that file,
// so the read lease answers. Counted: 0.96 forwarded per member before
// (489 waited calls in all), 0.01 after (105).
func TestOverlayTarCalls(t *testing.T) {
	tu.RequireRoot(t)
	const files = 400
	archive := tarTree(t, files, 20)
	script := "tar -xf " + archive + " && find top -type f | wc -l"
	dir := t.TempDir()
	want := tu.Run(t, time.Minute, dir, "", tu.Busybox, "sh", "-c", script)
	got, log, _ := stracedRun(t, t.TempDir(), []string{"--force-overlay"}, "", tu.Busybox, "sh", "-c", script)
	if got.Stdout != want.Stdout {
		t.Errorf("output %q, natively %q", got.Stdout, want.Stdout)
	}
	where := map[string]int{}
	for _, m := range ownerFstat.FindAllStringSubmatch(log, -1) {
		where[m[1]]++
	}
	forwarded := float64(where["forwarded"]) / files
	t.Logf("per member: owner-file fstats %.2f forwarded, %.2f cached; %d waited calls in all",
		forwarded, float64(where["cached"])/files, waitedCalls(t, log))
	if where["forwarded"]+where["cached"] < files {
		t.Fatalf("%d fstats of the owner files, want at least %d (one per member): %v", where["forwarded"]+where["cached"], files, where)
	}
	if forwarded > 0.05 {
		t.Errorf("%.2f fstats of the owner files forwarded per member, want at most 0.05", forwarded)
	}
}

// postedNM matches racer.c's creator's posted creations of n and m
// (opens, or mkdirs).
var postedNM = regexp.MustCompile(`(?:openat\(AT_FDCWD, "[^"]*/([nm])", 0x[0-9a-f]+, 0x[0-9a-f]+\)|mkdir\("[^"]*/([nm])", 0x[0-9a-f]+\)) = .*where=posted`)

// TestPostedCreateTwoSandboxes runs testdata/postcreate/racer.c as a
// creator and another party in two sandboxes on one server (one gofer),
// and as two host processes: the creator's unlink finds a name missing,
// the other then makes it (a file, or a directory), and the creator's
// next open with O_CREAT must fail with EEXIST (EISDIR), or its mkdir
// with EEXIST, as natively:
// the other's creation revoked the creator's lease on the name's absence
// before its reply. The server's leases last a minute, so a lease not
// revoked would have the creator's open posted.
func TestPostedCreateTwoSandboxes(t *testing.T) {
	tu.RequireRoot(t)
	prog := postCreateProgram(t, "racer")
	run := func(t *testing.T, kind string, argv func(role, dir string) []string) string {
		dir := t.TempDir()
		r, out, err := tu.RunBeside(t, 3*time.Minute, dir, append(argv("other", dir), kind), append(argv("creator", dir), kind))
		if r.ExitCode != 0 || err != nil {
			t.Fatalf("creator: exit %d\n%s%s\nother: %v\n%s", r.ExitCode, r.Stdout, r.Stderr, err, out)
		}
		return out + r.Stdout
	}
	sock := t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s")
	for _, kind := range []string{"file", "dir", "mkdir"} {
		t.Run(kind, func(t *testing.T) {
			native := run(t, kind, func(role, dir string) []string { return []string{prog, role, dir} })
			logs := t.TempDir()
			sandboxed := run(t, kind, func(role, dir string) []string {
				return []string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir, "--strace",
					"--debug-log", filepath.Join(logs, role+".log"), "--", prog, role, dir}
			})
			if sandboxed != native {
				t.Errorf("in two sandboxes:\n%s\nnatively:\n%s", sandboxed, native)
			}
			log, err := os.ReadFile(filepath.Join(logs, "creator.log"))
			if err != nil {
				t.Fatal(err)
			}
			// The second unlink was answered from the lease, and the
			// creation of m, which no one else made, was posted, not
			// n's: the creator held the lease on n's absence until the
			// other's creation revoked it. (Its creation of sig/ready
			// is posted too: sig is a directory it made.)
			if !regexp.MustCompile(`unlink\("[^"]*/n"\) = -1 ENOENT.*where=cached`).Match(log) {
				t.Error("the creator's second unlink was not answered on the client: it held no lease on the name's absence")
			}
			posted := map[string]int{}
			for _, m := range postedNM.FindAllSubmatch(log, -1) {
				posted[string(m[1])+string(m[2])]++
			}
			if posted["n"] != 0 || posted["m"] != 1 {
				t.Errorf("the creator posted creations of n and m %v, want m's only", posted)
			}
		})
	}
}

// TestPostedCreateServerKill runs test/chaos/testdata/tarnames.c (tar's
// per-member calls: mkdir and stat of the directory, an unlink that
// finds the name missing, a creation, a write, a close, a stat; now and
// then its directory renamed away) under do while the remote sentry is
// killed with kill -9 three times and restarted on the same address:
// the creations posted and the writes behind them in flight are re-sent
// to the new server, which must make each file at the fd the client
// chose, so the program's output and files are the native ones.
func TestPostedCreateServerKill(t *testing.T) {
	tu.RequireRoot(t)
	const files, kills = 6000, 3
	made := func(dir string) int {
		m, _ := filepath.Glob(filepath.Join(dir, "t", "*", "f*"))
		return len(m)
	}
	log := serverKillRun(t, serverKill{
		prog:  tu.StaticProgramFile(t, t.TempDir(), filepath.Join("..", "chaos", "testdata", "tarnames.c")),
		args:  []string{strconv.Itoa(files)},
		kills: kills,
		// Kill once the program has made more files since the last one.
		ready:    func(dir string, k int) bool { return made(dir) >= k*files/(kills+1) },
		progress: func(dir string) string { return fmt.Sprintf("%d files", made(dir)) },
	})
	if creates := createsOf(t, string(log)); creates < files/2 {
		t.Errorf("%d creations posted of %d: the test tested little", creates, files)
	}
}

// fullCreate matches full.c's last line: the creation that failed (its
// number) and how.
var fullCreate = regexp.MustCompile(`^create (\d+): (.*)\n$`)

// TestPostedCreateFails runs testdata/postcreate/full.c, which creates
// files as tar does until one fails, natively and under do in a tmpfs
// with few inodes: natively the open that finds no inode left fails
// with ENOSPC; under do the client posted it (the name was missing and
// creatable), the server's creation fails, the client logs it and
// forgets the fd, and the fstat that follows fails with EBADF, as
// docs/COMPATIBILITY.md says. The same creation fails in both.
func TestPostedCreateFails(t *testing.T) {
	tu.RequireRoot(t)
	prog := postCreateProgram(t, "full")
	run := func(t *testing.T, sandboxed bool) (int, string, string) {
		dir := t.TempDir()
		tu.Tmpfs(t, dir, "nr_inodes=24,size=1m")
		var r tu.Result
		log := ""
		if sandboxed {
			r, log, _ = stracedRun(t, dir, nil, "", prog, dir)
		} else {
			r = tu.Run(t, time.Minute, dir, "", prog, dir)
		}
		m := fullCreate.FindStringSubmatch(r.Stdout)
		if r.ExitCode != 0 || m == nil {
			t.Fatalf("exit %d, output %q", r.ExitCode, r.Stdout)
		}
		k, _ := strconv.Atoi(m[1])
		return k, m[2], log
	}
	nk, native, _ := run(t, false)
	sk, sandboxed, log := run(t, true)
	t.Logf("natively creation %d: %s; under do: %s", nk, native, sandboxed)
	if native != "No space left on device" {
		t.Errorf("natively: %q, want ENOSPC", native)
	}
	if sk != nk || !regexp.MustCompile(`^fd \d+, fstat: Bad file descriptor$`).MatchString(sandboxed) {
		t.Errorf("under do creation %d: %q; want creation %d told an fd whose fstat fails with EBADF", sk, sandboxed, nk)
	}
	if !strings.Contains(log, "a posted creating open failed") || !strings.Contains(log, "no space left on device") {
		t.Error("the failed posted creation was not logged with its errno")
	}
}

// creationWaitCounts matches the client's counts of the calls that
// waited for a posted creation's reply and of those whose wait ran out.
var creationWaitCounts = regexp.MustCompile(`creation_waits=(\d+) creation_waits_late=(\d+)`)

// TestPostedCreateStatDir runs testdata/postcreate/statdir.c natively and
// under do: each creation (posted) is followed at once by a stat of its
// directory, with no call between them that sends the posted queue. The
// stat waits for the creation's reply, which brings the directory's new
// attributes, and sends the queue the creation waits in (postcreate.go
// waitCreations). With a long post delay and heartbeat (a heartbeat
// takes the queue along), a stat that did not send it would wait until
// its wait ran out (maxCreationWait, 100 ms).
func TestPostedCreateStatDir(t *testing.T) {
	tu.RequireRoot(t)
	prog := postCreateProgram(t, "statdir")
	want := runNatively(t, prog)
	dir := t.TempDir()
	got, log, _ := stracedRun(t, dir, []string{"--post-delay", "1s", "--heartbeat", "1s"}, "d/", prog)
	compare(t, want, got)
	creates := createsOf(t, log)
	n := logInts(t, []byte(log), creationWaitCounts)
	t.Logf("%d creations posted; %d calls waited for a creation's reply, %d of them until their wait ran out", creates, n[0], n[1])
	if creates < 18 || n[0] < 18 {
		t.Fatalf("%d of 20 creations posted, %d stats waited for one: the test no longer counts what it says", creates, n[0])
	}
	if n[1] > 2 {
		t.Errorf("%d of %d waits for a creation's reply ran out, want at most 2", n[1], n[0])
	}
}
