package mapped

import (
	"testing"

	"golang.org/x/sys/unix"
)

// desc is a test description counting its references.
type desc struct{ refs int }

func (d *desc) IncRef() { d.refs++ }
func (d *desc) DecRef() { d.refs-- }

// TestTable: ids by contents, references, the writable description, a
// changed file's version, and a released file's id remembered.
func TestTable(t *testing.T) {
	var changed []uint64
	m := NewTable[*desc](func(id uint64) { changed = append(changed, id) })
	v1 := Key{Dev: 1, Ino: 10, Size: 100, Mtime: 5}
	v2 := Key{Dev: 1, Ino: 10, Size: 200, Mtime: 6}
	a, b := &desc{refs: 1}, &desc{refs: 1}

	id, _ := m.Add(a, v1, false)
	if again, _ := m.Add(b, v1, true); again != id {
		t.Fatalf("same contents mapped twice: ids %d and %d", id, again)
	}
	if b.refs != 1 {
		t.Errorf("the second description holds %d references, want 1 (the writable one kept)", b.refs)
	}
	if w, err := m.GetWritable(id); err != nil || w != b {
		t.Errorf("GetWritable: %v %v, want the shared writable description", w, err)
	} else {
		w.DecRef()
	}
	if !m.Holds(10) || m.Holds(11) {
		t.Error("Holds is wrong")
	}
	// This client changed the file: the id takes the new version, and is
	// reported unless it is the writer's own.
	if got := m.Changed(v2, 0); len(got) != 1 || got[0] != id {
		t.Errorf("Changed = %v, want [%d]", got, id)
	}
	if got := m.Changed(v2, id); len(got) != 0 {
		t.Errorf("Changed except the writer's id = %v, want none", got)
	}
	c := &desc{refs: 1}
	if got, _ := m.Add(c, v2, false); got != id || c.refs != 0 {
		t.Errorf("the new version mapped: id %d (refs %d), want %d (reference consumed)", got, c.refs, id)
	}
	if st, ok := m.StateOf(id); !ok || st.Refs != 3 || st.Size != 200 || !st.Writable {
		t.Errorf("StateOf = %+v %v", st, ok)
	}
	m.Release([]uint64{id, id, id})
	if a.refs != 0 || b.refs != 0 {
		t.Errorf("after the last release: refs %d and %d, want 0", a.refs, b.refs)
	}
	if _, err := m.Get(id); err != unix.EBADF {
		t.Errorf("Get of a released id: %v, want EBADF", err)
	}
	// The same unchanged file mapped again gets its old id back.
	if got, _ := m.Add(&desc{refs: 1}, v2, false); got != id {
		t.Errorf("remapped: id %d, want the released %d", got, id)
	}
	if _, err := m.GetWritable(id); err != unix.EACCES {
		t.Errorf("GetWritable of a read-only mapping: %v, want EACCES", err)
	}
	if len(changed) == 0 {
		t.Error("no change reported")
	}
}

// TestAddRelinkBumpsGen: a live id's gen moves when Add finds its file
// changed by someone else (the key moved without Changed), and only
// then; a released id comes back with its gen.
func TestAddRelinkBumpsGen(t *testing.T) {
	v1 := Key{Dev: 1, Ino: 10, Size: 100, Mtime: 5, Ctime: 5}
	v2 := Key{Dev: 1, Ino: 10, Size: 100, Mtime: 6, Ctime: 6}  // this client's write
	v3 := Key{Dev: 1, Ino: 10, Size: 100, Mtime: 7, Ctime: 7}  // another client's, same size
	v1c := Key{Dev: 1, Ino: 10, Size: 100, Mtime: 5, Ctime: 8} // same mtime tick, ctime moved
	other := Key{Dev: 1, Ino: 11, Size: 100, Mtime: 5, Ctime: 5}
	type op struct {
		do      string // "add", "changed", "release" (the first id, once)
		key     Key
		wantGen uint64
		newID   bool // the add gets another id than the first add's
	}
	for _, tc := range []struct {
		name string
		ops  []op
	}{
		{"same version again", []op{{do: "add", key: v1}, {do: "add", key: v1}}},
		{"another client's same-size write", []op{{do: "add", key: v1}, {do: "add", key: v3, wantGen: 1}}},
		{"only ctime moved", []op{{do: "add", key: v1}, {do: "add", key: v1c, wantGen: 1}}},
		{"this client's own write", []op{{do: "add", key: v1}, {do: "changed", key: v2}, {do: "add", key: v2}}},
		{"another's write after this client's", []op{
			{do: "add", key: v1}, {do: "changed", key: v2}, {do: "add", key: v3, wantGen: 1}}},
		{"two foreign writes", []op{
			{do: "add", key: v1}, {do: "add", key: v3, wantGen: 1}, {do: "add", key: v1c, wantGen: 2}}},
		{"released and mapped again keeps its gen", []op{
			{do: "add", key: v1}, {do: "add", key: v3, wantGen: 1},
			{do: "release"}, {do: "release"}, {do: "add", key: v3, wantGen: 1}}},
		{"released, changed meanwhile: a new id", []op{
			{do: "add", key: v1}, {do: "release"}, {do: "add", key: v3, newID: true}}},
		{"another file is not touched", []op{
			{do: "add", key: v1}, {do: "add", key: other, newID: true}, {do: "add", key: v3, wantGen: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewTable[*desc](func(uint64) {})
			var first uint64
			for i, o := range tc.ops {
				switch o.do {
				case "add":
					id, gen := m.Add(&desc{refs: 1}, o.key, false)
					if i == 0 {
						first = id
					}
					if (id != first) != o.newID {
						t.Errorf("op %d: Add(%+v) = id %d, first id %d, want new id %v", i, o.key, id, first, o.newID)
					}
					if gen != o.wantGen {
						t.Errorf("op %d: Add(%+v) = gen %d, want %d", i, o.key, gen, o.wantGen)
					}
				case "changed":
					m.Changed(o.key, 0)
				case "release":
					m.Release([]uint64{first})
				}
			}
		})
	}
}

// TestAddFresh: an id is fresh only when the client can hold none of its
// pages: neither mapped now nor remembered as released.
func TestAddFresh(t *testing.T) {
	v1 := Key{Dev: 1, Ino: 10, Size: 100, Mtime: 5}
	v2 := Key{Dev: 1, Ino: 10, Size: 100, Mtime: 6}
	tests := []struct {
		name string
		// before runs on the table, whose first Add of v1 made id 1.
		before func(m *Table[*desc])
		key    Key
		fresh  bool
	}{
		{name: "mapped now", key: v1},
		{name: "mapped now, changed by someone else", key: v2},
		{name: "released, unchanged", before: func(m *Table[*desc]) { m.Release([]uint64{1}) }, key: v1},
		{name: "released, then changed", before: func(m *Table[*desc]) { m.Release([]uint64{1}) }, key: v2, fresh: true},
		{name: "another file", key: Key{Dev: 1, Ino: 11, Size: 100, Mtime: 5}, fresh: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewTable[*desc](func(uint64) {})
			if id, _, fresh := m.AddFresh(&desc{refs: 1}, v1, false); id != 1 || !fresh {
				t.Fatalf("first Add: id %d, fresh %v; want 1, true", id, fresh)
			}
			if tc.before != nil {
				tc.before(m)
			}
			if _, _, fresh := m.AddFresh(&desc{refs: 1}, tc.key, false); fresh != tc.fresh {
				t.Errorf("fresh %v, want %v", fresh, tc.fresh)
			}
		})
	}
}
