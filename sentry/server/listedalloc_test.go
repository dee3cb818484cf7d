package server

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
)

// TestListedAlloc: the lstat answers a listedAlloc makes hold the name
// and the struct stat and statx that the attributes marshal to, each
// slice ending where it does (an append to one leaves the next), and a
// listing's entries cost a few allocations in all, not some an entry
// (before: four an entry, and a copy of its attributes).
func TestListedAlloc(t *testing.T) {
	st := &goferpb.Stat{Dev: 2049, Ino: 77, Mode: 0o100644, Nlink: 1, Uid: 1000, Gid: 100, Size: 4321, Blksize: 4096, Blocks: 16,
		MtimeNs: 1_700_000_000_123_456_789, CtimeNs: 1_700_000_001_000_000_000, BtimeNs: 1_600_000_000_000_000_000}
	lst, stx := syscalls.ToLinuxStat(st), syscalls.ToStatx(st)
	wantStat, wantStatx := make([]byte, statSize), make([]byte, statxSize)
	lst.MarshalBytes(wantStat)
	stx.MarshalBytes(wantStatx)
	for _, tc := range []struct {
		name  string
		entry string
		hint  int
	}{
		{"short name", "a", 0},
		{"long name", strings.Repeat("n", 255), 2},
		{"empty hint", "file.h", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := listedAlloc{hint: tc.hint}
			for i := range 40 { // more than a chunk of some
				ls := a.make(tc.entry, st)
				if string(ls.Name) != tc.entry || !bytes.Equal(ls.Stat, wantStat) || !bytes.Equal(ls.Statx, wantStatx) {
					t.Fatalf("entry %d: name %q, stat equal %v, statx equal %v", i, ls.Name, bytes.Equal(ls.Stat, wantStat), bytes.Equal(ls.Statx, wantStatx))
				}
				_ = append(ls.Name, 'x')
				_ = append(ls.Stat, 'x')
				if !bytes.Equal(ls.Stat, wantStat) || !bytes.Equal(ls.Statx, wantStatx) {
					t.Fatalf("entry %d: an append to its name or stat changed the next bytes", i)
				}
			}
		})
	}
	const entries = 200
	names := make([]string, entries)
	for i := range names {
		names[i] = fmt.Sprintf("entry%03d.h", i)
	}
	allocs := testing.AllocsPerRun(20, func() {
		a := listedAlloc{hint: entries}
		for _, n := range names {
			a.make(n, st)
		}
	})
	t.Logf("%d entries: %.0f allocations", entries, allocs)
	if allocs > entries/20 {
		t.Errorf("%d entries: %.0f allocations, want at most %d", entries, allocs, entries/20)
	}
}
