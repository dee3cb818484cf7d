package signalfd

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
)

// reader answers reads as the client would, and records them.
type reader struct {
	tid      int32
	mask     uint64
	nonblock bool
	reads    int
}

func (r *reader) SignalfdRead(_ fdesc.Call, mask uint64, nonblock bool) int32 {
	r.reads++
	r.mask, r.nonblock = mask, nonblock
	return r.tid
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mask     uint64
		flags    uint32
		size     int
		wantErr  error
		wantMask uint64
	}{
		{name: "reads", mask: 1 << (unix.SIGUSR1 - 1), size: SiginfoSize, wantMask: 1 << (unix.SIGUSR1 - 1)},
		{name: "nonblocking", mask: 1, flags: unix.O_NONBLOCK, size: 2 * SiginfoSize, wantMask: 1},
		{name: "SIGKILL and SIGSTOP dropped", mask: Unblockable | 1, size: SiginfoSize, wantMask: 1},
		{name: "short buffer", mask: 1, size: SiginfoSize - 1, wantErr: unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &reader{tid: 42}
			f := New(r, tc.mask, tc.flags)
			defer f.DecRef()
			s := f.Impl.(*File)
			n, err := s.ReadSeq(&fdesctest.Call{}, f, usermem.BytesIOSequence(make([]byte, tc.size)))
			if n != 0 || err != tc.wantErr {
				t.Fatalf("ReadSeq = %d, %v; want 0, %v", n, err, tc.wantErr)
			}
			if err != nil {
				if r.reads != 0 || s.LastReader() != 0 {
					t.Errorf("a refused read was answered (%d) or set the reader (%d)", r.reads, s.LastReader())
				}
				return
			}
			if r.reads != 1 || r.mask != tc.wantMask || r.nonblock != (tc.flags&unix.O_NONBLOCK != 0) {
				t.Errorf("answered %d reads, mask %#x nonblock %v; want 1, %#x, %v", r.reads, r.mask, r.nonblock, tc.wantMask, tc.flags&unix.O_NONBLOCK != 0)
			}
			if s.LastReader() != 42 {
				t.Errorf("LastReader() = %d, want 42", s.LastReader())
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	f := New(&reader{}, 1<<(unix.SIGUSR1-1), 0)
	defer f.DecRef()
	s := f.Impl.(*File)
	if ev, ch := s.Readiness(f); ev != 0 || ch == nil {
		t.Errorf("Readiness without a caller = %#x, %v; want 0 and a channel", ev, ch)
	}
	if ev, _ := s.ReadinessFor(7, 1<<(unix.SIGUSR2-1)); ev != 0 {
		t.Errorf("readable for a signal outside the mask: %#x", ev)
	}
	if s.LastReader() != 7 {
		t.Errorf("a wait did not make thread 7 the reader (%d)", s.LastReader())
	}
	_, ch := s.ReadinessFor(7, 0)
	s.SetMask(1<<(unix.SIGUSR2-1) | Unblockable)
	select {
	case <-ch:
	default:
		t.Error("a mask change did not wake the wait")
	}
	if s.Mask() != 1<<(unix.SIGUSR2-1) {
		t.Errorf("Mask() = %#x", s.Mask())
	}
	if ev, ch := s.ReadinessFor(7, 1<<(unix.SIGUSR2-1)); ev&unix.POLLIN == 0 || ch != nil {
		t.Errorf("ReadinessFor a pending signal in the mask = %#x, %v", ev, ch)
	}
}
