package fdtable

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
)

// testImpl is a file kind with nothing to it; released counts the
// releases of its descriptions.
type testImpl struct {
	fdesc.FileBase
	released *int
}

func (testImpl) Read(fdesc.Call, *fdesc.File, int, int64) ([]byte, error) { return nil, nil }
func (testImpl) Stat(fdesc.Call) (*goferpb.Stat, error)                   { return &goferpb.Stat{}, nil }
func (i testImpl) Release() {
	if i.released != nil {
		*i.released++
	}
}

// testDentry is a dentry of inode ino.
type testDentry uint64

func (d testDentry) Ino() uint64 { return uint64(d) }

func newFile() *fdesc.File { return fdesc.NewFile(testImpl{}, nil, nil, unix.O_RDWR) }

// recorder is a Tracker that records what it is told.
type recorder struct {
	slots []Slot
	files []*fdesc.File
}

func (r *recorder) TouchSlot(s Slot)        { r.slots = append(r.slots, s) }
func (r *recorder) TouchFile(f *fdesc.File) { r.files = append(r.files, f) }
func (r *recorder) take() (out []Slot)      { out, r.slots = r.slots, nil; return out }
func slotsOf(t *Table, fds ...int32) (out []Slot) {
	for _, fd := range fds {
		out = append(out, Slot{t, fd})
	}
	return out
}

