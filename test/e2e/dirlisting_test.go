package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

var (
	// headerReadlink matches lookups.c's readlink of a header, which
	// finds no symbolic link, and where it was answered.
	headerReadlink = regexp.MustCompile(`readlink\("inc/h\d+\.h"[^)]*\) = -1 EINVAL .*where=(\w+)`)
	// moduleStat matches its stat of a module's source, which finds it.
	moduleStat = regexp.MustCompile(`newfstatat\(AT_FDCWD, "inc/m\d+\.py"[^)]*\) = 0 .*where=(\w+)`)
	// headerOpen matches its open of a header.
	headerOpen = regexp.MustCompile(`openat\(AT_FDCWD, "inc/h\d+\.h"[^)]*\) = \d+ .*where=(\w+)`)
)

// TestDirListingLookups runs testdata/dirlisting/lookups.c natively and
// under do: gcc's readlink and open of each of 100 headers, and Python's
// stat of each of 100 modules' extension name (ENOENT) and source, all
// in a directory of 200 files the program never lists. The first
// lookup's reply brings the directory's listing (Reply.dir_listing),
// whose lstat answers answer the readlinks (EINVAL) and the sources'
// stats on the client: 100 and 100 waited before, each first lookup of
// a name. The opens still wait (their replies bring the headers' data).
// After 3,000 stats in a directory too big to list (3,000 path leases
// held), the listing still comes: it counts against the client's path
// budget (32,768) alone; when read and path leases shared one table of
// 4,096, it kept less room than listings need, and each of the 200
// lookups waited.
func TestDirListingLookups(t *testing.T) {
	tu.RequireRoot(t)
	const n = 100
	prog := tu.StaticProgram(t, t.TempDir(), "lookups", testdataSource(t, "dirlisting", "lookups"))
	tests := []struct {
		name string
		// big is how many files of big/ the program stats first.
		big int
	}{
		{name: "cold"},
		{name: "after 3,000 path leases", big: 3000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			inc, big := filepath.Join(dir, "inc"), filepath.Join(dir, "big")
			for _, d := range []string{inc, big} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				for _, name := range []string{fmt.Sprintf("h%d.h", i), fmt.Sprintf("m%d.py", i)} {
					if err := os.WriteFile(filepath.Join(inc, name), []byte("/* x */\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			for i := range tc.big {
				if err := os.WriteFile(filepath.Join(big, fmt.Sprintf("f%d", i)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{prog, strconv.Itoa(n), strconv.Itoa(tc.big)}
			want := tu.Run(t, timeout, dir, "", args...)
			if want.ExitCode != 0 {
				t.Fatalf("natively: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			_, log := sandboxLogged(t, dir, []string{"--strace"}, &want, args...)
			readlinks, stats, opens := whereCounts(headerReadlink, log), whereCounts(moduleStat, log), whereCounts(headerOpen, log)
			t.Logf("readlinks %v, stats %v, opens %v", readlinks, stats, opens)
			for _, c := range []struct {
				what  string
				where map[string]int
			}{{"header readlinks", readlinks}, {"module stats", stats}} {
				// Each first lookup waited before (100); the listing's
				// lease may lapse under load now and then.
				if got := c.where["cached"] + c.where["forwarded"]; got != n || c.where["forwarded"] > 5 {
					t.Errorf("%s answered %v, want %d, at most 5 forwarded", c.what, c.where, n)
				}
			}
			if got := opens["forwarded"] + opens["posted"] + opens["cached"]; got != n {
				t.Errorf("header opens answered %v, want %d", opens, n)
			}
		})
	}
}
