package server

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/gofer/gofertest"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// postedUnlinkFiles is how many files a round of postedUnlinkLoop
// removes: a directory of /usr/include holds ~10 files on average, its
// large ones hundreds; 64 makes one UnlinkMany of a run.
const postedUnlinkFiles = 64

// postedUnlinkLoop returns a round of GNU rm -r's work on one directory
// as the daemon runs it (the set-up is postedWriteLoop's: a framed
// GoferConn to an in-process gofer): the directory opened and listed by
// path (waited, as the client's first listing of it), a posted unlinkat
// of each of its files relative to the fd, the fd's posted close, then a
// waited getpid that takes them along. mk remakes the files (on the
// host, not counted), in a directory of its own each round so no dentry
// of a round before is reused.
func postedUnlinkLoop(tb testing.TB) (mk, round func()) {
	root := newRoot(tb)
	// The daemons' level: a debug line's arguments cost allocations
	// even when it is not written.
	quiet := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: io.Discard})
	p := gofertest.New(tb, root)
	p.Log = quiet
	p.Start()
	tb.Cleanup(p.Kill)
	target := transport.Target{Network: "unix", Address: p.Sock}
	gc := goferclient.NewGoferConn(p.Dial(tb), quiet, goferclient.WithStreamDialer(func(ctx context.Context) (goferclient.MsgStream, error) {
		return transport.DialFramedStream(ctx, target)
	}))
	tb.Cleanup(gc.Close)
	e, _ := startedOverGoferConnCfg(tb, root, gc, &sentrypb.Hello{ClientId: tb.Name(),
		Features: sentrypb.FeaturePostedWrites, ReadLeases: true, PathLeases: true, CompleteNames: true}, Config{Log: quiet})
	const bufSize = 64 << 10
	buf := e.mem.zeros(bufSize)
	names := make([]uint64, postedUnlinkFiles)
	for i := range names {
		names[i] = e.mem.str(fmt.Sprintf("file%03d.h", i))
	}
	calls := make([]*sentrypb.Call, postedUnlinkFiles+1)
	rounds := 0
	var dir string
	var dirAddr uint64
	mk = func() {
		rounds++
		dir = fmt.Sprintf("/tmp/u%d", rounds)
		host := filepath.Join(root, dir)
		if err := os.Mkdir(host, 0o755); err != nil {
			tb.Fatal(err)
		}
		for i := range postedUnlinkFiles {
			if err := os.WriteFile(filepath.Join(host, fmt.Sprintf("file%03d.h", i)), nil, 0o644); err != nil {
				tb.Fatal(err)
			}
		}
		dirAddr = e.mem.str(dir)
	}
	round = func() {
		r := e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), dirAddr, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if r.Errno != 0 {
			tb.Fatalf("open %s: %v", dir, unix.Errno(r.Errno))
		}
		fd := uint64(r.Ret)
		r = e.call(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
			Sysno: unix.SYS_GETDENTS64, Args: []uint64{fd, buf, bufSize, 0, 0, 0},
			PathLeaseWanted: true, ListingPath: []byte(dir)}}})
		if r.Errno != 0 || r.Ret <= 0 {
			tb.Fatalf("listing of %s: %d, %v", dir, r.Ret, unix.Errno(r.Errno))
		}
		for i, n := range names {
			calls[i] = &sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
				Sysno: unix.SYS_UNLINKAT, Args: []uint64{fd, n, 0, 0, 0, 0},
				Inputs: []*sentrypb.Region{{Addr: n, Data: []byte(fmt.Sprintf("file%03d.h\x00", i))}}, Posted: true}}}
		}
		calls[postedUnlinkFiles] = &sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
			Sysno: unix.SYS_CLOSE, Args: []uint64{fd, 0, 0, 0, 0, 0}, Posted: true}}}
		for _, c := range calls {
			if err := e.conn.Post(c); err != nil {
				tb.Fatal(err)
			}
		}
		if err := e.conn.SendPosted(); err != nil {
			tb.Fatal(err)
		}
		e.ok(1, unix.SYS_GETPID)
		left, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil || len(left) != 0 {
			tb.Fatalf("%s after the round: %d names left, %v", dir, len(left), err)
		}
	}
	return mk, round
}

// serverAllocsPerUnlink runs rounds of postedUnlinkLoop and returns the
// allocations (the server's, the in-process gofer's and the test
// client's, the files' making left out) per file removed.
func serverAllocsPerUnlink(tb testing.TB, rounds int) float64 {
	mk, round := postedUnlinkLoop(tb)
	mk()
	round() // the first round: the session's first calls
	var total uint64
	var ms runtime.MemStats
	for range rounds {
		mk()
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		round()
		runtime.ReadMemStats(&ms)
		total += ms.Mallocs - before
	}
	return float64(total) / float64(rounds*postedUnlinkFiles)
}

// BenchmarkPostedUnlinkDaemon reports the allocations per file of
// postedUnlinkLoop's rounds (a directory listed, its files removed by
// posted unlinkats, its fd closed).
func BenchmarkPostedUnlinkDaemon(b *testing.B) {
	b.ReportMetric(serverAllocsPerUnlink(b, b.N), "allocs/file")
}

// TestPostedUnlinkAllocs counts the allocations per file of GNU rm -r's
// work on a directory as the daemons do it (postedUnlinkLoop: the
// server's, the in-process gofer's over the framed wire, and the test
// client's, ~14 of them its building of the calls and reading of the
// replies; deterministic unlike the time): 56.5 with the run's
// UnlinkMany request cloned by reflection (goferclient's mapRequest), an
// Origin, name copy, error string, pinned-dentry and noted-description
// slice a held unlink, the gofer's path string and name conversion of
// each unlink, a reply naming each unlink's changed inode back
// (UnlinkManyRequest.errnos_wanted), the reply cache's list element
// and channel a mutation, an InodeID a changing inode told the observer
// and the gofer's reply and its changed list apart; 37.0 without.
func TestPostedUnlinkAllocs(t *testing.T) {
	got := serverAllocsPerUnlink(t, 20)
	t.Logf("%.1f allocations per file listed and removed", got)
	if got > 40 {
		t.Errorf("%.1f allocations per file listed and removed, want at most 40", got)
	}
}
