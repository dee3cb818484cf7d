package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// readOpenFstat matches readopens's fstat of the file it just opened,
// with where it was answered.
var readOpenFstat = regexp.MustCompile(`newfstatat\(0x3, "", 0x[0-9a-f]+, 0x1000\) = 0 .*where=(\w+)`)

// goferRead matches the gofer's log line of a Read.
var goferRead = regexp.MustCompile(`gofer\S*: read: handle=`)

// TestOpenLeasesWithData runs testdata/openuse/readopens.c natively and
// in a sandbox over three sets of 100 files made natively (so the
// server's data cache holds none of them): each of the first opened,
// fstat'ed and read, each of the second opened and closed unread, each
// of the third read as the first. Once three quarters of the recent
// read-only opens were read, an open asks for the lease with the file's
// data (Syscall.open_data_wanted), so the fstat and the reads after it
// are answered on the client: 200 waited fstats before, 20 after (the
// first 8 opens, before enough outcomes are known, and 12 of the third
// set, until 12 of the last 16 opens were read again). The unread files
// cost the gofer a read only while the outcomes turn (5 opens: gofer
// Reads 205 before, 210 after, 5 of them the program's own pages;
// --donate-fds=false so that the server's reads are the gofer's Reads;
// an open that always asked would make it about 300).
func TestOpenLeasesWithData(t *testing.T) {
	tu.RequireRoot(t)
	const n = 100
	prog := tu.StaticProgram(t, t.TempDir(), "readopens", testdataSource(t, "openuse", "readopens"))
	files := t.TempDir()
	data := bytes.Repeat([]byte("x"), 1024)
	for _, p := range "rns" {
		for i := range n {
			if err := os.WriteFile(filepath.Join(files, fmt.Sprintf("%c%d", p, i)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := tu.Run(t, timeout, t.TempDir(), "", prog, files, strconv.Itoa(n))
	if want.ExitCode != 0 {
		t.Fatalf("natively: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	_, log := sandboxLogged(t, t.TempDir(), []string{"--strace", "--force-overlay=false", "--donate-fds=false"}, &want, prog, files, strconv.Itoa(n))
	where := whereCounts(readOpenFstat, log)
	reads := len(goferRead.FindAll(log, -1))
	t.Logf("fstats after the opens: %v; gofer reads %d", where, reads)
	if n := where["cached"] + where["forwarded"]; n != 2*100 {
		t.Errorf("%d fstats counted, want 200", n)
	}
	if where["forwarded"] > 20 {
		t.Errorf("%d fstats after an open waited, want at most 20", where["forwarded"])
	}
	if reads < 2*n || reads > 2*n+16 {
		t.Errorf("%d gofer reads, want %d to %d (the files read, the program's pages, and a few unread files while the outcomes turn)", reads, 2*n, 2*n+16)
	}
}