// TestLimits: fds above 1024 up to nr_open, the errnos of dup2, dup3 and
// F_DUPFD at the limit, and a high fd costing one entry.
func TestLimits(t *testing.T) {
	tab := New(nil, nil, nil, nil)
	for i := 0; i < 3; i++ {
		if _, err := tab.Install(newFile(), 0, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	type step struct {
		name    string
		do      func() (int32, error)
		want    int32
		wantErr error
	}
	install := func(min int32) func() (int32, error) {
		return func() (int32, error) { return tab.Install(newFile(), min, false, 0) }
	}
	dup2 := func(fd int32) func() (int32, error) {
		return func() (int32, error) {
			old, err := tab.InstallAt(fd, newFile(), false, false, 0)
			if old != nil {
				old.DecRef()
			}
			return fd, err
		}
	}
	limit := func(n int32) func() (int32, error) {
		return func() (int32, error) { tab.SetLimit(n); return 0, nil }
	}
	for _, s := range []step{
		{"lowest free", install(0), 3, nil},
		{"F_DUPFD at the default limit", install(DefaultNofile), -1, unix.EINVAL},
		{"F_DUPFD below zero", install(-1), -1, unix.EINVAL},
		{"dup2 at the default limit", dup2(DefaultNofile), -1, unix.EBADF},
		{"dup2 below zero", dup2(-1), -1, unix.EBADF},
		{"raise to nr_open", limit(DefaultNrOpen), 0, nil},
		{"dup2 to 1000000", dup2(1000000), 1000000, nil},
		{"F_DUPFD from nr_open-1", install(DefaultNrOpen - 1), DefaultNrOpen - 1, nil},
		{"F_DUPFD from nr_open-1 again: full", install(DefaultNrOpen - 1), -1, unix.EMFILE},
		{"F_DUPFD at nr_open", install(DefaultNrOpen), -1, unix.EINVAL},
		{"dup2 at nr_open", dup2(DefaultNrOpen), -1, unix.EBADF},
		{"F_DUPFD above 1024", install(2000), 2000, nil},
		{"lower to 100", limit(100), 0, nil},
		{"dup2 at the lowered limit", dup2(100), -1, unix.EBADF},
		{"dup2 below it", dup2(99), 99, nil},
		{"F_DUPFD at the lowered limit", install(100), -1, unix.EINVAL},
	} {
		got, err := s.do()
		if err != s.wantErr || (err == nil && got != s.want) {
			t.Errorf("%s: %d, %v; want %d, %v", s.name, got, err, s.want, s.wantErr)
		}
	}
	if got := tab.Limit(); got != 100 {
		t.Errorf("Limit %d, want 100", got)
	}
	// fds above the lowered limit stay usable, in order, and cost one
	// entry each.
	want := []int32{0, 1, 2, 3, 99, 2000, 1000000, DefaultNrOpen - 1}
	if got := tab.List(); !slices.Equal(got, want) {
		t.Errorf("List %v, want %v", got, want)
	}
	var each []int32
	tab.Each(func(fd int32, e Entry) { each = append(each, fd) })
	if !slices.Equal(each, want) {
		t.Errorf("Each %v, want %v", each, want)
	}
	if f, _, err := tab.Get(1000000); err != nil {
		t.Errorf("Get 1000000: %v", err)
	} else {
		f.DecRef()
	}
	if _, _, err := tab.Get(1000001); err != unix.EBADF {
		t.Errorf("Get of a free high fd: %v, want EBADF", err)
	}
	if len(tab.fds) > denseFDs || len(tab.high) != 3 {
		t.Errorf("table of %d dense and %d high entries", len(tab.fds), len(tab.high))
	}
	child := tab.Fork()
	if got := child.List(); !slices.Equal(got, want) {
		t.Errorf("Fork: List %v, want %v", got, want)
	}
	if got := child.Limit(); got != 100 {
		t.Errorf("Fork: Limit %d, want 100", got)
	}
	if f, err := child.Remove(1000000); err != nil {
		t.Errorf("Remove 1000000: %v", err)
	} else {
		f.DecRef()
	}
	if _, err := child.Remove(1000000); err != unix.EBADF {
		t.Errorf("Remove 1000000 twice: %v, want EBADF", err)
	}
	if n := tab.Count(); n != len(want) {
		t.Errorf("parent lost fds to the child's close: %d", n)
	}
	// Filling a large table is not quadratic: the free-slot hint.
	big := New(nil, nil, nil, nil)
	big.SetLimit(200000)
	f := newFile()
	for i := 0; i < 200000; i++ {
		f.IncRef()
		if _, err := big.Install(f, 0, false, 0); err != nil {
			t.Fatalf("Install %d: %v", i, err)
		}
	}
	f.IncRef()
	if _, err := big.Install(f, 0, false, 0); err != unix.EMFILE {
		t.Errorf("Install into a full table: %v, want EMFILE", err)
	}
	if old, err := big.Remove(150000); err != nil || old == nil {
		t.Fatal(err)
	}
	f.IncRef()
	if fd, err := big.Install(f, 0, false, 0); fd != 150000 || err != nil {
		t.Errorf("Install after close(150000): %d %v", fd, err)
	}
}

// TestTracker: every change of a slot is reported as that slot, and a
// description a table first holds reports its own changes to the table's
// tracker; a table without a tracker reports nothing.
func TestTracker(t *testing.T) {
	rec := &recorder{}
	tab := New(rec, nil, nil, nil)
	a, b := newFile(), newFile()
	b.IncRef()
	tests := []struct {
		name string
		do   func()
		want []Slot
	}{
		{"install", func() { tab.Install(a, 0, false, 0) }, slotsOf(tab, 0)},
		{"install from 5", func() { a.IncRef(); tab.Install(a, 5, false, 0) }, slotsOf(tab, 5)},
		{"install pair", func() { a.IncRef(); tab.InstallPair(a, b, true, 0) }, slotsOf(tab, 1, 2)},
		{"cloexec", func() { tab.SetCloexec(5, true) }, slotsOf(tab, 5)},
		{"cloexec of a free fd", func() { tab.SetCloexec(9, true) }, nil},
		{"dup2 at the limit", func() { a.IncRef(); tab.InstallAt(2000, a, false, false, 0) }, nil},
		{"replay above the limit", func() { a.IncRef(); tab.InstallAt(2000, a, false, true, 0) }, slotsOf(tab, 2000)},
		{"close", func() { tab.Remove(1) }, slotsOf(tab, 1)},
		{"close of a free fd", func() { tab.Remove(1) }, nil},
		{"close-on-exec", func() { tab.RemoveIf(func(e Entry) bool { return e.Cloexec }) }, slotsOf(tab, 2, 5)},
		{"cloexec range", func() { a.IncRef(); tab.Install(a, 3, false, 0); rec.take(); tab.SetCloexecRange(0, 3) }, slotsOf(tab, 0, 3)},
		{"cloexec range of set flags", func() { tab.SetCloexecRange(0, 3) }, nil},
		{"close range", func() { decRefs(tab.RemoveRange(1, 3)) }, slotsOf(tab, 3)},
		{"close range of free fds", func() { decRefs(tab.RemoveRange(1, 1999)) }, nil},
		{"cloexec back", func() { tab.SetCloexec(0, false) }, slotsOf(tab, 0)},
		{"read", func() { tab.Entry(0); tab.List(); f, _, _ := tab.Get(0); f.DecRef() }, nil},
	}
	for _, tc := range tests {
		tc.do()
		if got := rec.take(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: touched %v, want %v", tc.name, got, tc.want)
		}
	}
	if a.Tracker() != rec || b.Tracker() != rec {
		t.Errorf("descriptions' trackers %v, %v; want the table's", a.Tracker(), b.Tracker())
	}
	if e := tab.Entry(2000); e.File != a || e.Cloexec {
		t.Errorf("Entry(2000) = %+v", e)
	}
	child := tab.Fork()
	if got := rec.take(); !slices.Equal(got, slotsOf(child, 0, 2000)) {
		t.Errorf("fork: touched %v, want the child's 0 and 2000", got)
	}
	quiet := New(nil, nil, nil, nil)
	c := newFile()
	quiet.Install(c, 0, false, 0)
	if c.Tracker() != nil {
		t.Errorf("a table without a tracker set one on its description")
	}
}

func decRefs(fs []*fdesc.File) {
	for _, f := range fs {
		f.DecRef()
	}
}

// TestRanges: close_range's closes and close-on-exec flags reach the open
// fds in [first, last] only, in the dense array and above it, with
// unsigned bounds up to ~0U, and RemoveRange gives their files in fd
// order.
func TestRanges(t *testing.T) {
	open := []int32{0, 1, 2, 5, 1023, 1024, 5000, DefaultNrOpen - 1}
	const maxU32 = 1<<32 - 1
	tests := []struct {
		name        string
		first, last uint32
		want        []int32 // the fds in range
	}{
		{"all", 0, maxU32, open},
		{"from 3", 3, maxU32, []int32{5, 1023, 1024, 5000, DefaultNrOpen - 1}},
		{"one", 5, 5, []int32{5}},
		{"a free one", 4, 4, nil},
		{"across the array's end", 1000, 2000, []int32{1023, 1024}},
		{"above the array", 1025, DefaultNrOpen - 2, []int32{5000}},
		{"the last possible", DefaultNrOpen - 1, DefaultNrOpen - 1, []int32{DefaultNrOpen - 1}},
		{"past nr_open", DefaultNrOpen, maxU32, nil},
		{"~0U", maxU32, maxU32, nil},
	}
	fill := func() (*Table, map[*fdesc.File]int32) {
		tab := New(nil, nil, nil, nil)
		files := make(map[*fdesc.File]int32)
		for _, fd := range open {
			f := newFile()
			files[f] = fd
			if _, err := tab.InstallAt(fd, f, false, true, 0); err != nil {
				t.Fatal(err)
			}
		}
		return tab, files
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, files := fill()
			var got []int32
			for _, f := range tab.RemoveRange(tc.first, tc.last) {
				got = append(got, files[f])
				f.DecRef()
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("RemoveRange(%d, %d) closed %v, want %v", tc.first, tc.last, got, tc.want)
			}
			left := slices.DeleteFunc(slices.Clone(open), func(fd int32) bool { return slices.Contains(tc.want, fd) })
			if l := tab.List(); !slices.Equal(l, left) {
				t.Errorf("open after RemoveRange: %v, want %v", l, left)
			}

			tab, _ = fill()
			tab.SetCloexecRange(tc.first, tc.last)
			var flagged []int32
			tab.Each(func(fd int32, e Entry) {
				if e.Cloexec {
					flagged = append(flagged, fd)
				}
			})
			if !slices.Equal(flagged, tc.want) {
				t.Errorf("SetCloexecRange(%d, %d) flagged %v, want %v", tc.first, tc.last, flagged, tc.want)
			}
			if l := tab.List(); !slices.Equal(l, open) {
				t.Errorf("open after SetCloexecRange: %v, want %v", l, open)
			}
		})
	}
}

