package mount

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseTmpfsOptions(t *testing.T) {
	const ram = 8 << 30
	for _, tc := range []struct {
		data string
		ram  int // -1: unknown (0)
		want TmpfsOptions
		show string
		err  bool
	}{
		{data: "", want: TmpfsOptions{Mode: 01777}, show: ""},
		{data: "size=1m,mode=755", want: TmpfsOptions{Mode: 0755, Size: 1 << 20, HasSize: true}, show: ",size=1024k,mode=755"},
		{data: "size=1000", want: TmpfsOptions{Mode: 01777, Size: 4096, HasSize: true}, show: ",size=4k"},
		{data: "size=0", want: TmpfsOptions{Mode: 01777, HasSize: true}, show: ",size=0k"},
		{data: "size=50%", want: TmpfsOptions{Mode: 01777, Size: 4 << 30, HasSize: true}, show: ",size=4194304k"},
		{data: "size=50%", ram: -1, want: TmpfsOptions{Mode: 01777}, show: ""},
		{data: "size=0x10k", want: TmpfsOptions{Mode: 01777, Size: 16 << 10, HasSize: true}, show: ",size=16k"},
		{data: "nr_blocks=2", want: TmpfsOptions{Mode: 01777, Size: 8192, HasSize: true}, show: ",size=8k"},
		{data: "uid=1000,gid=100,mode=0700", want: TmpfsOptions{Mode: 0700, UID: 1000, GID: 100}, show: ",mode=700,uid=1000,gid=100"},
		{data: "nr_inodes=10k,,rw", want: TmpfsOptions{Mode: 01777, NrInodes: 10240, HasNrInodes: true}, show: ",nr_inodes=10240"},
		{data: "ro,huge=never", want: TmpfsOptions{Mode: 01777, ReadOnly: true}},
		{data: "size=1q", err: true},
		{data: "size=", err: true},
		{data: "size", err: true},
		{data: "mode=9", err: true},
		{data: "uid=-1", err: true},
		{data: "uid=4294967295", err: true},
		{data: "bogus=1", err: true},
		{data: "bogus", err: true},
		{data: "ro=1", err: true},
		{data: "size=99999999999999999999", err: true},
		{data: "size=20000000e", err: true},
		{data: "huge=sometimes", err: true},
	} {
		r := uint64(ram)
		if tc.ram < 0 {
			r = 0
		}
		got, err := ParseTmpfsOptions(tc.data, r)
		if tc.err {
			if !errors.Is(err, unix.EINVAL) {
				t.Errorf("%q: err %v, want EINVAL", tc.data, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.data, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q = %+v, want %+v", tc.data, got, tc.want)
		}
		if s := got.String(); s != tc.show {
			t.Errorf("%q shows %q, want %q", tc.data, s, tc.show)
		}
	}
}

func TestTableAddRemove(t *testing.T) {
	tb := NewTable(0xfe01, 14)
	add := func(target string) Mount {
		t.Helper()
		m, err := tb.Add(Mount{FSType: "tmpfs", Source: "tmpfs", Target: target})
		if err != nil {
			t.Fatalf("add %s: %v", target, err)
		}
		return m
	}
	a := add("/mnt")
	b := add("/mnt/sub")
	c := add("/mnt") // stacked over a
	d := add("/dev/shm")
	e := add("/mntx")
	for _, tc := range []struct {
		m      Mount
		id     int
		parent int
	}{
		{a, 5, RootID}, {b, 6, a.ID}, {c, 7, a.ID}, {d, 8, DevID}, {e, 9, RootID},
	} {
		if tc.m.ID != tc.id || tc.m.ParentID != tc.parent {
			t.Errorf("%s: id %d parent %d, want %d %d", tc.m.Target, tc.m.ID, tc.m.ParentID, tc.id, tc.parent)
		}
	}
	if _, err := tb.Add(Mount{FSType: "tmpfs", Target: "rel"}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("relative target: %v", err)
	}
	if _, err := tb.Add(Mount{ID: 5, FSType: "tmpfs", Target: "/x"}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("id in use: %v", err)
	}
	if _, err := tb.Remove(a.ID, false); !errors.Is(err, unix.EBUSY) {
		t.Errorf("remove a with mounts under it: %v", err)
	}
	if _, err := tb.Remove(RootID, true); !errors.Is(err, unix.EINVAL) {
		t.Errorf("remove root: %v", err)
	}
	if gone, err := tb.Remove(c.ID, false); err != nil || len(gone) != 1 {
		t.Errorf("remove c: %v %v", gone, err)
	}
	gone, err := tb.Remove(a.ID, true)
	if err != nil || len(gone) != 2 || gone[0].ID != b.ID || gone[1].ID != a.ID {
		t.Errorf("detach a = %+v, %v; want b then a", gone, err)
	}
	if n := tb.Len(); n != 6 {
		t.Errorf("%d mounts left, want 6", n)
	}
	if r := tb.Record(a.ID); !r.Deleted || r.Key != "mount/5" {
		t.Errorf("record of a removed mount = %v", r)
	}
	r := tb.Record(d.ID)
	m, err := FromRecord(r.GetMount(), 1<<30)
	if err != nil || m.Target != "/dev/shm" || m.ID != d.ID {
		t.Errorf("record round trip = %+v, %v", m, err)
	}
	r.GetMount().Target = []byte("/a/../b")
	if _, err := FromRecord(r.GetMount(), 1<<30); err == nil {
		t.Errorf("unclean target accepted")
	}
}

func TestMountOptions(t *testing.T) {
	tb := NewTable(0, 14)
	o, _ := ParseTmpfsOptions("size=4k,mode=700", 0)
	m, _ := tb.Add(Mount{FSType: "tmpfs", Source: "my src", Target: "/t", Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME,
		FSOptions: o.String(), Tmpfs: o, SuperReadOnly: true})
	p := m.Proc()
	if p.Options != "ro,nosuid,nodev,noexec,relatime" || p.Super != "ro,size=4k,mode=700" {
		t.Errorf("options %q super %q", p.Options, p.Super)
	}
}

// TestPropagation: change_mnt_propagation's transitions, mountinfo's
// optional fields, and their records (a fixed mount's too).
func TestPropagation(t *testing.T) {
	tb := NewTable(1, 2)
	bind, err := tb.Add(Mount{FSType: "gofer", Source: "gofer", Target: "/target", Root: "/", BindPath: "/"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tb.Add(Mount{FSType: "tmpfs", Source: "none", Target: "/target/sub"})
	if err != nil {
		t.Fatal(err)
	}
	optional := func(id int) string { m, _ := tb.Get(id); return m.Optional() }
	for _, step := range []struct {
		name string
		id   int
		kind uint64
		rec  bool
		// want are the optional fields of root, bind and sub after it.
		want    [3]string
		wantErr bool
	}{
		{name: "root shared", id: RootID, kind: unix.MS_SHARED, want: [3]string{" shared:1", "", ""}},
		{name: "bind rshared", id: bind.ID, kind: unix.MS_SHARED, rec: true, want: [3]string{" shared:1", " shared:2", " shared:3"}},
		{name: "bind shared again keeps its group", id: bind.ID, kind: unix.MS_SHARED, want: [3]string{" shared:1", " shared:2", " shared:3"}},
		{name: "root slave without peers is private", id: RootID, kind: unix.MS_SLAVE, want: [3]string{"", " shared:2", " shared:3"}},
		{name: "bind unbindable", id: bind.ID, kind: unix.MS_UNBINDABLE, want: [3]string{"", " unbindable", " shared:3"}},
		{name: "bind rprivate", id: bind.ID, kind: unix.MS_PRIVATE, rec: true, want: [3]string{"", "", ""}},
		{name: "bad kind", id: bind.ID, kind: unix.MS_BIND, wantErr: true, want: [3]string{"", "", ""}},
		{name: "no such mount", id: 99, kind: unix.MS_SHARED, wantErr: true, want: [3]string{"", "", ""}},
	} {
		_, err := tb.SetPropagation(step.id, step.kind, step.rec)
		if (err != nil) != step.wantErr {
			t.Fatalf("%s: err %v", step.name, err)
		}
		got := [3]string{optional(RootID), optional(bind.ID), optional(sub.ID)}
		if got != step.want {
			t.Fatalf("%s: optional fields %q, want %q", step.name, got, step.want)
		}
	}

	// A slave of a group with peers; records round-trip.
	if _, err := tb.SetPropagation(RootID, unix.MS_SHARED, false); err != nil {
		t.Fatal(err)
	}
	root, _ := tb.Get(RootID)
	tb.SetShared(bind.ID, root.Shared)
	if _, err := tb.SetPropagation(bind.ID, unix.MS_SLAVE, false); err != nil {
		t.Fatal(err)
	}
	if got, want := optional(bind.ID), " master:"+itoa(root.Shared); got != want {
		t.Fatalf("slave of a peer: %q, want %q", got, want)
	}
	if r := tb.Receivers(RootID); len(r) != 1 || r[0].ID != bind.ID {
		t.Fatalf("receivers of the root: %+v", r)
	}
	rec := tb.Record(RootID)
	if rec.Deleted || rec.GetMount().GetSharedGroup() != int32(root.Shared) {
		t.Fatalf("root's record %v", rec)
	}
	fresh := NewTable(1, 2)
	if err := fresh.RestoreFixedPropagation(rec.GetMount()); err != nil {
		t.Fatal(err)
	}
	if m, _ := fresh.Get(RootID); m.Shared != root.Shared {
		t.Fatalf("restored root %+v", m)
	}
	m, err := FromRecord(tb.Record(bind.ID).GetMount(), 0)
	if err != nil || m.Master != root.Shared || m.Shared != 0 {
		t.Fatalf("bind's record: %+v, %v", m, err)
	}
	if g := fresh.NewGroup(); g <= root.Shared {
		t.Fatalf("new group %d after restoring group %d", g, root.Shared)
	}
	if _, err := tb.SetPropagation(RootID, unix.MS_PRIVATE, false); err != nil {
		t.Fatal(err)
	}
	if !tb.Record(RootID).Deleted {
		t.Fatalf("a private root has a record")
	}
}

func itoa(n int) string { return fmt.Sprint(n) }

func TestPathIn(t *testing.T) {
	for _, tc := range []struct {
		from, to Mount
		p, want  string
		ok       bool
	}{
		{from: Mount{Target: "/"}, to: Mount{Target: "/t", Root: "/"}, p: "/m", want: "/t/m", ok: true},
		{from: Mount{Target: "/t", Root: "/"}, to: Mount{Target: "/"}, p: "/t/m", want: "/m", ok: true},
		{from: Mount{Target: "/"}, to: Mount{Target: "/b", Root: "/x"}, p: "/x/y", want: "/b/y", ok: true},
		{from: Mount{Target: "/"}, to: Mount{Target: "/b", Root: "/x"}, p: "/z", ok: false},
	} {
		got, ok := PathIn(tc.from, tc.to, tc.p)
		if got != tc.want || ok != tc.ok {
			t.Errorf("PathIn(%+v, %+v, %q) = %q, %v; want %q, %v", tc.from, tc.to, tc.p, got, ok, tc.want, tc.ok)
		}
	}
}

// TestCopyNS: a namespace's copy has new ids, its parents mapped to the
// copies, the fixed mounts marked, a backed tmpfs's files named by its
// original (SB), and the propagation of its original (a shared mount's
// copy is its peer); a mount added to one namespace has its parent
// there; RemoveNS takes out the copies alone, and a record round-trips.
func TestCopyNS(t *testing.T) {
	tb := NewTable(1, 2)
	a, err := tb.Add(Mount{FSType: "tmpfs", Source: "tmpfs", Target: "/mnt", Backed: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.SetPropagation(a.ID, unix.MS_SHARED, false); err != nil {
		t.Fatal(err)
	}
	copies, orig, err := tb.CopyNS(0, 7)
	if err != nil || len(copies) != 5 {
		t.Fatalf("CopyNS: %d copies, %v", len(copies), err)
	}
	byOrig := map[int]Mount{}
	for _, c := range copies {
		byOrig[orig[c.ID]] = c
		if c.NS != 7 || c.ID < firstID || IsFixed(c.ID) {
			t.Errorf("copy %+v: want namespace 7 and a new id", c)
		}
	}
	root, mnt := byOrig[RootID], byOrig[a.ID]
	if root.Fixed != RootID || root.ParentID != 0 || tb.FixedID(7, RootID) != root.ID || tb.FixedID(7, DevPtsID) != byOrig[DevPtsID].ID {
		t.Errorf("root's copy %+v", root)
	}
	if byOrig[DevPtsID].ParentID != byOrig[DevID].ID || mnt.ParentID != root.ID {
		t.Errorf("parents not mapped: /dev/pts %+v, /mnt %+v", byOrig[DevPtsID], mnt)
	}
	if mnt.SB != a.ID || mnt.Backing() != a.ID || mnt.Shared == 0 {
		t.Errorf("/mnt's copy %+v: want the files of %d, shared", mnt, a.ID)
	}
	if a2, _ := tb.Get(a.ID); a2.Shared != mnt.Shared {
		t.Errorf("/mnt's copy is in group %d, its original in %d: want peers", mnt.Shared, a2.Shared)
	}
	if r := tb.Receivers(a.ID); len(r) != 1 || r[0].ID != mnt.ID {
		t.Errorf("receivers of /mnt: %+v, want its copy", r)
	}
	sub, err := tb.Add(Mount{FSType: "tmpfs", Source: "tmpfs", Target: "/mnt/x", Backed: true, NS: 7})
	if err != nil || sub.ParentID != mnt.ID {
		t.Errorf("a mount in namespace 7: %+v, %v, want the parent %d", sub, err, mnt.ID)
	}
	if n := len(tb.ListNS(0)); n != 5 {
		t.Errorf("namespace 0 has %d mounts, want 5", n)
	}
	got, err := FromRecord(tb.Record(root.ID).GetMount(), 0)
	if err != nil || got.NS != 7 || got.Fixed != RootID || got.ID != root.ID {
		t.Errorf("root's copy from its record: %+v, %v", got, err)
	}
	if gone := tb.RemoveNS(7); len(gone) != 6 || len(tb.List()) != 5 {
		t.Errorf("RemoveNS took %d, %d left", len(gone), len(tb.List()))
	}
}
