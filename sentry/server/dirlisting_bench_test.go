package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// BenchmarkMissingListing times a stat of a missing name that asks for
// its directory's listing (Syscall.dir_listing_wanted), as a PATH search
// makes in each directory it looks a command up in: the gofer's listing
// with each entry's attributes, and the server's answers and leases for
// them, of a directory of 176 files (/usr/sbin's size here).
func BenchmarkMissingListing(b *testing.B) {
	e := secondClient(b, newEnv(b), &sentrypb.Hello{PathLeases: true, CompleteNames: true})
	dir := filepath.Join(e.root, "tmp/ml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 176 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("cmd%03d", i)), nil, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	sb := e.mem.zeros(144)
	path := e.mem.str("/tmp/ml/missing")
	b.ResetTimer()
	for range b.N {
		r := pathSysListing(e, true, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), path, sb, 0)
		if unix.Errno(r.Errno) != unix.ENOENT || len(r.Listed) != 176 {
			b.Fatalf("stat: %v, %d listed", unix.Errno(r.Errno), len(r.Listed))
		}
	}
}