// TestPOSIXLocksDropped: replacing or closing any fd of a lockable file
// drops the POSIX locks its table holds on the file's inode, and only
// those; changing the fd's flag does not.
func TestPOSIXLocksDropped(t *testing.T) {
	key := func(f *fdesc.File) (uint64, bool) {
		if d, ok := f.Dentry().(testDentry); ok {
			return uint64(d), true
		}
		return 0, false
	}
	const ino = 7
	type step struct {
		name string
		do   func(tab *Table, other *Table)
		held bool // the table's lock on ino is still held after do
	}
	lockable := func() *fdesc.File { return fdesc.NewFile(testImpl{}, testDentry(ino), nil, unix.O_RDWR) }
	for _, s := range []step{
		{"close", func(tab, _ *Table) { f, _ := tab.Remove(0); f.DecRef() }, false},
		{"close of the other fd of the file", func(tab, _ *Table) { f, _ := tab.Remove(1); f.DecRef() }, false},
		{"dup2 over it", func(tab, _ *Table) { f, _ := tab.InstallAt(0, newFile(), false, false, 0); f.DecRef() }, false},
		{"dup2 of the same file over it", func(tab, _ *Table) {
			f, _, _ := tab.Get(0)
			old, _ := tab.InstallAt(0, f, false, false, 0)
			old.DecRef()
		}, true},
		{"cloexec", func(tab, _ *Table) { tab.SetCloexec(0, true) }, true},
		{"close of an unlockable file", func(tab, _ *Table) { f, _ := tab.Remove(2); f.DecRef() }, true},
		{"close in another table", func(_, other *Table) { f, _ := other.Remove(0); f.DecRef() }, true},
		{"close_range over it", func(tab, _ *Table) { decRefs(tab.RemoveRange(1, 1)) }, false},
		{"close_range of the unlockable file", func(tab, _ *Table) { decRefs(tab.RemoveRange(2, 100)) }, true},
		{"close_range's cloexec", func(tab, _ *Table) { tab.SetCloexecRange(0, 100) }, true},
		{"release of the last user", func(tab, _ *Table) {
			for _, f := range tab.Release() {
				f.DecRef()
			}
		}, false},
	} {
		locks := filelock.NewTable[*Table, *fdesc.File](func(uint64) {})
		tab, other := New(nil, locks, key, nil), New(nil, locks, key, nil)
		f := lockable()
		f.IncRef()
		f.IncRef()
		tab.Install(f, 0, false, 0)
		tab.Install(f, 0, false, 0)
		tab.Install(newFile(), 0, false, 0)
		other.Install(f, 0, false, 0)
		for _, owner := range []*Table{tab, other} {
			o := filelock.Owner[*Table, *fdesc.File]{Table: owner}
			start := uint64(0)
			if owner == other {
				start = 100
			}
			if err := locks.Lock(ino, o, false, start, start+10, &filelock.Held[*Table, *fdesc.File]{Owner: o, Write: true, Start: start, End: start + 10}, nil); err != nil {
				t.Fatalf("%s: lock: %v", s.name, err)
			}
		}
		s.do(tab, other)
		record, _, _ := locks.Locks(ino)
		held, otherHeld := false, false
		for _, l := range record {
			held = held || l.Owner.Table == tab
			otherHeld = otherHeld || l.Owner.Table == other
		}
		if held != s.held {
			t.Errorf("%s: table's lock held %v, want %v", s.name, held, s.held)
		}
		if !otherHeld && s.name != "close in another table" {
			t.Errorf("%s: the other table's lock went", s.name)
		}
	}
}

