package e2e

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// postedOpens matches how many opens the client posted (the
// end-of-session line of sentry/client).
var postedOpens = regexp.MustCompile(`posted_opens=(\d+)`)

// postOpenProgram compiles testdata/postopen/name.c.
func postOpenProgram(t *testing.T, name string) string {
	t.Helper()
	return tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "postopen", name+".c"))
}

// openCounts runs argv under do with flags in dir, checks its output
// against want (when set) and returns the client's waited-for calls and
// posted opens.
func openCounts(t *testing.T, dir string, flags []string, want *tu.Result, argv ...string) (waited, opens int) {
	t.Helper()
	_, log := sandboxLogged(t, dir, flags, want, argv...)
	return logCounts(t, log)
}

// logCounts returns the waited-for calls and posted opens of a client's
// log.
func logCounts(t *testing.T, log []byte) (waited, opens int) {
	t.Helper()
	return logInts(t, log, callCounts)[0], logInts(t, log, postedOpens)[0]
}

// TestPostedOpenRoundTrips counts the waited-for round trips per round
// of what tar x does per member to map ids to names
// (testdata/readcache/pwloop.c: open, fstat, read to the end and close
// /etc/passwd and /etc/group), of busybox tar -xf itself (a round is a
// file), and of a shell loop that execs a dynamic program (ld.so opens
// /etc/ld.so.cache and libc, fstats, reads and maps them), with posted
// opens and without: per round, the difference between a run of few
// rounds and one of more. With them, pwloop's rounds wait for nothing
// (the opens are posted, the fstat and the reads answered from the
// file's lease before the open's reply, the closes posted), a tar'd file
// waits for two calls less (its opens of /etc/passwd and /etc/group),
// and an exec for its two opens and an fstat less.
func TestPostedOpenRoundTrips(t *testing.T) {
	tu.RequireRoot(t)
	pwloop := readCacheProgram(t, "pwloop")
	dynamic := "/bin/true"
	if f, err := elf.Open(dynamic); err != nil {
		t.Fatal(err)
	} else {
		interp := false
		for _, p := range f.Progs {
			interp = interp || p.Type == elf.PT_INTERP
		}
		f.Close()
		if !interp {
			t.Fatalf("%s is not a dynamic program here: this test needs one", dynamic)
		}
	}
	archives := map[int]string{}
	tests := []struct {
		name      string
		few, many int
		argv      func(n int) []string
		// maxWaited bounds the waited-for round trips of a round with
		// posted opens; minSaved is the fewest a round saves with them,
		// minOpens the fewest opens a round posts (of two: a slow round
		// outlives the answer's path leases now and then, and the next
		// open waits to take them again).
		maxWaited, minSaved, minOpens float64
	}{
		{name: "pwloop", few: 10, many: 40, argv: func(n int) []string { return []string{pwloop, strconv.Itoa(n)} },
			maxWaited: 0, minSaved: 2, minOpens: 2},
		{name: "busybox tar -xf", few: 10, many: 50, argv: func(n int) []string {
			if archives[n] == "" {
				archives[n] = tarOf(t, n)
			}
			return []string{tu.Busybox, "tar", "-xf", archives[n]}
		}, maxWaited: 5, minSaved: 1.5, minOpens: 1.5},
		{name: "exec of a dynamic program", few: 5, many: 20, argv: func(n int) []string {
			return []string{tu.Busybox, "sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do %s; i=$((i+1)); done; echo $i`, n, dynamic)}
		}, maxWaited: 20, minSaved: 1.5, minOpens: 1.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			perRound := map[bool][2]float64{}
			for _, posted := range []bool{false, true} {
				flags := []string{fmt.Sprintf("--posted-opens=%v", posted)}
				var waited, opens [2]int
				for i, n := range []int{tc.few, tc.many} {
					dir := t.TempDir()
					want := tu.Run(t, time.Minute, dir, "", tc.argv(n)...)
					waited[i], opens[i] = openCounts(t, dir, flags, &want, tc.argv(n)...)
				}
				rounds := float64(tc.many - tc.few)
				perRound[posted] = [2]float64{float64(waited[1]-waited[0]) / rounds, float64(opens[1]-opens[0]) / rounds}
				t.Logf("posted opens %v: per round %.2f waited-for round trips, %.2f posted opens", posted, perRound[posted][0], perRound[posted][1])
			}
			without, with := perRound[false], perRound[true]
			// A quarter of a call per round of slack: a post that waits
			// now and then (a full socket buffer), a lease taken again.
			if with[0] > tc.maxWaited+0.25 || without[0]-with[0] < tc.minSaved-0.25 {
				t.Errorf("a round waits for %.2f round trips with posted opens, %.2f without; want at most %v, and %v fewer",
					with[0], without[0], tc.maxWaited, tc.minSaved)
			}
			if with[1] < tc.minOpens-0.25 || without[1] != 0 {
				t.Errorf("%.2f opens posted per round (%.2f with --posted-opens=false), want at least %v (none)", with[1], without[1], tc.minOpens)
			}
		})
	}
}

