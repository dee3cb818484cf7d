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

// fdStat matches a successful fstat of an fd (fstat, or newfstatat with
// an empty path) in the client's strace and where it was answered.
var fdStat = regexp.MustCompile(`(?:\bfstat\(0x[0-9a-f]+|newfstatat\(0x[0-9a-f]+, ""), 0x[0-9a-f]+[^)]*\) = 0 .*where=(\w+)`)

// openStatOpen matches a successful read-only open (flags ending in 0:
// O_RDONLY, no O_CREAT) of testdata/openstat's file or directory and
// where it was answered.
var openStatOpen = regexp.MustCompile(`openat\(AT_FDCWD, "d/(?:sub|f)", 0x[0-9a-f]*0, 0x0\) = \d+ .*where=(\w+)`)

// TestFstatOfOpenedPath runs testdata/openstat/openstat.c natively and
// under do: 103 rounds of an open and fstat of a directory without
// O_DIRECTORY (glibc's locale directories), of a file (gcc's headers),
// and of a directory after its lstat (find), with a chmod, a write and a
// mkdir changing what they find in between. The fstats are answered by
// the client from the stat answer of the open's path (the open's reply's
// Reply.opened_stat, or the lstat's answer; sentry/client/openstat.go),
// and the opens are posted from the first one's kept answer (the first
// open of a path wants a path lease), yet each fstat after a change sees
// it, as on Linux (the output must match the native run's).
func TestFstatOfOpenedPath(t *testing.T) {
	tu.RequireRoot(t)
	log := stracedTestdata(t, "openstat", "openstat")
	stats, opens := whereCounts(fdStat, log), whereCounts(openStatOpen, log)
	t.Logf("fstats: %v; opens: %v", stats, opens)
	const calls = 103 * 3
	if stats["cached"]+stats["forwarded"] != calls || stats["forwarded"] > 10 {
		t.Errorf("fstats answered %v, want %d in all, at most 10 forwarded", stats, calls)
	}
	// The first of each of the three opens, and those after a change
	// (one file open after the chmod and one after the write, two
	// directory opens after the mkdir), are waited for.
	if opens["posted"]+opens["forwarded"] != calls || opens["forwarded"] > 20 {
		t.Errorf("opens answered %v, want %d in all, at most 20 forwarded", opens, calls)
	}
}

// listing matches a successful getdents64 in the client's strace: its
// result and where it was answered.
var listing = regexp.MustCompile(`getdents64\(0x[0-9a-f]+, 0x[0-9a-f]+, 0x[0-9a-f]+\) = (\d+) .*where=(\w+)`)

// threadListing is listing with the calling thread's id between (the
// second group).
var threadListing = regexp.MustCompile(`getdents64\(0x[0-9a-f]+, 0x[0-9a-f]+, 0x[0-9a-f]+\) = (\d+) \(0x[0-9a-f]+\): tid=(\d+) where=(\w+)`)

// TestListingEndOnClient runs testdata/openstat/relist.c natively and
// under do: 20 rounds of a directory listed to its end, then again, then
// after a rewinddir, then after a name was made and a rewinddir (the
// server lists again, the new name too). Each getdents64 that returns 0
// is answered by the client (the reply of the one before said the
// listing was at its end, Reply.listing_eof; an lseek forgets that). The
// output must match the native run's. With threads, a second thread
// lists the directory through a description of its own and rewinds it
// all along: the first thread's listings end on the client as well.
func TestListingEndOnClient(t *testing.T) {
	tu.RequireRoot(t)
	for _, mode := range []string{"", "threads"} {
		t.Run("mode="+mode, func(t *testing.T) {
			var args []string
			if mode != "" {
				args = append(args, mode)
			}
			log := stracedTestdata(t, "openstat", "relist", args...)
			ends := map[string]int{}
			for _, m := range threadListing.FindAllSubmatch(log, -1) {
				// The first thread's (the second's rounds vary).
				if string(m[1]) == "0" && string(m[2]) == "1" {
					ends[string(m[3])]++
				}
			}
			t.Logf("getdents64 at the end: %v", ends)
			// 4 listings a round, each ending with a call that
			// returns 0 after the call that listed the entries (and
			// reached the end: the buffer holds them all), or at
			// once (the second).
			if ends["cached"]+ends["forwarded"] != 80 || ends["forwarded"] > 4 {
				t.Errorf("getdents64 returning 0 answered %v, want 80 in all, at most 4 forwarded", ends)
			}
		})
	}
}

