package durable

import (
	"slices"
	"testing"
)

type desc struct{ refs int }

func (d *desc) IncRef() { d.refs++ }
func (d *desc) DecRef() { d.refs-- }

// TestAnnounce: Durable covers the writes up to the first one not yet
// synced or whose WriteState is not yet sent; a file's reference is held
// while it has writes pending.
func TestAnnounce(t *testing.T) {
	f := &desc{}
	d := NewTracker[*desc]()
	for seq := uint64(1); seq <= 3; seq++ {
		d.Begin(f, seq)
		if d.End(f, seq, 0, 10) {
			t.Fatalf("write %d: nothing pending", seq)
		}
	}
	if f.refs != 1 || !d.Holds(f) {
		t.Fatalf("refs %d, holds %v: want one reference held", f.refs, d.Holds(f))
	}
	d.MarkSent(f, 1)
	d.MarkSent(f, 3)
	seqs := d.StartSync(f)
	if len(seqs) != 3 {
		t.Fatalf("StartSync: %v, want three writes", seqs)
	}
	d.EndSync(f, seqs, true)
	if seq, _, ok, release := d.Announce(f); !ok || seq != 1 || release {
		t.Errorf("Announce: %d %v %v, want 1 (write 2's WriteState not sent), not released", seq, ok, release)
	}
	d.MarkSent(f, 2)
	if seq, _, ok, release := d.Announce(f); !ok || seq != 3 || !release {
		t.Errorf("Announce: %d %v %v, want 3, released", seq, ok, release)
	}
	if d.Holds(f) || len(d.Pending()) != 0 {
		t.Error("a file with nothing pending is still tracked")
	}

	// A failed fsync leaves the writes to sync again; a write of nothing
	// is forgotten.
	g := &desc{}
	d.Begin(g, 7)
	d.End(g, 7, 0, 5)
	d.MarkSent(g, 7)
	d.EndSync(g, d.StartSync(g), false)
	if _, _, ok, _ := d.Announce(g); ok {
		t.Error("Announce after a failed fsync")
	}
	if again := d.StartSync(g); len(again) != 1 {
		t.Errorf("StartSync after a failed fsync: %v, want [7]", again)
	}
	d.Begin(g, 8)
	if d.End(g, 8, 0, 0) {
		t.Error("an empty write released a file with a write pending")
	}
	d.ReleaseAll()
	if g.refs != 0 {
		t.Errorf("ReleaseAll left %d references", g.refs)
	}
}

// TestBeforeResize: what a size change takes before it is applied. Supersede
// and StartSyncAll take the written entries, those another fsync is
// syncing too, never one in flight (its order with the change is unknown);
// HoldWhere picks files with a reference for the caller.
func TestBeforeResize(t *testing.T) {
	cases := []struct {
		name string
		// take marks the file's entries for the change and reports
		// them synced.
		take func(d *Tracker[*desc], f *desc)
	}{
		{"supersede", func(d *Tracker[*desc], f *desc) { d.Supersede(f) }},
		{"sync-all", func(d *Tracker[*desc], f *desc) { d.EndSync(f, d.StartSyncAll(f), true) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewTracker[*desc]()
			f, other := &desc{}, &desc{}
			for seq := uint64(1); seq <= 4; seq++ {
				d.Begin(f, seq)
				if seq != 4 {
					d.End(f, seq, 0, 10)
				}
				d.MarkSent(f, seq)
			}
			d.Begin(other, 9)
			d.End(other, 9, 0, 1)
			// The flusher is syncing write 1 and 2 when the change comes.
			flushing := d.StartSync(f)
			held := d.HoldWhere(func(g *desc) bool { return g == f })
			if len(held) != 1 || held[0] != f || f.refs != 2 {
				t.Fatalf("HoldWhere: %d files, refs %d: want f with a reference more", len(held), f.refs)
			}
			c.take(d, f)
			// The flusher's fsync fails after the change took them:
			// they stay synced.
			d.EndSync(f, flushing, false)
			if seq, _, ok, release := d.Announce(f); !ok || seq != 3 || release {
				t.Errorf("Announce: %d %v %v, want 3 (write 4 in flight), not released", seq, ok, release)
			}
			if d.bytes != 1 {
				t.Errorf("%d bytes counted not synced, want 1 (other's)", d.bytes)
			}
			if _, _, ok, _ := d.Announce(other); ok {
				t.Error("another file's write was announced")
			}
			held[0].DecRef()
			d.ReleaseAll()
		})
	}
}

