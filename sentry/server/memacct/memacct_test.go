package memacct

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestAccount(t *testing.T) {
	a := NewAccount(100)
	for _, tc := range []struct {
		op   string
		n    int64
		err  error
		used int64
	}{
		{"charge", 60, nil, 60},
		{"charge", 41, unix.ENOMEM, 60},
		{"charge", 40, nil, 100},
		{"charge", 1, unix.ENOMEM, 100},
		{"release", 50, nil, 50},
		{"force", 80, nil, 130},
		{"charge", 1, unix.ENOMEM, 130},
		{"release", 130, nil, 0},
	} {
		var err error
		switch tc.op {
		case "charge":
			err = a.Charge(tc.n)
		case "release":
			a.Release(tc.n)
		case "force":
			a.Force(tc.n)
		}
		if err != tc.err || a.Used() != tc.used {
			t.Fatalf("%s %d: err %v used %d, want %v %d", tc.op, tc.n, err, a.Used(), tc.err, tc.used)
		}
	}
}

// TestSocketBuffers: a reservation follows its size within the limit
// (ENOBUFS beyond it, keeping the old size), a forced one passes the
// limit, and Unreserve returns it once.
func TestSocketBuffers(t *testing.T) {
	a := NewAccount(100)
	var b SocketBuffers
	if err := b.Resize(1000); err != nil {
		t.Fatalf("Resize before Reserve: %v, want nil (nothing charged)", err)
	}
	steps := []struct {
		name string
		do   func() error
		err  error
		used int64
	}{
		{"reserve 40", func() error { return b.Reserve(a, 40, false) }, nil, 40},
		{"grow to 101", func() error { return b.Resize(101) }, unix.ENOBUFS, 40},
		{"grow to 100", func() error { return b.Resize(100) }, nil, 100},
		{"shrink to 10", func() error { return b.Resize(10) }, nil, 10},
		{"unreserve", func() error { b.Unreserve(); return nil }, nil, 0},
		{"unreserve again", func() error { b.Unreserve(); return nil }, nil, 0},
		{"reserve 200", func() error { return b.Reserve(a, 200, false) }, unix.ENOBUFS, 0},
		{"force 200", func() error { return b.Reserve(a, 200, true) }, nil, 200},
	}
	for _, s := range steps {
		if err := s.do(); err != s.err || a.Used() != s.used {
			t.Fatalf("%s: err %v used %d, want %v %d", s.name, err, a.Used(), s.err, s.used)
		}
	}
}

func TestDefaultLimit(t *testing.T) {
	for _, limit := range []int64{0, -1} {
		if got := NewAccount(limit).Limit(); got != DefaultLimit {
			t.Errorf("NewAccount(%d).Limit() = %d, want %d", limit, got, DefaultLimit)
		}
	}
}
