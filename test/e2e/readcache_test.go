package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// cacheHits matches how many calls the client's read cache answered and
// how many leases it took (the end-of-session line of sentry/client).
var cacheHits = regexp.MustCompile(`read_cache_hits=(\d+) leases=(\d+)`)

// readCacheProgram compiles testdata/readcache/name.c.
func readCacheProgram(t *testing.T, name string) string {
	t.Helper()
	return tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "readcache", name+".c"))
}

// sandboxCounts runs argv under do with flags in dir, checks its output
// against want (when set), and returns the client's waited-for calls and
// read cache hits.
func sandboxCounts(t *testing.T, dir string, flags []string, want *tu.Result, argv ...string) (waited, hits, leases int) {
	t.Helper()
	_, log := sandboxLogged(t, dir, flags, want, argv...)
	h := logInts(t, log, cacheHits)
	return logInts(t, log, callCounts)[0], h[0], h[1]
}

// roundCosts runs argv(n) natively and under do with flags for n = few
// and many, each in a fresh directory, compares the sandboxed output with
// the native one, and returns the client's waited-for calls and read
// cache hits per n: the difference between the two runs over many-few,
// so that start-up cancels out.
func roundCosts(t *testing.T, flags []string, few, many int, argv func(n int) []string) (waited, hits float64) {
	t.Helper()
	var w, h [2]int
	for i, n := range []int{few, many} {
		args := argv(n)
		want := tu.Run(t, time.Minute, t.TempDir(), "", args...)
		w[i], h[i], _ = sandboxCounts(t, t.TempDir(), flags, &want, args...)
	}
	d := float64(many - few)
	return float64(w[1]-w[0]) / d, float64(h[1]-h[0]) / d
}

// chaosProgram compiles the program of a chaos workload
// (test/chaos/testdata/NAME.c).
func chaosProgram(t *testing.T, name string) string {
	t.Helper()
	return tu.StaticProgramFile(t, t.TempDir(), filepath.Join("..", "chaos", "testdata", name+".c"))
}

// TestReadCacheRoundTrips counts the waited-for round trips of what tar x
// does per member to map ids to names (open, fstat, read to the end and
// close /etc/passwd and /etc/group), with the read cache and without: per
// round, the difference between a run of few rounds and one of more.
// With the cache and no posted opens, the opens are the only calls
// waited for (the fstat and the reads are answered from the lease, the
// offset advance and the close are posted). A process with a second
// thread (idle in a futex wait, a local call: nothing of it in flight)
// does the same with --threaded-posting (its reads answered, its closes
// posted), and waits as without the cache without it.
func TestReadCacheRoundTrips(t *testing.T) {
	tu.RequireRoot(t)
	prog := readCacheProgram(t, "pwloop")
	const few, many = 10, 40
	tests := []struct {
		name  string
		flags []string
		// args are pwloop's after the count.
		args []string
		// minWaited and maxWaited bound the waited-for round trips of
		// one round (two files).
		minWaited, maxWaited float64
		cached               bool
	}{
		{name: "without the read cache", flags: []string{"--read-cache=false"}, minWaited: 6, maxWaited: 10},
		// The opens posted too: TestPostedOpenRoundTrips.
		{name: "with the read cache", flags: []string{"--posted-opens=false"}, minWaited: 2, maxWaited: 2, cached: true},
		{name: "with the read cache, two threads", flags: []string{"--posted-opens=false", "--threaded-posting"}, args: []string{"thread"}, minWaited: 2, maxWaited: 2, cached: true},
		{name: "two threads, without --threaded-posting", flags: []string{"--threaded-posting=false"}, args: []string{"thread"}, minWaited: 6, maxWaited: 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var waited, hits, leases [2]int
			for i, n := range []int{few, many} {
				dir := t.TempDir()
				argv := append([]string{prog, strconv.Itoa(n)}, tc.args...)
				want := tu.Run(t, time.Minute, dir, "", argv...)
				waited[i], hits[i], leases[i] = sandboxCounts(t, dir, tc.flags, &want, argv...)
			}
			perRound := float64(waited[1]-waited[0]) / (many - few)
			hitsPerRound := float64(hits[1]-hits[0]) / (many - few)
			t.Logf("per round: %.2f waited-for round trips, %.2f calls answered from the cache", perRound, hitsPerRound)
			// A quarter of a call per round of slack: a post that
			// waits now and then (a full socket buffer), or a lease
			// that expired during the run and was taken again.
			if perRound < tc.minWaited-0.25 || perRound > tc.maxWaited+0.25 {
				t.Errorf("a round costs %.2f waited-for round trips, want %v to %v", perRound, tc.minWaited, tc.maxWaited)
			}
			if tc.cached != (hitsPerRound > 0) {
				t.Errorf("%.2f calls per round answered from the cache", hitsPerRound)
			}
			if !tc.cached && leases[1] > 0 {
				t.Errorf("%d leases granted to a client that could use none", leases[1])
			}
		})
	}
}

// TestReadCacheCoherence runs testdata/readcache/coherent.c natively and
// under do: a file read through one description while changed through
// others, by a child, a shared mapping, a rename over it and an unlink
// must look as on Linux at every step, with the read cache answering
// (some of) the reads.
func TestReadCacheCoherence(t *testing.T) {
	tu.RequireRoot(t)
	prog := readCacheProgram(t, "coherent")
	want := tu.Run(t, timeout, t.TempDir(), "", prog)
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	_, hits, _ := sandboxCounts(t, t.TempDir(), nil, &want, prog)
	if hits == 0 {
		t.Error("no call was answered from the read cache: the test tested nothing")
	}
}

