package lease

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSetGetRelease: the rules F_SETLEASE refuses by (EAGAIN), as Linux.
func TestSetGetRelease(t *testing.T) {
	const ino = 3
	a, b := new(int), new(int)
	for _, tc := range []struct {
		name             string
		held             Rank // a's lease before (None: none)
		f                *int
		rank             Rank
		readers, writers int
		err              error
	}{
		{"read lease, no writers", None, a, Read, 1, 0, nil},
		{"read lease with a writer", None, a, Read, 0, 1, unix.EAGAIN},
		{"write lease alone", None, a, Write, 0, 0, nil},
		{"write lease with a reader", None, a, Write, 1, 0, unix.EAGAIN},
		{"second read lease", Read, b, Read, 0, 0, nil},
		{"write lease over another's read", Read, b, Write, 0, 0, unix.EAGAIN},
		{"upgrade own lease", Read, a, Write, 0, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := NewTable[*int]()
			if tc.held != None {
				if err := lt.Set(ino, a, tc.held, 5, 0, 0); err != nil {
					t.Fatal(err)
				}
			}
			err := lt.Set(ino, tc.f, tc.rank, 6, tc.readers, tc.writers)
			if err != tc.err {
				t.Fatalf("Set: %v, want %v", err, tc.err)
			}
			want := tc.rank
			if err != nil {
				want = None
				if tc.f == a {
					want = tc.held
				}
			}
			if got := lt.Get(ino, tc.f); got != want {
				t.Errorf("Get: %v, want %v", got, want)
			}
			if released := lt.Release(ino, tc.f); released != (want != None) {
				t.Errorf("Release: %v, want %v", released, want != None)
			}
		})
	}
}

// TestBreak: an open for writing breaks a read lease: the holder is
// notified; with O_NONBLOCK the open fails with EWOULDBLOCK; otherwise
// it waits until the holder releases, or until lease-break-time takes
// the lease away.
func TestBreak(t *testing.T) {
	const ino = 3
	holder := new(int)
	for _, tc := range []struct {
		name     string
		nonblock bool
		release  bool // the holder releases when notified
		err      error
		taken    bool // the lease was taken away
	}{
		{"nonblock", true, false, unix.EWOULDBLOCK, false},
		{"holder releases", false, true, nil, false},
		{"break time passes", false, false, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := NewTable[*int]()
			lt.SetBreakTime(0)
			if err := lt.Set(ino, holder, Read, 9, 0, 0); err != nil {
				t.Fatal(err)
			}
			var notified []int32
			taken := false
			notify := func(f *int, fd int32) {
				notified = append(notified, fd)
				if tc.release {
					lt.Release(ino, f)
				}
			}
			block := func(ch <-chan struct{}, timeout <-chan time.Time) error {
				select {
				case <-ch:
					return nil
				case <-timeout:
					return unix.ETIMEDOUT
				case <-time.After(10 * time.Second):
					t.Fatal("Break waited past lease-break-time")
					return nil
				}
			}
			err := lt.Break(ino, true, tc.nonblock, notify, func(*int) { taken = true }, block)
			if err != tc.err || taken != tc.taken {
				t.Errorf("Break: %v, taken %v; want %v, %v", err, taken, tc.err, tc.taken)
			}
			if len(notified) != 1 || notified[0] != 9 {
				t.Errorf("notified fds %v, want [9]", notified)
			}
			if !tc.nonblock && lt.Get(ino, holder) != None {
				t.Errorf("after the break the holder has %v, want none", lt.Get(ino, holder))
			}
		})
	}
	// An open for reading does not break a read lease.
	lt := NewTable[*int]()
	if err := lt.Set(ino, holder, Read, 9, 0, 0); err != nil {
		t.Fatal(err)
	}
	fail := func(*int, int32) { t.Error("a reader broke a read lease") }
	if err := lt.Break(ino, false, true, fail, func(*int) {}, nil); err != nil {
		t.Errorf("Break for reading: %v", err)
	}
}
