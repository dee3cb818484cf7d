package durable

import "testing"

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
		if d.End(f, seq, 10) {
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
	if seq, ok, release := d.Announce(f); !ok || seq != 1 || release {
		t.Errorf("Announce: %d %v %v, want 1 (write 2's WriteState not sent), not released", seq, ok, release)
	}
	d.MarkSent(f, 2)
	if seq, ok, release := d.Announce(f); !ok || seq != 3 || !release {
		t.Errorf("Announce: %d %v %v, want 3, released", seq, ok, release)
	}
	if d.Holds(f) || len(d.Pending()) != 0 {
		t.Error("a file with nothing pending is still tracked")
	}

	// A failed fsync leaves the writes to sync again; a write of nothing
	// is forgotten.
	g := &desc{}
	d.Begin(g, 7)
	d.End(g, 7, 5)
	d.MarkSent(g, 7)
	d.EndSync(g, d.StartSync(g), false)
	if _, ok, _ := d.Announce(g); ok {
		t.Error("Announce after a failed fsync")
	}
	if again := d.StartSync(g); len(again) != 1 {
		t.Errorf("StartSync after a failed fsync: %v, want [7]", again)
	}
	d.Begin(g, 8)
	if d.End(g, 8, 0) {
		t.Error("an empty write released a file with a write pending")
	}
	d.ReleaseAll()
	if g.refs != 0 {
		t.Errorf("ReleaseAll left %d references", g.refs)
	}
}
