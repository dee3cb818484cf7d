package server

import (
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
)

// Sizes of the struct stat and struct statx answers.
var (
	statSize  = (*linux.Stat)(nil).SizeBytes()
	statxSize = (*linux.Statx)(nil).SizeBytes()
)

// listedAlloc makes the lstat answers of a listing's entries
// (listedStatOf) from arrays it hands out a chunk at a time: the
// ListedStats and their bytes (name, struct stat and struct statx) cost
// two allocations a chunk of entries, where each entry cost four and a
// copy of its attributes (ftscalls: the server's 24 allocations an
// entry of a GNU find). A chunk lives as long as any of its answers,
// which a reply carries.
type listedAlloc struct {
	stats []sentrypb.ListedStat
	buf   []byte
	// hint is how many entries the caller expects (0: not known).
	hint int
}

// chunk is how many entries the next arrays are for.
func (a *listedAlloc) chunk() int { return min(max(a.hint, 16), 256) }

// make returns the lstat answer of name with attributes st.
func (a *listedAlloc) make(name string, st *goferpb.Stat) *sentrypb.ListedStat {
	if len(a.stats) == 0 {
		a.stats = make([]sentrypb.ListedStat, a.chunk())
	}
	ls := &a.stats[0]
	a.stats = a.stats[1:]
	n := len(name) + statSize + statxSize
	if len(a.buf) < n {
		a.buf = make([]byte, max(n, a.chunk()*(statSize+statxSize+24)))
	}
	// Each slice's capacity ends where it does: an append to one
	// cannot overwrite the next.
	b := a.buf[:n:n]
	a.buf = a.buf[n:]
	nameEnd, statEnd := len(name), len(name)+statSize
	copy(b, name)
	lst := syscalls.ToLinuxStat(st)
	lst.MarshalBytes(b[nameEnd:statEnd])
	stx := syscalls.ToStatx(st)
	stx.MarshalBytes(b[statEnd:])
	ls.Name, ls.Stat, ls.Statx = b[:nameEnd:nameEnd], b[nameEnd:statEnd:statEnd], b[statEnd:]
	return ls
}