// TestUsers: Release empties the table only with its last user; Unshare
// copies a shared table only.
func TestUsers(t *testing.T) {
	released := 0
	tab := New(nil, nil, nil, nil)
	tab.Install(fdesc.NewFile(testImpl{released: &released}, nil, nil, unix.O_RDONLY), 0, true, 0)
	tab.Install(fdesc.NewFile(testImpl{released: &released}, nil, nil, unix.O_RDONLY), 0, false, 0)
	if own := tab.Unshare(); own != tab {
		t.Errorf("Unshare of a table with one user made a copy")
	}
	tab.IncRef()
	if files := tab.Release(); files != nil || !tab.Live() || tab.Count() != 2 {
		t.Fatalf("Release of one of two users: %d files, live %v, %d fds", len(files), tab.Live(), tab.Count())
	}
	tab.IncRef()
	own := tab.Unshare()
	if own == tab || !slices.Equal(own.List(), []int32{0, 1}) {
		t.Fatalf("Unshare of a shared table: same %v, fds %v", own == tab, own.List())
	}
	if e := own.Entry(0); !e.Cloexec {
		t.Errorf("Unshare lost fd 0's close-on-exec flag")
	}
	// exec's close-on-exec, on the copy only.
	for _, f := range own.RemoveIf(func(e Entry) bool { return e.Cloexec }) {
		f.DecRef()
	}
	if !slices.Equal(own.List(), []int32{1}) || tab.Count() != 2 {
		t.Errorf("close-on-exec: copy %v, original %v", own.List(), tab.List())
	}
	for _, f := range own.Release() {
		f.DecRef()
	}
	if released != 0 {
		t.Errorf("%d descriptions released while the original still holds them", released)
	}
	files := tab.Release()
	if len(files) != 2 || tab.Live() || tab.Count() != 0 {
		t.Fatalf("Release of the last user: %d files, live %v, %d fds", len(files), tab.Live(), tab.Count())
	}
	for _, f := range files {
		f.DecRef()
	}
	if released != 2 {
		t.Errorf("%d descriptions released, want 2", released)
	}
	if tab.ID() != 0 {
		t.Errorf("ID of an unreported table %d", tab.ID())
	}
	tab.SetID(42)
	if tab.ID() != 42 {
		t.Errorf("ID %d after SetID(42)", tab.ID())
	}
}

