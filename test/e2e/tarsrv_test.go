package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// archiveOpen matches the client's strace line of tar's open of its
// archive (the fd it got), archiveRead one of its reads and where the
// client answered it.
var (
	archiveOpen = regexp.MustCompile(`openat\(AT_FDCWD, "[^"]*files\d+\.tar", 0x0, 0x0\) = \d+ \((0x[0-9a-f]+)\)`)
	archiveRead = regexp.MustCompile(`read\((0x[0-9a-f]+), 0x[0-9a-f]+, 0x[0-9a-f]+\) = \d+ \(0x[0-9a-f]+\): tid=\d+ where=(\w+)`)
)

// TestTarPerFileCosts runs busybox tar -xf of 400 small files (an
// archive of 410 KB) against a server and a gofer on Unix sockets and
// counts, from the client's strace and the gofer's debug log, what the
// extraction cost:
//   - tar reads its archive in 512-byte blocks; a read lease carries a
//     256 KiB window, so at most one read per window (two) may be
//     forwarded, the others answered from the lease (the first window,
//     at offset 0, was refused as a short whole-file read, and the eight
//     reads before offset 4096 were forwarded, each re-reading 256 KiB).
//   - tar restores each member's owner, mode and times with a posted
//     chown, chmod and utimensat; the server merges them into one gofer
//     SetStat (three before). A quarter per file of slack: a batch the
//     client's 500 µs timer cut between them on a loaded machine costs
//     one more.
//
// The server's leases last a minute here, so an expiry on a loaded
// machine cannot add a forwarded read.
func TestTarPerFileCosts(t *testing.T) {
	tu.RequireRoot(t)
	const files = 400
	archive := tarOf(t, files)
	sock, logs, dir := t.TempDir(), t.TempDir(), t.TempDir()
	goferLog, doLog := filepath.Join(logs, "gofer.log"), filepath.Join(logs, "do.log")
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/", "--debug-log", goferLog)
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s")
	r := tu.Run(t, 3*time.Minute, dir, "", tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target,
		"--cwd", dir, "--strace", "--debug-log", doLog, "--", tu.Busybox, "tar", "-xf", archive)
	if r.ExitCode != 0 {
		t.Fatalf("tar -xf: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	got, err := os.ReadFile(filepath.Join(dir, "top", "d1", "f399"))
	if err != nil || string(got) != strings.Repeat("0123456789abcdef", 32) {
		t.Fatalf("the last file extracted: %q, %v", got, err)
	}
	log, err := os.ReadFile(doLog)
	if err != nil {
		t.Fatal(err)
	}
	m := archiveOpen.FindSubmatch(log)
	if m == nil {
		t.Fatalf("no open of the archive in the client's strace")
	}
	where := map[string]int{}
	for _, rd := range archiveRead.FindAllSubmatch(log, -1) {
		if string(rd[1]) == string(m[1]) {
			where[string(rd[2])]++
		}
	}
	glog, err := os.ReadFile(goferLog)
	if err != nil {
		t.Fatal(err)
	}
	setStats := strings.Count(string(glog), "gofer.gofer: setstat:")
	t.Logf("tar's reads of its archive: %v; gofer SetStats: %.2f per file", where, float64(setStats)/files)
	if setStats > files*5/4 {
		t.Errorf("%d gofer SetStats for %d files, want at most 1.25 per file (tar's chown, chmod and utimensat of a file merged)", setStats, files)
	}
	if where["forwarded"] > 2 || where["cached"] < files {
		t.Errorf("tar's reads of its archive: %d forwarded, %d answered from the lease; want at most 2 forwarded (one per 256 KiB window) and the others (over %d) from the lease",
			where["forwarded"], where["cached"], files)
	}
}
