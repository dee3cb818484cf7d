package replay

import (
	"strings"
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// A toy kernel: fds name files, files name pipes, as in the server.
type (
	fd   struct{ n int32 }
	file struct{ id uint64 }
	pipe struct{ id uint64 }
)

const (
	orderFD Order = iota + 1
	orderFile
	orderPipe
)

type effects struct{ note string }

func derive(fileOf map[*fd]*file, pipeOf map[*file]*pipe) Deriver[*effects] {
	return func(c *Collection[*effects], order Order, obj any) *sentrypb.StateRecord {
		switch o := obj.(type) {
		case *fd:
			if f := fileOf[o]; f != nil {
				c.Touch(orderFile, f)
			}
			return &sentrypb.StateRecord{Key: statekey.FD(1, o.n).String()}
		case *file:
			if p := pipeOf[o]; p != nil {
				c.Touch(orderPipe, p)
			}
			return &sentrypb.StateRecord{Key: statekey.File(o.id).String()}
		case *pipe:
			return &sentrypb.StateRecord{Key: statekey.Pipe(o.id).String()}
		case statekey.Key:
			return &sentrypb.StateRecord{Key: o.String(), Deleted: true}
		}
		return nil
	}
}

func keys(recs []*sentrypb.StateRecord) string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Key)
	}
	return strings.Join(out, " ")
}

func idsRec() *sentrypb.StateRecord { return &sentrypb.StateRecord{Key: statekey.IDs().String()} }

func TestTrackerCollects(t *testing.T) {
	f1, f2 := &file{1}, &file{2}
	p1 := &pipe{7}
	fd3, fd4 := &fd{3}, &fd{4}
	fileOf := map[*fd]*file{fd3: f1, fd4: f2}
	pipeOf := map[*file]*pipe{f1: p1}
	for _, tc := range []struct {
		name  string
		touch func(tr *Tracker[*effects])
		want  string
	}{
		{"nothing", func(*Tracker[*effects]) {}, ""},
		{"one object, touched twice, reported once", func(tr *Tracker[*effects]) { tr.Touch(orderFile, f2); tr.Touch(orderFile, f2) }, "file/2"},
		{"an fd brings its file and the file its pipe, objects first", func(tr *Tracker[*effects]) { tr.Touch(orderFD, fd3) }, "pipe/7 file/1 fdt/1/3"},
		{"touching an earlier order while deriving is still derived", func(tr *Tracker[*effects]) { tr.Touch(orderPipe, p1); tr.Touch(orderFD, fd4) }, "pipe/7 file/2 fdt/1/4"},
		{"an id allocated: the allocators' record last", func(tr *Tracker[*effects]) { tr.Touch(orderFile, f2); tr.IDsChanged() }, "file/2 ids"},
		{"ids alone", func(tr *Tracker[*effects]) { tr.IDsChanged() }, "ids"},
		{"deleted keys", func(tr *Tracker[*effects]) { tr.Touch(0, statekey.Proc(5)) }, "proc/5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker[*effects]()
			tc.touch(tr)
			c := tr.Take(0, false)
			if tc.want == "" {
				if c != nil {
					t.Fatalf("Take = %+v, want nil", c)
				}
				return
			}
			if c == nil {
				t.Fatal("Take = nil")
			}
			if got := keys(c.Derive(derive(fileOf, pipeOf), idsRec)); got != tc.want {
				t.Fatalf("records %q, want %q", got, tc.want)
			}
			if c := tr.Take(0, false); c != nil {
				t.Fatal("the tracker did not start afresh after Take")
			}
		})
	}
}

func TestEffectsGoWithTheirReplyOnly(t *testing.T) {
	tr := NewTracker[*effects]()
	tr.SetEffects(10, &effects{"ten"})
	tr.SetEffects(11, &effects{"eleven"})
	if c := tr.Take(10, false); c != nil {
		t.Fatalf("a push took effects: %+v", c)
	}
	c := tr.Take(11, true)
	if c == nil || !c.HasEffects || c.Effects.note != "eleven" || c.ReplySeq != 11 {
		t.Fatalf("Take(11) = %+v, want call 11's effects", c)
	}
	c.Add(&sentrypb.StateRecord{Key: statekey.Write(11).String()})
	if got := keys(c.Derive(derive(nil, nil), idsRec)); got != "write/11" {
		t.Fatalf("records %q", got)
	}
	if c := tr.Take(11, true); c != nil {
		t.Fatal("call 11's effects were handed over twice")
	}
	if c := tr.Take(10, true); c == nil || c.Effects.note != "ten" {
		t.Fatalf("Take(10) = %+v", c)
	}
}

func TestIDsAllocatedWhileDerivingAreReported(t *testing.T) {
	tr := NewTracker[*effects]()
	tr.BumpID(41)
	tr.Touch(orderFile, &file{1})
	c := tr.Take(0, false)
	got := keys(c.Derive(func(c *Collection[*effects], _ Order, _ any) *sentrypb.StateRecord {
		if id := tr.NewID(); id != 42 {
			t.Errorf("NewID = %d after BumpID(41)", id)
		}
		tr.IDsChanged()
		return &sentrypb.StateRecord{Key: statekey.File(1).String()}
	}, idsRec))
	if got != "file/1 ids" {
		t.Fatalf("records %q", got)
	}
	if tr.NextID() != 43 {
		t.Fatalf("NextID = %d", tr.NextID())
	}
	tr.Reset()
	if c := tr.Take(0, false); c == nil || keys(c.Derive(derive(nil, nil), idsRec)) != "ids" {
		t.Fatal("Reset did not mark the allocators' record")
	}
}