// TestWriteAllocs counts the allocations of one write's tracking (Begin,
// End, MarkSent) on a file with writes pending, whose entries map has
// room: none (an entry held by pointer cost one per write), whether the
// write is new or its call re-runs (a seq begun again).
func TestWriteAllocs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reuse bool // each run begins the same seq again
	}{
		{"new seqs", false},
		{"a seq begun again", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &desc{}
			d := NewTracker[*desc]()
			d.Begin(f, 1) // the file is tracked
			d.End(f, 1, 0, 1)
			d.MarkSent(f, 1)
			seq := uint64(1)
			write := func() {
				if !tc.reuse {
					seq++
				}
				d.Begin(f, seq)
				d.End(f, seq, 0, 4096)
				d.MarkSent(f, seq)
			}
			// The map grows to hold the runs' writes first: its growth is
			// the file's, not a write's.
			for range 200 {
				write()
			}
			d.Begin(f, 100000) // in flight: keeps the file tracked, its map's room kept
			seqs := d.StartSync(f)
			d.EndSync(f, seqs, true)
			if _, _, ok, release := d.Announce(f); !ok || release {
				t.Fatalf("Announce: %v, released %v; want the writes announced, the file kept", ok, release)
			}
			if !tc.reuse {
				seq = 1000
			}
			if got := testing.AllocsPerRun(100, write); got != 0 {
				t.Errorf("%.1f allocations per write, want 0", got)
			}
		})
	}
}

// TestFail: a failed write (a Rewrite's) holds its file's Durable below
// it, the later writes synced or not, and keeps the file tracked; a
// truncation to 0 (Supersede) lets it go.
func TestFail(t *testing.T) {
	f := &desc{}
	d := NewTracker[*desc]()
	d.Begin(f, 5)
	d.Fail(f, 5, 0, 10)
	d.MarkSent(f, 5)
	for seq := uint64(6); seq <= 7; seq++ {
		d.Begin(f, seq)
		d.End(f, seq, 0, 10)
		d.MarkSent(f, seq)
	}
	seqs := d.StartSyncAll(f)
	if len(seqs) != 2 {
		t.Fatalf("StartSyncAll: %v, want the two written (not the failed one)", seqs)
	}
	d.EndSync(f, seqs, true)
	if seq, _, ok, release := d.Announce(f); ok || release {
		t.Errorf("Announce: %d %v %v, want nothing (write 5 failed)", seq, ok, release)
	}
	if !d.Holds(f) || f.refs != 1 {
		t.Errorf("holds %v, refs %d: want the file held while its failed write is", d.Holds(f), f.refs)
	}
	if !d.HasFailed(f) {
		t.Error("HasFailed: false with write 5 failed")
	}
	// Failures are numbered for an fsync to report each once
	// (errseq): the caller's mark is the number it last reported.
	all := func(*desc) bool { return true }
	if n := d.FailedAfter(0, all); n != 1 {
		t.Errorf("FailedAfter(0): %d, want 1 (the first failure)", n)
	}
	if n := d.FailedAfter(1, all); n != 0 {
		t.Errorf("FailedAfter(1): %d, want 0 (reported)", n)
	}
	if n := d.FailedAfter(0, func(*desc) bool { return false }); n != 0 {
		t.Errorf("FailedAfter of no file: %d, want 0", n)
	}
	if !d.Failed(f, 5) || d.Failed(f, 6) {
		t.Errorf("Failed: write 5 %v, write 6 %v; want only write 5", d.Failed(f, 5), d.Failed(f, 6))
	}
	d.Supersede(f)
	if d.HasFailed(f) || d.Failed(f, 5) {
		t.Error("HasFailed or Failed: true after Supersede")
	}
	if n := d.FailedAfter(0, all); n != 0 {
		t.Errorf("FailedAfter after Supersede: %d, want 0 (not held)", n)
	}
	if seq, _, ok, release := d.Announce(f); !ok || seq != 7 || !release {
		t.Errorf("Announce after Supersede: %d %v %v, want 7, released", seq, ok, release)
	}
}