// TestFindPerDirectory counts the waited-for round trips per directory
// of busybox find over trees of 20 and 80 directories (3 files each,
// nested 4 deep) beside one directory of 20 or 80 subdirectories (a file
// each): find lstats an entry (answered from its directory's listing),
// opens it (posted on that answer), fstats the fd (answered from the
// same answer) and lists it until getdents64 returns 0 (the last call
// answered on the client). The listing itself is answered from the
// listing sent ahead with its parent's (sentry/client/dirahead.go) and
// posted: the first listing waits, and a directory of more than 16
// subdirectories has the next 16 listed ahead while find is in the last
// of the ones before (one waited call per directory before listings
// ahead, four before the listings' answers). The output must be the
// native one.
func TestFindPerDirectory(t *testing.T) {
	tu.RequireRoot(t)
	const few, many = 20, 80
	script := `find t -type f -size +0 | sort | md5sum`
	tree := func(t *testing.T, n int) string {
		dir := t.TempDir()
		for i := 0; i < n; i++ {
			sub := filepath.Join(dir, "t", fmt.Sprintf("a%d", i%5), fmt.Sprintf("b%d", i%4), fmt.Sprintf("c%d", i))
			wide := filepath.Join(dir, "t", "w", fmt.Sprintf("e%d", i))
			for _, d := range []string{sub, wide} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for j := 0; j < 3; j++ {
				if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", j)), []byte(strings.Repeat("x", j)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(wide, "f"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	var waited, posted, unposted, dirs [2]int
	for i, n := range []int{few, many} {
		dir := tree(t, n)
		want := tu.Run(t, time.Minute, dir, "", tu.Busybox, "sh", "-c", script)
		_, log := sandboxLogged(t, dir, []string{"--force-overlay=false"}, &want, tu.Busybox, "sh", "-c", script)
		c := logInts(t, log, callCounts)
		waited[i], posted[i], unposted[i] = c[0], c[1], logInts(t, log, unpostedCalls)[0]
		// t, its 5 a*, their 4 b* each (as many as n reaches), n c*;
		// w and its n e*.
		dirs[i] = 1 + 5 + min(n, 20) + n + 1 + n
	}
	d := float64(dirs[1] - dirs[0])
	perDir := float64(waited[1]-waited[0]) / d
	postedPerDir := float64(posted[1]-posted[0]) / d
	unpostedPerDir := float64(unposted[1]-unposted[0]) / d
	t.Logf("per directory: %.2f waited-for round trips (%v in all), %.2f posted calls, %.2f taken back unsent", perDir, waited, postedPerDir, unpostedPerDir)
	if perDir > 0.25 {
		t.Errorf("a directory costs %.2f waited-for round trips, want at most 0.25 (its listing sent ahead)", perDir)
	}
	// The added directories are leaves (c*, e*): their open and the
	// listing's posted call are taken back by the close, none sent (3
	// posted calls a directory before), but under load now and then.
	if postedPerDir > 1.5 || unpostedPerDir < 1 {
		t.Errorf("a directory posts %.2f calls, %.2f taken back unsent: want at most 1.5 posted and 1 (of 2) taken back", postedPerDir, unpostedPerDir)
	}
}

// unpostedCalls matches the count of posted calls taken back unsent.
var unpostedCalls = regexp.MustCompile(`unposted=(\d+)`)

// TestListingAheadChanges lists a directory whose subdirectories'
// listings come ahead with its own, then changes them before they are
// listed: a file made in one (revokes the listing ahead's lease on its
// names), one removed from another, a third renamed away, a fourth
// removed and made again (another inode under the same path); a fifth,
// unchanged, is answered from its listing ahead. ls of each must see
// what Linux shows (the native run's output), and the unchanged one's
// getdents64 must be the client's.
func TestListingAheadChanges(t *testing.T) {
	tu.RequireRoot(t)
	script := `mkdir -p d; for s in made removed renamed remade same; do mkdir d/$s; touch d/$s/f; done
ls d >/dev/null; touch d/made/g; rm d/removed/f; mv d/renamed d/renamed2; rm -r d/remade; mkdir d/remade; touch d/remade/h
for s in made removed renamed renamed2 remade same; do echo "$s:"; ls d/$s 2>&1 | sed 's/^ls: //'; done`
	argv := []string{tu.Busybox, "sh", "-c", script}
	want := tu.Run(t, time.Minute, t.TempDir(), "", argv...)
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	_, log := sandboxLogged(t, t.TempDir(), []string{"--strace", "--force-overlay=false"}, &want, argv...)
	var fromAhead int
	for _, m := range listing.FindAllSubmatch(log, -1) {
		if string(m[1]) != "0" && string(m[2]) == "cached" {
			fromAhead++
		}
	}
	t.Logf("listings answered on the client: %d\n%s", fromAhead, want.Stdout)
	if fromAhead == 0 {
		t.Error("no getdents64 was answered from a listing ahead: the test tested nothing")
	}
}

// missingUnder matches a newfstatat, readlink or open of a name under
// testdata/openstat/under.c's missing directory that failed ENOENT, and
// where it was answered.
var missingUnder = regexp.MustCompile(`(?:newfstatat|readlink|openat)\((?:AT_FDCWD, )?"nodir/sub/h\d+\.h"[^)]*\) = -1 ENOENT .*where=(\w+)`)

var (
	missingExec   = regexp.MustCompile(`execve\("bin/p\d+"[^)]*\) = -1 ENOENT .*where=(\w+)`)
	missingAccess = regexp.MustCompile(`access\("bin/a\d+"[^)]*\) = -1 ENOENT .*where=(\w+)`)
)

// TestMissingExecOnClient runs testdata/openstat/execmissing.c natively
// and under do: after a stat of a missing name in a directory (whose
// ENOENT answer brings the directory's names), 100 execs of other
// missing names there fail ENOENT on the client
// (sentry/client/openmissing.go), as make's and gcc's execvp in each
// PATH directory; one with an unreadable argv too, as on Linux since 6.8
// (the file is looked up before argv is read); once
// a file is made under one of the names, its exec finds it (the creation
// revokes the names before its reply); another stat brings them again.
// Then 100 accesses of missing names there, answered on the client too:
// the program runs as root with its permitted capabilities effective, so
// its access calls walk with the real ids as its stats with the fs ids
// (realWalksAsFS; else the first access waits and its answer answers
// the others). The output must match the native run's.
func TestMissingExecOnClient(t *testing.T) {
	tu.RequireRoot(t)
	log := stracedTestdata(t, "openstat", "execmissing")
	acc := whereCounts(missingAccess, log)
	t.Logf("accesses failing ENOENT: %v", acc)
	if n := acc["cached"] + acc["forwarded"]; n != 100 || acc["cached"] < 95 {
		t.Errorf("accesses failing ENOENT answered %v, want 100, at least 95 on the client", acc)
	}
	where := whereCounts(missingExec, log)
	t.Logf("execs failing ENOENT: %v", where)
	// 200 ENOENT, all answered on the client (but for a lease lost
	// under load now and then); all were forwarded before.
	if n := where["cached"] + where["forwarded"]; n != 200 || where["cached"] < 190 {
		t.Errorf("execs failing ENOENT answered %v, want 200, at least 190 on the client", where)
	}
}

// TestMissingPrefixOnClient runs testdata/openstat/under.c natively and
// under do: a stat, a readlink and an open of each of 100 names under a
// directory that does not exist fail ENOENT, answered on the client once
// a readlink of the directory found it missing, as gcc's of each include
// directory does (sentry/client/missingprefix.go);
// once the directory is made, and then a file in it, the same calls find
// them (the mkdir revokes the missing name's lease before its reply). The
// output must match the native run's. Once made, the first ENOENT answer
// of a name in the directory also brings the directory's complete names
// (PathLease.missing_in), which answer the other names' calls; the
// creation of the file revokes them, and the next ENOENT brings them
// again: 2 of the 897 calls wait (300 on the client before the
// directory's names came with its answers).
func TestMissingPrefixOnClient(t *testing.T) {
	tu.RequireRoot(t)
	where := whereCounts(missingUnder, stracedTestdata(t, "openstat", "under"))
	t.Logf("calls failing ENOENT under a missing directory: %v", where)
	// 300 while the directory is missing, 300 while it is empty and
	// 297 once a file is in it, all answered on the client but the
	// first of each of the last two (and a lease lost under load now
	// and then).
	if n := where["cached"] + where["forwarded"]; n != 897 || where["forwarded"] > 10 {
		t.Errorf("calls failing ENOENT answered %v, want 897, at most 10 forwarded", where)
	}
}

// TestFtsFstatOnClient runs GNU find over a tree of 60 directories (3
// files each, nested 3 deep) natively and under do: its fts lstats each
// entry relative to its parent's fd (answered from the parent's
// listing), opens it relative to that fd (waited) and fstats the fd
// (newfstatat with an empty path). The fstat is answered on the client
// from the lstat answer under the same dirfd (sentry/client/openstat.go;
// before, a dirfd-relative open kept none and every fstat waited). The
// output must be the native one.
func TestFtsFstatOnClient(t *testing.T) {
	tu.RequireRoot(t)
	const dirs = 60
	dir := t.TempDir()
	for i := 0; i < dirs; i++ {
		sub := filepath.Join(dir, "t", fmt.Sprintf("a%d", i%4), fmt.Sprintf("c%d", i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 3; j++ {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", j)), []byte(strings.Repeat("x", j)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	script := `/usr/bin/find t -type f -size +0 | sort | md5sum`
	want := tu.Run(t, time.Minute, dir, "", tu.Busybox, "sh", "-c", script)
	_, log := sandboxLogged(t, dir, []string{"--force-overlay=false", "--strace"}, &want, tu.Busybox, "sh", "-c", script)
	stats := whereCounts(fdStat, log)
	t.Logf("fstats of the directories' fds: %v", stats)
	// t, its 4 a*, the 60 c*, and a few of the shell's and sort's: the
	// first directories' wait (their lstat was not answered yet from a
	// listing). 73 of 90 waited before.
	if n := stats["cached"] + stats["forwarded"]; n < 1+4+dirs || stats["forwarded"] > 15 {
		t.Errorf("fstats answered %v, want at least %d in all, at most 15 forwarded", stats, 1+4+dirs)
	}
}
