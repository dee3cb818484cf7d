package gofer

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// BenchmarkColdListing: the gofer's side of a listing with attributes of
// a directory of 64 regular files it has not seen (rm -r's and find's of
// a tree the gofer never listed: the set-id cache knows none of them),
// reporting the set-id attributes read a listing (reads/op) and the
// process's CPU (cpu-ns/op; not the wall, which other work on the
// machine moves). The gofer's key has sealed nothing.
func BenchmarkColdListing(b *testing.B) {
	e := newEnv(b)
	if err := os.Mkdir(e.host("d"), 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 64 {
		writeHostFile(b, e.host(fmt.Sprintf("d/file%02d.h", i)), "x")
	}
	req := &goferpb.GetdentsRequest{Dir: e.walkOne(e.rootH, "d"), Count: 257, Plus: true}
	misses := func() uint64 {
		e.srv.setIDs.mu.Lock()
		defer e.srv.setIDs.mu.Unlock()
		return e.srv.setIDs.misses
	}
	var before, after unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &before); err != nil {
		b.Fatal(err)
	}
	reads := misses()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.srv.setIDs.mu.Lock()
		e.srv.setIDs.m = nil // files never seen
		e.srv.setIDs.mu.Unlock()
		r, err := e.srv.Getdents(e.ctx, req)
		if err != nil || r.GetErrno() != 0 || len(r.GetStats()) != 64 {
			b.Fatalf("getdents: %v, errno %d, %d stats", err, r.GetErrno(), len(r.GetStats()))
		}
	}
	reads = misses() - reads
	if err := unix.Getrusage(unix.RUSAGE_SELF, &after); err != nil {
		b.Fatal(err)
	}
	cpu := func(r *unix.Rusage) int64 { return r.Utime.Nano() + r.Stime.Nano() }
	b.ReportMetric(float64(reads)/float64(b.N), "reads/op")
	b.ReportMetric(float64(cpu(&after)-cpu(&before))/float64(b.N), "cpu-ns/op")
}
