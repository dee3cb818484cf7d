package fdesc

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// testImpl is a file kind that counts its releases.
type testImpl struct {
	FileBase
	released int
}

func (*testImpl) Read(Call, *File, int, int64) ([]byte, error) { return nil, nil }
func (*testImpl) Stat(Call) (*goferpb.Stat, error)             { return &goferpb.Stat{}, nil }
func (i *testImpl) Release()                                   { i.released++ }

// testOwner records what a description asked of its client.
type testOwner struct {
	holds  bool
	events []string
}

func (o *testOwner) DurabilityHolds(*File) bool { return o.holds }
func (o *testOwner) InotifyClosed(*File)        { o.events = append(o.events, "closed") }
func (o *testOwner) DropDescriptionLocks(*File) { o.events = append(o.events, "locks") }
func (o *testOwner) DropLease(*File)            { o.events = append(o.events, "lease") }

type testTracker struct{ touched int }

func (t *testTracker) TouchFile(*File) { t.touched++ }

type testDentry uint64

func (d testDentry) Ino() uint64 { return uint64(d) }

func TestFileRelease(t *testing.T) {
	for _, tc := range []struct {
		name             string
		owner            bool
		holds            bool
		locks, lease     bool
		extraRefs        int
		wantEvents       []string
		wantReleased     int
		wantTouchedAtEnd int
	}{
		{name: "no owner", wantReleased: 1, wantTouchedAtEnd: 1},
		{name: "owner", owner: true, wantEvents: []string{"closed"}, wantReleased: 1, wantTouchedAtEnd: 1},
		{name: "locks and lease", owner: true, locks: true, lease: true,
			wantEvents: []string{"locks", "lease", "closed"}, wantReleased: 1, wantTouchedAtEnd: 1},
		// The durability tracker's reference is the last but one: the
		// application closed it, which inotify hears before the release.
		{name: "durability holds", owner: true, holds: true, extraRefs: 1,
			wantEvents: []string{"closed", "closed"}, wantReleased: 1, wantTouchedAtEnd: 1},
		{name: "still referenced", owner: true, extraRefs: 2, wantEvents: nil, wantReleased: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			impl := &testImpl{}
			o := &testOwner{holds: tc.holds}
			var owner Owner
			if tc.owner {
				owner = o
			}
			f := NewFile(impl, testDentry(7), owner, unix.O_RDWR)
			trk := &testTracker{}
			f.SetTracker(trk)
			f.HasLocks.Store(tc.locks)
			f.HasLease.Store(tc.lease)
			for range tc.extraRefs {
				f.IncRef()
			}
			// Drop all but the extra references the case keeps beyond
			// the durability tracker's.
			drops := 1
			if tc.holds {
				drops += tc.extraRefs
			}
			for range drops {
				f.DecRef()
			}
			if !slices.Equal(o.events, tc.wantEvents) {
				t.Errorf("owner heard %v, want %v", o.events, tc.wantEvents)
			}
			if impl.released != tc.wantReleased {
				t.Errorf("released %d times, want %d", impl.released, tc.wantReleased)
			}
			if got := f.Released(); got != (tc.wantReleased == 1) {
				t.Errorf("Released() = %v", got)
			}
			if trk.touched != tc.wantTouchedAtEnd {
				t.Errorf("tracker touched %d times, want %d", trk.touched, tc.wantTouchedAtEnd)
			}
			if f.Dentry().Ino() != 7 {
				t.Errorf("Dentry().Ino() = %d, want 7", f.Dentry().Ino())
			}
		})
	}
}

type testRecorder struct {
	ver []uint64
	off []int64
}

func (r *testRecorder) RecordOffset(_ *File, ver uint64, off int64) {
	r.ver, r.off = append(r.ver, ver), append(r.off, off)
}

func TestFileOffsets(t *testing.T) {
	f := NewFile(&testImpl{}, nil, nil, unix.O_RDONLY)
	r := &testRecorder{}
	f.OffMu.Lock()
	f.SetOffLocked(r, 10)
	f.SetDirLocked(r, DirCursor{Phase: 2, Cookie: 4})
	f.OffMu.Unlock()
	if f.Off != 10 || f.OffVer != 2 {
		t.Errorf("Off, OffVer = %d, %d, want 10, 2", f.Off, f.OffVer)
	}
	if !slices.Equal(r.ver, []uint64{1, 2}) || !slices.Equal(r.off, []int64{10, DirCursor{Phase: 2, Cookie: 4}.Offset()}) {
		t.Errorf("recorded versions %v offsets %v", r.ver, r.off)
	}
	if f.Dentry() != nil {
		t.Errorf("Dentry() = %v, want nil", f.Dentry())
	}
}

func TestFileFlags(t *testing.T) {
	for _, tc := range []struct {
		flags                        uint32
		readable, writable, nonblock bool
	}{
		{unix.O_RDONLY, true, false, false},
		{unix.O_WRONLY | unix.O_NONBLOCK, false, true, true},
		{unix.O_RDWR, true, true, false},
		{unix.O_RDWR | unix.O_PATH, false, false, false},
	} {
		f := NewFile(&testImpl{}, nil, nil, tc.flags)
		if f.Readable() != tc.readable || f.Writable() != tc.writable || f.Nonblock() != tc.nonblock {
			t.Errorf("flags %#x: readable %v writable %v nonblock %v, want %v %v %v", tc.flags,
				f.Readable(), f.Writable(), f.Nonblock(), tc.readable, tc.writable, tc.nonblock)
		}
	}
}