// TestInstallPairFull: a pair that does not fit installs neither and
// drops both references.
func TestInstallPairFull(t *testing.T) {
	released := 0
	tab := New(nil, nil, nil, nil)
	tab.SetLimit(3)
	tab.Install(newFile(), 0, false, 0)
	tab.Install(newFile(), 0, false, 0)
	a := fdesc.NewFile(testImpl{released: &released}, nil, nil, unix.O_RDONLY)
	b := fdesc.NewFile(testImpl{released: &released}, nil, nil, unix.O_WRONLY)
	if _, _, err := tab.InstallPair(a, b, false, 0); err != unix.EMFILE {
		t.Errorf("InstallPair into one free fd: %v, want EMFILE", err)
	}
	if released != 2 || !slices.Equal(tab.List(), []int32{0, 1}) {
		t.Errorf("after a failed pair: %d released, fds %v", released, tab.List())
	}
	if fd, err := tab.Install(newFile(), 0, false, 0); fd != 2 || err != nil {
		t.Errorf("Install after a failed pair: %d, %v; want 2", fd, err)
	}
}

// TestHasFree: an fd below the limit is free until the table is full,
// and again once one below the highest is closed.
func TestHasFree(t *testing.T) {
	tab := New(nil, nil, nil, nil)
	tab.SetLimit(3)
	for _, step := range []struct {
		name string
		do   func()
		want bool
	}{
		{"empty", func() {}, true},
		{"two of three", func() { tab.Install(newFile(), 0, false, 0); tab.Install(newFile(), 0, false, 0) }, true},
		{"full", func() { tab.Install(newFile(), 0, false, 0) }, false},
		{"fd 1 closed", func() {
			if f, err := tab.Remove(1); err == nil {
				f.DecRef()
			}
		}, true},
		{"limit lowered to 1", func() { tab.SetLimit(1) }, false},
	} {
		step.do()
		if got := tab.HasFree(); got != step.want {
			t.Errorf("%s: HasFree() = %v, want %v", step.name, got, step.want)
		}
	}
}