// TestFailBegunAgain: a failed write begun again (its Rewrite received
// again) and written is a write like the others: no longer failed, and
// announced once synced.
func TestFailBegunAgain(t *testing.T) {
	f := &desc{}
	d := NewTracker[*desc]()
	d.Begin(f, 1)
	d.Fail(f, 1, 0, 3)
	d.MarkSent(f, 1)
	d.Begin(f, 1)
	d.End(f, 1, 0, 3)
	if d.Failed(f, 1) || d.HasFailed(f) || d.FailedAfter(0, func(*desc) bool { return true }) != 0 {
		t.Error("a failed write begun again and written is still failed")
	}
	d.EndSync(f, d.StartSync(f), true)
	if seq, _, ok, release := d.Announce(f); !ok || seq != 1 || !release {
		t.Errorf("Announce: %d %v %v, want 1, released", seq, ok, release)
	}
}

// TestCover: a failed write whose range a later write covers whole is
// no longer held: synced and announced with its file's next sync. A write
// that covers part of it, or another file's, leaves it failed.
func TestCover(t *testing.T) {
	f, other := &desc{}, &desc{}
	d := NewTracker[*desc]()
	if d.Failing() || d.Cover(func(*desc) bool { return true }, 0, 100) {
		t.Fatal("Failing or Cover with no failed write")
	}
	d.Begin(f, 5)
	d.Fail(f, 5, 10, 10) // bytes [10, 20)
	d.MarkSent(f, 5)
	d.Begin(f, 6)
	d.End(f, 6, 0, 30)
	d.MarkSent(f, 6)
	isF := func(g *desc) bool { return g == f }
	for _, c := range []struct {
		name    string
		keep    func(*desc) bool
		off, n  int64
		covered bool
	}{
		{"its first half", isF, 0, 15, false},
		{"its second half", isF, 15, 30, false},
		{"another file's write", func(g *desc) bool { return g == other }, 0, 100, false},
		{"the whole of it", isF, 10, 10, true},
	} {
		if got := d.Cover(c.keep, c.off, c.n); got != c.covered || d.Failed(f, 5) == got {
			t.Errorf("%s: covered %v, failed %v; want covered %v", c.name, got, d.Failed(f, 5), c.covered)
		}
	}
	if d.Failing() || d.HasFailed(f) {
		t.Error("Failing or HasFailed after the failed write was covered")
	}
	d.EndSync(f, d.StartSync(f), true)
	if seq, _, ok, release := d.Announce(f); !ok || seq != 6 || !release {
		t.Errorf("Announce: %d %v %v, want 6, released", seq, ok, release)
	}
}

