package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestReadCacheThreads compares testdata/readthreads.c (a process with
// a second thread, blocked reading a pipe, reads a 100 KB file to the
// end three times, seeks, preads) with native, and counts the reads the
// client answers from its read cache: a process with several threads
// gets leases too, and its reads are answered while no other thread's
// call in flight may remove an fd or move the description's offset.
func TestReadCacheThreads(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "readthreads.c"))
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, []byte(strings.Repeat("runsc-decoupled reads ahead\n", 4000)), 0o644); err != nil {
		t.Fatal(err)
	}
	want := tu.Run(t, timeout, dir, "", prog, data)
	_, log := sandboxLogged(t, dir, []string{"--strace", "--threaded-posting"}, &want, prog, data)
	cached := logCount(log, `client: (read|pread64)\([^\n]*where=cached`)
	all := logCount(log, `client: (read|pread64)\(0x[0-9a-f]+, `)
	// 3 rounds of 29 reads (the last at the end), 1 at 100, 1 pread, 1
	// at the end: 96 reads of the file, and the second thread's read of
	// the pipe.
	if all != 97 || cached < 90 {
		t.Errorf("%d of %d reads answered from the read cache, want at least 90 of 97", cached, all)
	}
}

// TestHandoffThreads compares testdata/handoff.c with native: one thread
// opens a file and hands the fd to another, which toggles O_NONBLOCK and
// reads the file to the end, 300 times over three files, as a Go
// program's goroutine does when it moves between threads. The open is
// posted, the reads are answered from the read cache and their offset
// moves posted: each posted call of the second thread must run on the
// server after the first thread's posted open of the fd (before, about 1
// in 10 of them ran first and failed with EBADF, 209 in a run, and reads
// started again from the file's start). The client logs a posted call
// that failed.
func TestHandoffThreads(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "handoff.c"))
	var files []string
	for i, n := range []int{4111, 5222, 6333} {
		name := filepath.Join(dir, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(name, []byte(strings.Repeat(fmt.Sprintf("handoff %d\n", i), n/10)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	argv := append([]string{prog, "300"}, files...)
	want := tu.Run(t, timeout, dir, "", argv...)
	_, log := sandboxLogged(t, dir, []string{"--strace", "--threaded-posting", "--threaded-opens"}, &want, argv...)
	if n := logCount(log, `a pipelined call failed`); n != 0 {
		t.Errorf("%d posted calls failed after the application was told they succeeded", n)
	}
	posted := logCount(log, `client: openat\([^\n]*where=posted`)
	cached := logCount(log, `client: read\([^\n]*where=cached`)
	if posted < 150 || cached < 1000 {
		t.Errorf("%d of 300 opens posted, %d reads answered from the read cache: want at least 150 and 1000 (the case this test is about)", posted, cached)
	}
}

// TestIdleEpoll compares testdata/idleepoll.c with native: a loop of
// zero-timeout epoll_waits on an epoll of a pipe and an eventfd, the
// pipe written between rounds by the process itself (a waited or a posted
// write) or by a child it reaps, the eventfd by the process: each write
// must show at the next wait. The idle waits are answered on the client
// (an IdleLease; docs/ARCHITECTURE.md, "Idle epolls on the client").
func TestIdleEpoll(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "idleepoll.c"))
	want := tu.Run(t, timeout, dir, "", prog, "60")
	_, log := sandboxLogged(t, dir, []string{"--strace"}, &want, prog, "60")
	cached := logCount(log, `client: epoll_wait\([^\n]*where=cached`)
	all := logCount(log, `client: epoll_wait\(0x`)
	// 60 rounds of 20 idle waits and one after a write.
	if all != 1260 || cached < 1000 {
		t.Errorf("%d of %d zero-timeout epoll_waits answered on the client, want at least 1000 of 1260", cached, all)
	}
}