// TestReadCacheTwoSandboxes runs testdata/readcache/pingpong.c as a
// writer and a reader in two sandboxes on one server (one gofer), and as
// two host processes: the reader re-reads files it holds open until the
// writer's change shows, and must never see the data older than the flag
// that announced it. The server's leases last a minute, so a change the
// server did not revoke would leave the reader spinning on its stale
// copy until its 60 s timeout. The reader's private mappings of the data
// at each step must show it too (mmapreuse.go).
func TestReadCacheTwoSandboxes(t *testing.T) {
	tu.RequireRoot(t)
	prog := readCacheProgram(t, "pingpong")
	const steps = "30"
	run := func(t *testing.T, argv func(role, dir string) []string) {
		dir := t.TempDir()
		for _, f := range []string{"data", "flag", "ack"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("0000"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		w, rout, rerr := tu.RunBeside(t, 3*time.Minute, dir, argv("reader", dir), argv("writer", dir))
		if w.ExitCode != 0 || rerr != nil {
			t.Fatalf("writer: exit %d\n%s%s\nreader: %v\n%s", w.ExitCode, w.Stdout, w.Stderr, rerr, rout)
		}
		if rout != "reader: "+steps+" steps\n" || w.Stdout != "writer: "+steps+" steps\n" {
			t.Errorf("writer said %q, reader %q", w.Stdout, rout)
		}
	}
	t.Run("native", func(t *testing.T) {
		run(t, func(role, dir string) []string { return []string{prog, role, dir, steps} })
	})
	t.Run("two sandboxes", func(t *testing.T) {
		sock := t.TempDir()
		g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
		s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s")
		logs := t.TempDir()
		run(t, func(role, dir string) []string {
			return []string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir,
				"--debug-log", filepath.Join(logs, role+".log"), "--", prog, role, dir, steps}
		})
		log, err := os.ReadFile(filepath.Join(logs, "reader.log"))
		if err != nil {
			t.Fatal(err)
		}
		if m := cacheHits.FindSubmatch(log); m == nil || string(m[1]) == "0" {
			t.Errorf("the reader's cache answered nothing (%s): the test tested nothing", m)
		}
		// Two of the reader's three mappings a step from its kept plan,
		// the third with the file mapped by nothing (posted).
		if reused, replanned := logInts(t, log, mmapsReused)[0], logInts(t, log, mmapsReplanned)[0]; reused < 40 || replanned < 20 {
			t.Errorf("the reader mapped %d private mmaps from a kept plan in %s steps, %d of them with the file mapped by nothing; want at least 40 and 20", reused, steps, replanned)
		}
	})
}

// TestReadCacheWritableFile runs testdata/readcache/rwread.c: reads of a
// file the process holds open O_RDWR and writes through the same
// description. Its steps must look as on Linux with the cache answering
// some reads; a loop of preads of a file written once (the benchmark's
// read4k) is answered from the cache after the second read (waited
// round trips per pread: 1 before writable descriptions were leased);
// a loop of pwrite and pread in turn of a file that was there before
// the open takes no lease (each write would revoke it) and waits once
// per round, for the pread; of the file the open created, the client
// owns it (TestOwnedFileRoundTrips) and waits for nothing (1 before).
func TestReadCacheWritableFile(t *testing.T) {
	tu.RequireRoot(t)
	prog := readCacheProgram(t, "rwread")
	t.Run("steps", func(t *testing.T) {
		dir := t.TempDir()
		want := tu.Run(t, time.Minute, dir, "", prog, "steps")
		if want.ExitCode != 0 {
			t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
		}
		if _, hits, _ := sandboxCounts(t, t.TempDir(), nil, &want, prog, "steps"); hits == 0 {
			t.Error("no call was answered from the read cache: the test tested nothing")
		}
	})
	const few, many = 50, 550
	tests := []struct {
		name, mode string
		// existing: rw.tmp is there before the program opens it.
		existing bool
		// maxWaited bounds the waited-for round trips per round;
		// maxLeases the leases taken per round.
		minWaited, maxWaited, maxLeases float64
	}{
		{"loop", "loop", false, 0, 0.02, 0.01},
		{"mixed", "mixed", false, 0, 0.02, 0.01},
		{"mixed-existing", "mixed", true, 1, 1, 0.01},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var waited, hits, leases [2]int
			for i, n := range []int{few, many} {
				dir := t.TempDir()
				if tc.existing {
					if err := os.WriteFile(filepath.Join(dir, "rw.tmp"), []byte("old"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				waited[i], hits[i], leases[i] = sandboxCounts(t, dir, nil, nil, prog, tc.mode, strconv.Itoa(n))
			}
			w := float64(waited[1]-waited[0]) / (many - few)
			h := float64(hits[1]-hits[0]) / (many - few)
			l := float64(leases[1]-leases[0]) / (many - few)
			t.Logf("per round: %.3f waited-for round trips, %.3f answered from the cache, %.3f leases", w, h, l)
			// A tenth of a call per round of slack: a post that
			// waits now and then, or a lease that expired and was
			// taken again.
			if w < tc.minWaited-0.1 || w > tc.maxWaited+0.1 {
				t.Errorf("a round costs %.3f waited-for round trips, want %v to %v", w, tc.minWaited, tc.maxWaited)
			}
			if l > tc.maxLeases+0.01 {
				t.Errorf("%.3f leases per round, want at most %v", l, tc.maxLeases)
			}
		})
	}
}