// TestPostedOpenFDs runs testdata/postopen/fdorder.c natively and under
// do: the fds that opens (many of them posted, their fd chosen by the
// client), dups, dup2s, closes, failed opens and a forked child's opens
// get, what is read and stat'd through them and which fds are open with
// which close-on-exec flag must be the native ones.
func TestPostedOpenFDs(t *testing.T) {
	tu.RequireRoot(t)
	prog := postOpenProgram(t, "fdorder")
	dir := t.TempDir()
	for name, data := range map[string]string{"a": "alpha-content\n", "b": "bravo-content-longer\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 12
	want := tu.Run(t, time.Minute, dir, "", prog, strconv.Itoa(rounds))
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	_, opens := openCounts(t, dir, nil, &want, prog, strconv.Itoa(rounds))
	// Seven opens a round, the first of each kind waited for.
	if opens < rounds*4 {
		t.Errorf("%d opens posted in %d rounds: the test tested little", opens, rounds)
	}
}

// TestPostedOpenTwoSandboxes runs testdata/postopen/reopen.c as a reader
// and a writer in two sandboxes on one server (one gofer), and as two
// host processes: the reader opens a file again and again (posted opens)
// until the writer removes it (unlink) or renames another file over it
// (replace) and announces it; the reader's next open must then fail with
// ENOENT, or open the new file, as natively. The server's leases last a
// minute, so a change the server did not revoke the reader's path lease
// for would leave its opens finding the old file. A posted open that
// meets the change on the server before the revocation reached the
// reader (an fd that answers EBADF, docs/COMPATIBILITY.md) is counted on
// the reader's stderr, not failed.
func TestPostedOpenTwoSandboxes(t *testing.T) {
	tu.RequireRoot(t)
	prog := postOpenProgram(t, "reopen")
	run := func(t *testing.T, mode string, argv func(role, dir string) []string) string {
		dir := t.TempDir()
		for name, data := range map[string]string{"f": "old", "g": "new"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		r, wout, werr := tu.RunBeside(t, 3*time.Minute, dir, append(argv("writer", dir), mode), argv("reader", dir))
		if r.ExitCode != 0 || werr != nil {
			t.Fatalf("reader: exit %d\n%s%s\nwriter: %v\n%s", r.ExitCode, r.Stdout, r.Stderr, werr, wout)
		}
		if wout != "writer: "+mode+" done\n" {
			t.Errorf("writer said %q", wout)
		}
		return r.Stdout
	}
	sock := t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s")
	for _, mode := range []string{"unlink", "replace"} {
		t.Run(mode, func(t *testing.T) {
			native := run(t, mode, func(role, dir string) []string { return []string{prog, role, dir} })
			logs := t.TempDir()
			sandboxed := run(t, mode, func(role, dir string) []string {
				return []string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir,
					"--debug-log", filepath.Join(logs, role+".log"), "--", prog, role, dir}
			})
			if sandboxed != native {
				t.Errorf("the reader in a sandbox said %q, natively %q", sandboxed, native)
			}
			log, err := os.ReadFile(filepath.Join(logs, "reader.log"))
			if err != nil {
				t.Fatal(err)
			}
			if _, opens := logCounts(t, log); opens == 0 {
				t.Error("the reader posted no open: the test tested nothing")
			}
		})
	}
}

// TestPostedOpenServerKill runs test/chaos/testdata/openloop.c (opens,
// fstats, reads and closes of the same files in a loop: posted opens
// whose fstat and reads the read lease answers before their replies)
// under do while the remote sentry is killed with kill -9 three times and
// restarted on the same address: the posted opens, lseeks and closes in
// flight are re-sent to the new server, which must install each
// description at the fd the client chose, so the program's output (a
// checksum of every fd number and byte read) and files are the native
// ones.
func TestPostedOpenServerKill(t *testing.T) {
	tu.RequireRoot(t)
	const rounds, kills = 20000, 3
	progress := func(dir string) int { return lines(filepath.Join(dir, "progress.txt")) }
	log := serverKillRun(t, serverKill{
		prog:  tu.StaticProgramFile(t, t.TempDir(), filepath.Join("..", "chaos", "testdata", "openloop.c")),
		args:  []string{strconv.Itoa(rounds)},
		kills: kills,
		// Kill once the loop has made progress since the last one (a
		// line in progress.txt every 1000 rounds).
		ready:    func(dir string, k int) bool { return progress(dir) >= k*rounds/1000/(kills+1) },
		progress: func(dir string) string { return fmt.Sprintf("%d progress lines", progress(dir)) },
	})
	if _, opens := logCounts(t, log); opens < rounds {
		t.Errorf("%d opens posted in %d rounds of three opens: the test tested little", opens, rounds)
	}
}