// TestInstallExact: a posted open's description goes at the fd the
// client named, never over an open one unless asked (a re-sent call),
// never at or above the limit; the next Install still finds the lowest
// free fd.
func TestInstallExact(t *testing.T) {
	tab := New(nil, nil, nil, nil)
	tab.SetLimit(8)
	for i := 0; i < 3; i++ {
		if _, err := tab.Install(newFile(), 0, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	released := 0
	for _, s := range []struct {
		name    string
		fd      int32
		replace bool
		wantErr error
		// wantOld says the call returns the file it replaced.
		wantOld bool
	}{
		{name: "the lowest free", fd: 3},
		{name: "a free one above it", fd: 5},
		{name: "an open one", fd: 3, wantErr: unix.EBUSY},
		{name: "an open one, replaced (re-sent)", fd: 3, replace: true, wantOld: true},
		{name: "a free one, replace allowed", fd: 4, replace: true},
		{name: "at the limit", fd: 8, wantErr: unix.EMFILE},
		{name: "below zero", fd: -1, wantErr: unix.EMFILE},
	} {
		f := fdesc.NewFile(testImpl{released: &released}, nil, nil, unix.O_RDONLY)
		before := released
		old, err := tab.InstallExact(s.fd, f, true, s.replace, 0)
		if err != s.wantErr || (old != nil) != s.wantOld {
			t.Errorf("%s: InstallExact(%d) = %v, %v; want an old file %v, %v", s.name, s.fd, old, err, s.wantOld, s.wantErr)
		}
		if old != nil {
			old.DecRef()
		}
		if err != nil {
			if released != before+1 {
				t.Errorf("%s: the refused file was not released", s.name)
			}
			continue
		}
		if got, cloexec, err := tab.Get(s.fd); err != nil || got != f || !cloexec {
			t.Errorf("%s: fd %d holds %v (cloexec %v, %v), want the new file with cloexec", s.name, s.fd, got, cloexec, err)
		} else {
			got.DecRef()
		}
	}
	if fd, err := tab.Install(newFile(), 0, false, 0); fd != 6 || err != nil {
		t.Errorf("Install after the exact installs: %d, %v; want 6", fd, err)
	}
	if got, want := tab.List(), []int32{0, 1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("List %v, want %v", got, want)
	}
}

// TestNrOpen: fs/nr_open's bounds, fds at or above it refused below the
// RLIMIT_NOFILE as Linux's expand_files (dup2 EBADF, allocation EMFILE),
// and whether a copy of the table fits (dup_fd's EMFILE).
func TestNrOpen(t *testing.T) {
	var n NrOpen
	for _, v := range []int{NrOpenMin - 1, NrOpenMax + 1, -1} {
		if err := n.Set(v); err != unix.EINVAL {
			t.Errorf("Set(%d): %v, want EINVAL", v, err)
		}
	}
	if got := n.Get(); got != DefaultNrOpen {
		t.Errorf("Get %d, want the default %d", got, DefaultNrOpen)
	}
	if err := n.Set(NrOpenMin); err != nil {
		t.Fatal(err)
	}
	tab := New(nil, nil, nil, &n)
	for i := 0; i < 3; i++ {
		if _, err := tab.Install(newFile(), 0, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	dup2 := func(fd int32) error {
		old, err := tab.InstallAt(fd, newFile(), false, false, 0)
		if old != nil {
			old.DecRef()
		}
		return err
	}
	if err := dup2(63); err != nil {
		t.Fatalf("dup2 to 63: %v", err)
	}
	if !tab.CopyFits() {
		t.Error("CopyFits false with fd 63 and nr_open 64")
	}
	if err := dup2(64); err != unix.EBADF {
		t.Errorf("dup2 to 64 at nr_open 64: %v, want EBADF", err)
	}
	if fd, err := tab.Install(newFile(), 63, false, 0); err != unix.EMFILE {
		t.Errorf("F_DUPFD from 63, taken, up to nr_open 64: fd %d, %v, want EMFILE", fd, err)
	}
	if err := n.Set(128); err != nil {
		t.Fatal(err)
	}
	if err := dup2(65); err != nil {
		t.Fatalf("dup2 to 65 at nr_open 128: %v", err)
	}
	if !tab.CopyFits() {
		t.Error("CopyFits false with fd 65 and nr_open 128")
	}
	if err := n.Set(127); err != nil {
		t.Fatal(err)
	}
	if tab.CopyFits() {
		t.Error("CopyFits true with fd 65 and nr_open 127 (rounded down to 64)")
	}
	if fd, err := tab.Install(newFile(), 0, false, 0); err != nil || fd != 3 {
		t.Errorf("open after nr_open lowered: fd %d, %v, want 3", fd, err)
	}
	// The table has room for 128 fds: nr_open, which bounds its growth,
	// does not refuse fds below that (expand_files).
	if err := n.Set(NrOpenMin); err != nil {
		t.Fatal(err)
	}
	if err := dup2(100); err != nil {
		t.Errorf("dup2 to 100 in a table of 128 at nr_open 64: %v", err)
	}
	if err := dup2(128); err != unix.EBADF {
		t.Errorf("dup2 to 128 at nr_open 64: %v, want EBADF", err)
	}
	if fork := tab.Fork(); fork.nrOpen != &n {
		t.Error("Fork did not keep the table's nr_open")
	}
}

// TestCopyBelow: close_range's CLOSE_RANGE_UNSHARE copies only the fds
// below the range's start, at least 64, rounded up to a word of bits
// (Linux's sane_fdtable_size), and that copy, not the whole table's, must
// fit under nr_open (dup_fd); End is the last fd the table has room for.
func TestCopyBelow(t *testing.T) {
	var n NrOpen
	tab := New(nil, nil, nil, &n)
	for i := 0; i < 3; i++ {
		if _, err := tab.Install(newFile(), 0, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := tab.End(); got != 63 {
		t.Errorf("End of a new table %d, want 63", got)
	}
	for _, fd := range []int32{65, 100, 127} {
		if _, err := tab.InstallAt(fd, newFile(), false, false, 0); err != nil {
			t.Fatalf("dup2 to %d: %v", fd, err)
		}
	}
	if got := tab.End(); got != 127 {
		t.Errorf("End of a table grown for fd 127: %d, want 127", got)
	}
	if err := n.Set(NrOpenMin); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		below int
		fits  bool
	}{
		{3, true},
		{64, true},
		{65, false},
		{100, false},
		{NrOpenMax, false},
	} {
		if got := tab.CopyFitsBelow(tc.below); got != tc.fits {
			t.Errorf("CopyFitsBelow(%d) = %v at nr_open 64, want %v", tc.below, got, tc.fits)
		}
	}
	if tab.CopyFits() {
		t.Error("CopyFits true with fd 127 at nr_open 64")
	}
	// A copy of the fds below 3 keeps the 64 the rounding reaches.
	c := tab.ForkBelow(3)
	if got, want := c.List(), []int32{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("ForkBelow(3) holds %v, want %v", got, want)
	}
	if got := c.End(); got != 63 {
		t.Errorf("End of ForkBelow(3): %d, want 63", got)
	}
	if err := n.Set(DefaultNrOpen); err != nil {
		t.Fatal(err)
	}
	// Below 66 is below 128 once rounded up: fd 127 too.
	c = tab.ForkBelow(66)
	if got, want := c.List(), []int32{0, 1, 2, 65, 100, 127}; !slices.Equal(got, want) {
		t.Errorf("ForkBelow(66) holds %v, want %v", got, want)
	}
	if got := c.End(); got != 127 {
		t.Errorf("End of ForkBelow(66): %d, want 127", got)
	}
	if _, err := tab.InstallAt(200, newFile(), false, false, 0); err != nil {
		t.Fatalf("dup2 to 200: %v", err)
	}
	c = tab.ForkBelow(100)
	if got, want := c.List(), []int32{0, 1, 2, 65, 100, 127}; !slices.Equal(got, want) {
		t.Errorf("ForkBelow(100) holds %v, want %v", got, want)
	}
	if got := c.End(); got != 127 {
		t.Errorf("End of ForkBelow(100): %d, want 127", got)
	}
	if f, err := tab.Remove(200); err == nil {
		f.DecRef()
	}
	// The shared table stays whole; UnshareBelow of a shared one copies.
	tab.IncRef()
	if u := tab.UnshareBelow(64); u == tab || !slices.Equal(u.List(), []int32{0, 1, 2}) {
		t.Errorf("UnshareBelow(64) of a shared table: same %v, holds %v", u == tab, u.List())
	}
	if got, want := tab.List(), []int32{0, 1, 2, 65, 100, 127}; !slices.Equal(got, want) {
		t.Errorf("the shared table holds %v after the copies, want %v", got, want)
	}
	if u := tab.UnshareBelow(64); u != tab {
		t.Error("UnshareBelow of a table of one user copied it")
	}
}

// TestFDsOfCall: an fd keeps the seq of the call that made it through
// flag changes and into a fork's copy, and FDsOfCall finds the fds a call
// made by that seq, in increasing order; a freed fd, another call's, and
// seq 0 (no call's) are not found.
func TestFDsOfCall(t *testing.T) {
	tab := New(nil, nil, nil, nil)
	mustInstall := func(seq uint64) int32 {
		t.Helper()
		fd, err := tab.Install(newFile(), 0, false, seq)
		if err != nil {
			t.Fatal(err)
		}
		return fd
	}
	mustInstall(0)
	made := mustInstall(7)
	if err := tab.SetCloexec(made, true); err != nil {
		t.Fatal(err)
	}
	tab.SetCloexecRange(0, ^uint32(0))
	a, b, err := tab.InstallPair(newFile(), newFile(), false, 8)
	if err != nil {
		t.Fatal(err)
	}
	freed := mustInstall(9)
	f, err := tab.Remove(freed)
	if err != nil {
		t.Fatal(err)
	}
	f.DecRef()
	child := tab.Fork()
	for _, tc := range []struct {
		name string
		tab  *Table
		seq  uint64
		want []int32
	}{
		{"made, flags changed since", tab, 7, []int32{made}},
		{"a pair, the first lower", tab, 8, []int32{a, b}},
		{"freed", tab, 9, nil},
		{"another call's", tab, 10, nil},
		{"no call's", tab, 0, nil},
		{"a fork's copy", child, 7, []int32{made}},
	} {
		if got := tc.tab.FDsOfCall(tc.seq); !slices.Equal(got, tc.want) {
			t.Errorf("%s: FDsOfCall(%d) = %v, want %v", tc.name, tc.seq, got, tc.want)
		}
	}
	decRefs(child.Release())
	decRefs(tab.Release())
}
