package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestOwnedFileRoundTrips counts the waited-for round trips of ldlike's
// rounds (three lseeks, a read, a pread, a write; a pwrite or a
// growing write now and then) on a file it created: per round, the
// difference between a run of few rounds and one of many. The client
// owns the file (docs/ARCHITECTURE.md, "Owned files"): its writes are
// posted and its reads and lseeks answered from its copy, so a round
// waits for nothing (about 5 round trips a round before). In share
// mode a child process moves the shared offset and opens the file by
// name: the child sees every byte written, the parent the child's
// offset, and the output is the native one. In threads mode a second
// thread idles all along (as in the Go toolchain's compile and link):
// the rounds cost what they cost in one thread. In trunc mode ftruncate
// changes the size (as the go command's build cache writes do): it is
// posted, and the copy follows it.
func TestOwnedFileRoundTrips(t *testing.T) {
	tu.RequireRoot(t)
	prog := chaosProgram(t, "ldlike")
	flags := []string{"--force-overlay=false"}
	// dir: the files are made in a directory the program made, so
	// their creations are posted, and the copy starts at the post.
	for _, tc := range []struct{ name, modes string }{
		{"rounds", ""}, {"threads", "threads"}, {"posted creations", "dir"}, {"threads, posted creations", "threads,dir"},
		// trunc: ftruncate after the first writes and now and then
		// in a round, posted as an owned change (truncateBehind).
		{"truncations", "trunc"}, {"threads, posted creations, truncations", "threads,dir,trunc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const few, many = 20, 220
			// A lease that lapses (a heartbeat more than its life
			// late, on a loaded machine) ends the copy for the rest
			// of its file: up to three pairs of runs are made, and
			// the best one counts.
			var w, h float64
			for attempt := range 3 {
				// Two files a run: a round of each per n.
				w, h = roundCosts(t, flags, few, many, func(n int) []string { return []string{prog, "2", strconv.Itoa(n), tc.modes} })
				w, h = w/2, h/2
				t.Logf("attempt %d, per round: %.3f waited-for round trips, %.3f calls answered on the client", attempt, w, h)
				if w <= 0.1 && h >= 4 {
					break
				}
			}
			if w > 0.1 {
				t.Errorf("a round costs %.3f waited-for round trips, want at most 0.1", w)
			}
			if h < 4 {
				t.Errorf("%.3f calls a round answered on the client, want at least 4 (3 lseeks, a read, a pread)", h)
			}
		})
	}
	// Per file: its creating open waits, and its reply brings the owned
	// lease, so the first lseek is answered on the client too (it
	// waited to ask for the lease before: 2 round trips a file). Posted
	// (dir), the creation's reply comes with the fstat after it, which
	// waits for it.
	for _, modes := range []string{"", "dir"} {
		t.Run("files"+modes, func(t *testing.T) {
			const few, many, rounds = 2, 22, "3"
			var w float64
			for attempt := range 3 {
				w, _ = roundCosts(t, flags, few, many, func(n int) []string { return []string{prog, strconv.Itoa(n), rounds, modes} })
				t.Logf("attempt %d: %.2f waited-for round trips a file", attempt, w)
				if w <= 1.2 {
					break
				}
			}
			if w > 1.2 {
				t.Errorf("a file costs %.2f waited-for round trips, want its open's (or fstat's) alone (at most 1.2)", w)
			}
		})
	}
	t.Run("share", func(t *testing.T) {
		argv := []string{prog, "2", "100", "share"}
		want := tu.Run(t, time.Minute, t.TempDir(), "", argv...)
		if _, hits, _ := sandboxCounts(t, t.TempDir(), flags, &want, argv...); hits < 100 {
			t.Errorf("%d calls answered on the client: the second file was not owned", hits)
		}
	})
}

// TestOwnedFileServerKill runs ldlike under do against a server killed
// with kill -9 twice while it writes and reads back its files, beside an
// idle second thread (one thread: chaos's owned-file), its files made in
// the working directory and, again, in a directory it made (their
// creations posted, each copy started at its post) with their sizes
// changed by posted truncations: the writes and truncations posted into
// owned files are in the replay log, so the files and the output are the
// native ones byte for byte.
func TestOwnedFileServerKill(t *testing.T) {
	tu.RequireRoot(t)
	const files, kills = 24, 2
	prog := chaosProgram(t, "ldlike")
	// dir: the creations are posted, each copy started at its post;
	// trunc: ftruncate changes the sizes, posted as owned changes.
	for _, tc := range []struct{ name, modes string }{{"threads", "slow,threads"}, {"posted creations and truncations", "slow,threads,dir,trunc"}} {
		// No comma in the name: the server's socket is in t's
		// directory, and --server takes a list.
		modes := tc.modes
		t.Run(tc.name, func(t *testing.T) {
			made := func(dir string) int {
				m, _ := filepath.Glob(filepath.Join(dir, "out*"))
				o, _ := filepath.Glob(filepath.Join(dir, "o", "out*"))
				return len(m) + len(o)
			}
			log := serverKillRun(t, serverKill{
				prog:     prog,
				args:     []string{strconv.Itoa(files), "300", modes},
				kills:    kills,
				ready:    func(dir string, k int) bool { return made(dir) >= k*files/(kills+1) },
				progress: func(dir string) string { return fmt.Sprintf("%d files", made(dir)) },
			})
			if hits := logInts(t, log, cacheHits)[0]; hits < files*300 {
				t.Errorf("%d calls answered on the client, want at least %d: the files were not owned", hits, files*300)
			}
		})
	}
}
