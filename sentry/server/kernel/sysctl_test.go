package kernel

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPipeMaxSize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     int // 0: not set
		want    int
		wantErr error
	}{
		{"default", 0, DefaultPipeMaxSize, nil},
		{"below a page", 100, 4096, nil},
		{"rounded up to a power of two of pages", 100000, 131072, nil},
		{"a power of two already", 1 << 16, 1 << 16, nil},
		{"2 GiB", 1 << 31, 1 << 31, nil},
		{"above 2 GiB", 1<<31 + 1, DefaultPipeMaxSize, unix.EINVAL},
		{"negative", -1, DefaultPipeMaxSize, unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Sysctls
			if tc.set != 0 {
				if err := s.SetPipeMaxSize(tc.set); !errors.Is(err, tc.wantErr) {
					t.Fatalf("SetPipeMaxSize(%d) = %v, want %v", tc.set, err, tc.wantErr)
				}
			}
			if got := s.PipeMaxSize(); got != tc.want {
				t.Fatalf("PipeMaxSize() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestIPForward(t *testing.T) {
	var s Sysctls
	for _, tc := range []struct {
		set  bool
		want int
	}{{true, 1}, {false, 0}, {true, 1}} {
		s.SetIPForward(tc.set)
		if got := s.IPForward(); got != tc.want {
			t.Fatalf("after SetIPForward(%v): IPForward() = %d, want %d", tc.set, got, tc.want)
		}
	}
	if got := (&Sysctls{}).IPForward(); got != 0 {
		t.Fatalf("default IPForward() = %d, want 0", got)
	}
}