// TestFailPassed: a tracker that passes failed writes (PassFailed)
// announces past one, naming it held while it is failed, and keeps it
// (and the file) tracked; once it is superseded (the truncation to 0
// made: SupersedeFailed, not Supersede before it), covered or written
// again, it is announced like the others. A write not yet synced still
// stops the announcement.
func TestFailPassed(t *testing.T) {
	for _, tc := range []struct {
		name string
		// then runs after the first announcement.
		then func(d *Tracker[*desc], f *desc)
		// held are the seqs the second announcement names; seq its seq.
		held []uint64
		seq  uint64
	}{
		{"still failed", func(d *Tracker[*desc], f *desc) {}, []uint64{5}, 8},
		// A truncation to 0 leaves it held until it is made.
		{"superseded, the truncation not yet made", func(d *Tracker[*desc], f *desc) { d.Supersede(f) }, []uint64{5}, 8},
		{"superseded, the truncation made", func(d *Tracker[*desc], f *desc) {
			d.Supersede(f)
			if !d.SupersedeFailed(f) || d.SupersedeFailed(f) {
				t.Error("SupersedeFailed: want true once, then false")
			}
		}, nil, 8},
		{"covered", func(d *Tracker[*desc], f *desc) {
			d.Cover(func(*desc) bool { return true }, 0, 10)
		}, nil, 8},
		{"written again", func(d *Tracker[*desc], f *desc) {
			d.Begin(f, 5)
			d.End(f, 5, 0, 10)
		}, nil, 8},
		{"begun again, in flight", func(d *Tracker[*desc], f *desc) { d.Begin(f, 5) }, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &desc{}
			d := NewTracker[*desc]()
			d.PassFailed()
			write := func(seq uint64) {
				d.Begin(f, seq)
				d.End(f, seq, 0, 10)
				d.MarkSent(f, seq)
			}
			write(4)
			d.Begin(f, 5)
			d.Fail(f, 5, 0, 10)
			d.MarkSent(f, 5)
			write(6)
			d.Begin(f, 7) // in flight
			d.EndSync(f, d.StartSync(f), true)
			if seq, held, ok, release := d.Announce(f); !ok || seq != 6 || !slices.Equal(held, []uint64{5}) || release {
				t.Fatalf("Announce: %d held %v %v %v, want 6 holding 5, not released", seq, held, ok, release)
			}
			d.End(f, 7, 0, 10)
			d.MarkSent(f, 7)
			write(8)
			tc.then(d, f)
			d.EndSync(f, d.StartSync(f), true)
			seq, held, ok, release := d.Announce(f)
			if seq != tc.seq || ok != (tc.seq != 0) || !slices.Equal(held, tc.held) || release != (tc.held == nil && tc.seq != 0) {
				t.Errorf("Announce: %d held %v %v released %v, want %d holding %v", seq, held, ok, release, tc.seq, tc.held)
			}
			if d.HasFailed(f) != (tc.held != nil) || d.Holds(f) != !release {
				t.Errorf("HasFailed %v, Holds %v after the announcement", d.HasFailed(f), d.Holds(f))
			}
		})
	}
}

// TestEndsBy checks which retained writes a size change to a length
// leaves alone: every write of the files kept, written (synced or not),
// ends at or below it, none in flight, none failed.
func TestEndsBy(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(d *Tracker[*desc], f *desc)
		length int64
		want   bool
	}{
		{"none", func(d *Tracker[*desc], f *desc) {}, 0, true},
		{"below", func(d *Tracker[*desc], f *desc) { d.Begin(f, 1); d.End(f, 1, 100, 50) }, 150, true},
		{"past", func(d *Tracker[*desc], f *desc) { d.Begin(f, 1); d.End(f, 1, 100, 50) }, 149, false},
		{"two parts, the second past", func(d *Tracker[*desc], f *desc) {
			d.Begin(f, 1)
			d.End(f, 1, 0, 10)
			d.End(f, 1, 200, 10)
		}, 100, false},
		{"synced, not announced", func(d *Tracker[*desc], f *desc) {
			d.Begin(f, 1)
			d.End(f, 1, 0, 200)
			d.EndSync(f, d.StartSync(f), true)
		}, 100, false},
		{"in flight", func(d *Tracker[*desc], f *desc) { d.Begin(f, 1) }, 1 << 40, false},
		{"failed", func(d *Tracker[*desc], f *desc) { d.Begin(f, 1); d.Fail(f, 1, 0, 10) }, 1 << 40, false},
		{"another file's past", func(d *Tracker[*desc], f *desc) {
			other := &desc{}
			d.Begin(other, 1)
			d.End(other, 1, 0, 500)
		}, 100, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewTracker[*desc]()
			f := &desc{}
			tc.setup(d, f)
			if got := d.EndsBy(func(g *desc) bool { return g == f }, tc.length); got != tc.want {
				t.Errorf("EndsBy(%d) = %v, want %v", tc.length, got, tc.want)
			}
		})
	}
}
