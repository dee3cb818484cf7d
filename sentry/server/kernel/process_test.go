package kernel

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

func TestAnyLiveThread(t *testing.T) {
	threads := func(p *Process, tids ...int32) *Process {
		p.Live = make(map[*Thread]struct{})
		for _, tid := range tids {
			p.Live[&Thread{TID: tid, Proc: p}] = struct{}{}
		}
		return p
	}
	for _, tc := range []struct {
		name string
		p    *Process
		want int32 // 0: nil
	}{
		{"leader alive", threads(&Process{PID: 5}, 9, 5, 7), 5},
		{"leader gone: the lowest TID", threads(&Process{PID: 5}, 9, 12, 7), 7},
		{"no live thread", threads(&Process{PID: 5}), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p.AnyLiveThread()
			switch {
			case tc.want == 0 && got != nil:
				t.Fatalf("AnyLiveThread() = thread %d, want none", got.TID)
			case tc.want != 0 && (got == nil || got.TID != tc.want):
				t.Fatalf("AnyLiveThread() = %v, want thread %d", got, tc.want)
			}
		})
	}
}

func TestKilledStatus(t *testing.T) {
	for _, tc := range []struct {
		name      string
		coreDumps bool
		sig       unix.Signal
		want      int32
	}{
		{"SIGKILL", true, unix.SIGKILL, int32(unix.SIGKILL)},
		{"SIGSEGV without RLIMIT_CORE", false, unix.SIGSEGV, int32(unix.SIGSEGV)},
		{"SIGSEGV with RLIMIT_CORE", true, unix.SIGSEGV, int32(unix.SIGSEGV) | ksignal.CoreDumpFlag},
		{"SIGTERM with RLIMIT_CORE", true, unix.SIGTERM, int32(unix.SIGTERM)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Process{PID: 1, CoreDumps: tc.coreDumps}
			if got := p.KilledStatusLocked(int(tc.sig)); got != tc.want {
				t.Fatalf("KilledStatusLocked(%d) = %#x, want %#x", tc.sig, got, tc.want)
			}
		})
	}
}