// TestTrackerReusesBuffers: a message's Take and Derive allocate only
// the slice of records they return: the touched objects' set and the
// collection are the previous message's (the records are the Deriver's,
// prebuilt here).
func TestTrackerReusesBuffers(t *testing.T) {
	tr := NewTracker[*effects]()
	fds := []*fd{{3}, {4}, {5}}
	recs := map[any]*sentrypb.StateRecord{}
	for _, f := range fds {
		recs[f] = &sentrypb.StateRecord{Key: statekey.FD(1, f.n).String()}
	}
	idsR := idsRec()
	message := func() {
		for _, f := range fds {
			tr.Touch(orderFD, f)
		}
		tr.Touch(orderFD, fds[0])
		tr.IDsChanged()
		c := tr.Take(7, true)
		got := c.Derive(func(_ *Collection[*effects], _ Order, obj any) *sentrypb.StateRecord { return recs[obj] }, func() *sentrypb.StateRecord { return idsR })
		if len(got) != len(fds)+1 {
			t.Fatalf("%d records, want %d", len(got), len(fds)+1)
		}
	}
	message()
	if n := testing.AllocsPerRun(100, message); n > 1 {
		t.Fatalf("%.0f allocations per message, want 1 (its records' slice)", n)
	}
}

// TestTrackerManyObjects: a message touching more objects than are
// searched linearly (an exec closing many fds) still reports each once,
// from message to message.
func TestTrackerManyObjects(t *testing.T) {
	tr := NewTracker[*effects]()
	for round := range 3 {
		n := 10 + 40*round
		var fds []*fd
		for i := range n {
			fds = append(fds, &fd{int32(i)})
		}
		for range 2 {
			for _, f := range fds {
				tr.Touch(orderFD, f)
			}
		}
		got := tr.Take(0, false).Derive(derive(nil, nil), idsRec)
		seen := map[string]bool{}
		for _, r := range got {
			if seen[r.Key] {
				t.Fatalf("round %d: %s reported twice", round, r.Key)
			}
			seen[r.Key] = true
		}
		if len(got) != n {
			t.Fatalf("round %d: %d records, want %d", round, len(got), n)
		}
	}
}

// TestIDsReserved: the allocators' record reserves ids ahead, so new
// objects' ids make a message carry it only once the reserve is used up,
// and a server restored from it allocates past every id handed out.
func TestIDsReserved(t *testing.T) {
	tr := NewTracker[*effects]()
	var reported uint64
	records := func() (ids int) {
		c := tr.Take(0, false)
		if c == nil {
			return 0
		}
		for _, r := range c.Derive(derive(nil, nil), func() *sentrypb.StateRecord {
			reported = tr.ReserveIDs()
			return idsRec()
		}) {
			if r.Key == statekey.IDs().String() {
				ids++
			}
		}
		return ids
	}
	var last uint64
	carried := 0
	for range 3 * idReserve {
		last = tr.NewID()
		carried += records()
		if reported <= last {
			t.Fatalf("id %d handed out with next_object %d reported", last, reported)
		}
	}
	if carried > 4 {
		t.Errorf("%d allocators' records for %d ids, want one per %d", carried, 3*idReserve, idReserve)
	}
	// A server restored from the record: BumpID(next_object - 1).
	restored := NewTracker[*effects]()
	restored.BumpID(reported - 1)
	if id := restored.NewID(); id <= last {
		t.Fatalf("the restored server allocated %d, handed out before: up to %d", id, last)
	}
}

// TestTakeEffectsLeavesTouched: a held reply takes its call's effects
// alone; the objects touched stay for the message that carries it out,
// reported there once.
func TestTakeEffectsLeavesTouched(t *testing.T) {
	tr := NewTracker[*effects]()
	f := &file{3}
	tr.Touch(orderFile, f)
	if c := tr.TakeEffects(5); c != nil {
		t.Fatalf("TakeEffects of a call without effects = %+v, want nil", c)
	}
	tr.SetEffects(5, &effects{"five"})
	c := tr.TakeEffects(5)
	if c == nil || !c.HasEffects || c.Effects.note != "five" || c.ReplySeq != 5 {
		t.Fatalf("TakeEffects(5) = %+v, want call 5's effects", c)
	}
	if got := keys(c.Derive(derive(nil, nil), idsRec)); got != "" {
		t.Fatalf("a held reply's records %q, want none of the touched objects", got)
	}
	tr.Touch(orderFile, f)
	c = tr.Take(0, false)
	if c == nil || c.HasEffects {
		t.Fatalf("Take after TakeEffects = %+v, want the touched objects alone", c)
	}
	if got := keys(c.Derive(derive(nil, nil), idsRec)); got != "file/3" {
		t.Fatalf("the carrying message's records %q, want file/3 once", got)
	}
}
