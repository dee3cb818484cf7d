package client

import (
	"maps"
	"slices"
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestCloseRangeForgets: before close_range is forwarded, what the client
// keeps of each fd its copy of the caller's table has open in the range
// (a listing's end and fresh marks, an owned file's copy) goes, as a
// close of the fd drops it; nothing goes for a call that fails EINVAL or
// only sets the close-on-exec flag, and of a table the copy does not
// know the marks of every description go (a close's rule for an fd whose
// description it does not know).
func TestCloseRangeForgets(t *testing.T) {
	const pid, table = 7, 70
	// fd -> description; fd 1000000 is a high one.
	fds := map[int32]uint64{0: 100, 3: 103, 4: 104, 9: 109, 1000000: 111}
	all := slices.Sorted(maps.Values(fds))
	tests := []struct {
		name               string
		first, last, flags uint64
		unknownTable       bool
		// marksLeft and ownedLeft are the descriptions whose marks
		// and copies stay.
		marksLeft, ownedLeft []uint64
	}{
		{name: "middle", first: 3, last: 8, marksLeft: []uint64{100, 109, 111}, ownedLeft: []uint64{100, 109, 111}},
		{name: "one fd", first: 9, last: 9, marksLeft: []uint64{100, 103, 104, 111}, ownedLeft: []uint64{100, 103, 104, 111}},
		{name: "from 3 to ~0U", first: 3, last: 1<<32 - 1, marksLeft: []uint64{100}, ownedLeft: []uint64{100}},
		{name: "every fd", first: 0, last: 1<<32 - 1},
		{name: "none open there", first: 10, last: 999, marksLeft: all, ownedLeft: all},
		{name: "~0U alone", first: 1<<32 - 1, last: 1<<32 - 1, marksLeft: all, ownedLeft: all},
		{name: "unshare", first: 4, last: 4, flags: uint64(linux.CLOSE_RANGE_UNSHARE), marksLeft: []uint64{100, 103, 109, 111}, ownedLeft: []uint64{100, 103, 109, 111}},
		{name: "cloexec", first: 0, last: 1<<32 - 1, flags: uint64(linux.CLOSE_RANGE_CLOEXEC), marksLeft: all, ownedLeft: all},
		{name: "cloexec and unshare", first: 0, last: 1<<32 - 1, flags: uint64(linux.CLOSE_RANGE_CLOEXEC | linux.CLOSE_RANGE_UNSHARE), marksLeft: all, ownedLeft: all},
		{name: "unknown flag", first: 0, last: 1<<32 - 1, flags: 1, marksLeft: all, ownedLeft: all},
		{name: "first past last", first: 4, last: 3, marksLeft: all, ownedLeft: all},
		{name: "table not known", first: 3, last: 3, unknownTable: true, ownedLeft: all},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			pc.listingEnds = make(map[uint64]bool)
			pc.aheadFresh = make(map[uint64]bool)
			rc := newReadCache(nil)
			for _, desc := range fds {
				pc.listingEnds[desc] = true
				pc.aheadFresh[desc] = true
				rc.startCopy(desc, nil, leaseStamp{})
			}
			c := &client{pcache: pc, rcache: rc}
			c.ids.byPID = map[int32]procIDs{pid: {fdTable: table}}
			if tc.unknownTable {
				c.ids.byPID[pid] = procIDs{}
			}
			c.ids.openFDs = map[uint64]map[int32]uint64{table: maps.Clone(fds)}
			p := &process{pid: pid}
			tk := &task{c: c, tid: pid, proc: p}
			p.threads = map[int32]*task{pid: tk}

			tk.closeRangeBefore([6]uint64{tc.first, tc.last, tc.flags})

			if got := slices.Sorted(maps.Keys(pc.listingEnds)); !slices.Equal(got, tc.marksLeft) {
				t.Errorf("listing end marks left %v, want %v", got, tc.marksLeft)
			}
			if got := slices.Sorted(maps.Keys(pc.aheadFresh)); !slices.Equal(got, tc.marksLeft) {
				t.Errorf("fresh listing marks left %v, want %v", got, tc.marksLeft)
			}
			if got := slices.Sorted(maps.Keys(rc.owned)); !slices.Equal(got, tc.ownedLeft) {
				t.Errorf("owned copies left %v, want %v", got, tc.ownedLeft)
			}
			if len(c.ids.openFDs[table]) != len(fds) {
				t.Errorf("the copy of the table changed before the reply: %v", c.ids.openFDs[table])
			}
		})
	}
}
