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
//     SetStat (three before), also when the client's 2 ms timer
//     (transport's postedDelay) sent them in two batches: the server's
//     run waits up to 10 ms for the thread's next call (1.05-1.16 per
//     file with two or three busy loops, load 7-25; 1.24-1.42 when it
//     did not).
//     A quarter per file of slack: a tar descheduled for longer costs
//     one more.
//   - tar opens /etc/passwd and /etc/group for each member: the server
//     opens them through the handles their last descriptions kept
//     (sentry/server/vfs/kept.go), walking to them again once a second
//     (AttrTTL), not at every open (two gofer walk-opens per file
//     before).
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
	walkOpens := strings.Count(string(glog), "gofer.gofer: walk-open:")
	t.Logf("tar's reads of its archive: %v; gofer SetStats: %.2f per file, walk-opens %d in all", where, float64(setStats)/files, walkOpens)
	if walkOpens > files/4 {
		t.Errorf("%d gofer walk-opens for %d files, want at most %d (tar's opens of /etc/passwd and /etc/group through kept handles)", walkOpens, files, files/4)
	}
	if setStats > files*5/4 {
		t.Errorf("%d gofer SetStats for %d files, want at most 1.25 per file (tar's chown, chmod and utimensat of a file merged)", setStats, files)
	}
	if where["forwarded"] > 2 || where["cached"] < files {
		t.Errorf("tar's reads of its archive: %d forwarded, %d answered from the lease; want at most 2 forwarded (one per 256 KiB window) and the others (over %d) from the lease",
			where["forwarded"], where["cached"], files)
	}
}

// TestReadCacheWhileWritingBehind runs testdata/tarsrv/copy.c, which
// copies a 1 MiB file in 4 KiB reads and writes, natively and under do:
// its reads are answered from the read lease while its writes behind to
// the other file are in flight (a posted write holds back only the
// leases of its own file). When any posted write held back every lease,
// each read was forwarded and took a new 256 KiB window: 251 leases and
// 260 waited calls for the copy, 64 MB read by the server for 1 MB.
func TestReadCacheWhileWritingBehind(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "tarsrv", "copy.c"))
	in := make([]byte, 1<<20)
	for i := range in {
		in[i] = byte(i*i + i/4096)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), in, 0o644); err != nil {
		t.Fatal(err)
	}
	want := tu.Run(t, time.Minute, dir, "", prog, "in", "native.out")
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	waited, hits, leases := sandboxCounts(t, dir, nil, &want, prog, "in", "out")
	t.Logf("%d waited calls, %d answered from the read cache, %d leases", waited, hits, leases)
	// 2 × 257 reads of 1 MiB (the copy, then the check of its output):
	// one per 256 KiB window forwarded (eight), one more now and then if
	// a lease expired on a loaded machine.
	if hits < 480 || leases > 12 {
		t.Errorf("%d reads answered from the read cache with %d leases, want at least 480 of 514 with at most 12 (a window per 256 KiB)", hits, leases)
	}
}
