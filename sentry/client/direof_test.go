package client

import (
	"testing"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestListingEndMarks: a getdents64 that reached its listing's end marks
// its description, so the next one is answered 0 here; the mark goes
// with a close of the fd, an lseek, and a posted open's reply gives the
// server's id only what the provisional description had (a stale mark
// under that id would answer a new listing's second getdents64 0).
func TestListingEndMarks(t *testing.T) {
	const prov, real, fd = provisionalDesc | 1, 42, 3
	eof := &pb.Reply{ListingEof: true}
	tests := []struct {
		name string
		// steps run in order on fd 3 of a single-threaded process.
		steps func(tk *task)
		// atEnd is whether the next getdents64 of fd 3 is answered 0.
		atEnd bool
	}{
		{name: "listing at its end", steps: func(tk *task) { tk.noteListingEnd(fd, eof, orderedCall{}, false) }, atEnd: true},
		{name: "listing not at its end", steps: func(tk *task) { tk.noteListingEnd(fd, &pb.Reply{}, orderedCall{}, false) }},
		{name: "lseek", steps: func(tk *task) {
			tk.noteListingEnd(fd, eof, orderedCall{}, false)
			tk.forgetListingEnd(fd)
		}},
		{name: "close, then the id open again", steps: func(tk *task) {
			tk.noteListingEnd(fd, eof, orderedCall{}, false)
			tk.forgetListingEnd(fd)
		}},
		{name: "posted open settled over a stale mark", steps: func(tk *task) {
			tk.c.pcache.listingEnds[real] = true // a mark the server's id must not inherit
			tk.c.ids.openFDs[7][fd] = prov
			tk.noteListingEnd(fd, &pb.Reply{}, orderedCall{}, false)
			tk.c.pcache.settleOpen(prov, real)
			tk.c.ids.openFDs[7][fd] = real
		}},
		{name: "posted open settled with its mark", steps: func(tk *task) {
			tk.c.ids.openFDs[7][fd] = prov
			tk.noteListingEnd(fd, eof, orderedCall{}, false)
			tk.c.pcache.settleOpen(prov, real)
			tk.c.ids.openFDs[7][fd] = real
		}, atEnd: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			pc.listingEnds = make(map[uint64]bool)
			c := &client{pcache: pc}
			c.ids.byPID = map[int32]procIDs{7: {fdTable: 7}}
			c.ids.openFDs = map[uint64]map[int32]uint64{7: {fd: real}}
			p := &process{pid: 7}
			tk := &task{c: c, tid: 7, proc: p}
			p.threads = map[int32]*task{7: tk}
			tc.steps(tk)
			if got := tk.listingAtEnd([6]uint64{fd, 0x1000, 4096}); got != tc.atEnd {
				t.Errorf("next getdents64 answered 0 here: %v, want %v (marks %v)", got, tc.atEnd, pc.listingEnds)
			}
		})
	}
}

// TestListingEndThreads: in a process of two threads, a getdents64's
// end of listing marks its description only if no call of the other
// thread that may move the offset was in flight when it was counted or
// began before its reply (either may run first on the server); the mark
// answers while no such call is in flight, and an lseek counted after
// the mark forgets it (forwardCall's forget after beginOrdered).
func TestListingEndThreads(t *testing.T) {
	const fd, other, desc, otherDesc = 3, 4, 42, 43
	eof := &pb.Reply{ListingEof: true}
	getdents := [6]uint64{fd, 0x1000, 4096}
	lseek := [6]uint64{fd, 0, 0}
	// listToEnd is a's getdents64 of fd that reached the end, counted
	// from its send until its reply is noted.
	listToEnd := func(a *task) {
		oc, _ := a.beginOrdered(unix.SYS_GETDENTS64, getdents)
		a.noteListingEnd(fd, eof, oc, true)
		a.endOrdered(a.proc, oc)
	}
	tests := []struct {
		name  string
		steps func(a, b *task)
		atEnd bool
	}{
		{name: "alone", steps: func(a, b *task) { listToEnd(a) }, atEnd: true},
		{name: "another description's listing in flight", steps: func(a, b *task) {
			ob, _ := b.beginOrdered(unix.SYS_GETDENTS64, [6]uint64{other, 0x1000, 4096})
			listToEnd(a)
			b.endOrdered(b.proc, ob)
		}, atEnd: true},
		{name: "an lseek in flight when counted", steps: func(a, b *task) {
			ob, _ := b.beginOrdered(unix.SYS_LSEEK, lseek)
			oc, _ := a.beginOrdered(unix.SYS_GETDENTS64, getdents)
			b.endOrdered(b.proc, ob)
			a.noteListingEnd(fd, eof, oc, true)
			a.endOrdered(a.proc, oc)
		}},
		{name: "an lseek begun and answered meanwhile", steps: func(a, b *task) {
			oc, _ := a.beginOrdered(unix.SYS_GETDENTS64, getdents)
			ob, _ := b.beginOrdered(unix.SYS_LSEEK, lseek)
			b.endOrdered(b.proc, ob)
			a.noteListingEnd(fd, eof, oc, true)
			a.endOrdered(a.proc, oc)
		}},
		{name: "an lseek counted after the mark", steps: func(a, b *task) {
			listToEnd(a)
			ob, _ := b.beginOrdered(unix.SYS_LSEEK, lseek)
			b.forgetListingEnd(fd)
			b.endOrdered(b.proc, ob)
		}},
		{name: "an lseek in flight at the answer", steps: func(a, b *task) {
			listToEnd(a)
			b.beginOrdered(unix.SYS_LSEEK, lseek)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPathCache(nil)
			pc.listingEnds = make(map[uint64]bool)
			c := &client{pcache: pc}
			c.ids.byPID = map[int32]procIDs{7: {fdTable: 7}}
			c.ids.openFDs = map[uint64]map[int32]uint64{7: {fd: desc, other: otherDesc}}
			p := &process{pid: 7}
			a, b := &task{c: c, tid: 7, proc: p}, &task{c: c, tid: 8, proc: p}
			p.threads = map[int32]*task{7: a, 8: b}
			tc.steps(a, b)
			if got := a.listingAtEnd(getdents); got != tc.atEnd {
				t.Errorf("next getdents64 answered 0 here: %v, want %v (marks %v)", got, tc.atEnd, pc.listingEnds)
			}
		})
	}
}

// TestSettleDesc: a posted open's reply moves the provisional entry to
// the server's id, replacing whatever was there, and forgets it when the
// open failed.
func TestSettleDesc(t *testing.T) {
	const prov, real = provisionalDesc | 1, 42
	tests := []struct {
		name string
		m    map[uint64]string
		to   uint64
		want map[uint64]string
	}{
		{name: "moved", m: map[uint64]string{prov: "a"}, to: real, want: map[uint64]string{real: "a"}},
		{name: "replaces", m: map[uint64]string{prov: "a", real: "stale"}, to: real, want: map[uint64]string{real: "a"}},
		{name: "stale dropped", m: map[uint64]string{real: "stale", 7: "b"}, to: real, want: map[uint64]string{7: "b"}},
		{name: "failed open", m: map[uint64]string{prov: "a", 7: "b"}, to: 0, want: map[uint64]string{7: "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			settleDesc(tc.m, prov, tc.to)
			if len(tc.m) != len(tc.want) {
				t.Fatalf("got %v, want %v", tc.m, tc.want)
			}
			for k, v := range tc.want {
				if tc.m[k] != v {
					t.Errorf("got %v, want %v", tc.m, tc.want)
				}
			}
		})
	}
}
