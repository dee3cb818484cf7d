package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestSpliceIntoPipeUsesItsSize: splice into a pipe fills it up to its
// F_SETPIPE_SZ size, not the default 64 KiB: a one-page pipe takes one
// page, and a 128 KiB pipe already holding 64 KiB still has room.
func TestSpliceIntoPipeUsesItsSize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     uint64 // the destination pipe's F_SETPIPE_SZ
		prefill  int    // bytes written to it first
		wantMove int64
	}{
		{"one-page pipe", 4096, 0, 4096},
		{"128 KiB pipe holding 64 KiB", 128 << 10, 64 << 10, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if r := e.start(busybox, "sh"); r.Errno != 0 {
				t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
			}
			m := e.mem
			src, dst := m.zeros(8), m.zeros(8)
			e.ok(1, unix.SYS_PIPE2, src, 0)
			e.ok(1, unix.SYS_PIPE2, dst, 0)
			srcR, srcW := uint64(m.u32(src)), uint64(m.u32(src+4))
			dstW := uint64(m.u32(dst + 4))
			e.ok(1, unix.SYS_FCNTL, dstW, unix.F_SETPIPE_SZ, tc.size)
			if tc.prefill > 0 {
				e.ok(1, unix.SYS_WRITE, dstW, m.zeros(tc.prefill), uint64(tc.prefill))
			}
			e.ok(1, unix.SYS_WRITE, srcW, m.zeros(64<<10), 64<<10)
			got := e.ok(1, unix.SYS_SPLICE, srcR, 0, dstW, 0, 64<<10, unix.SPLICE_F_NONBLOCK)
			if got != tc.wantMove {
				t.Errorf("splice moved %d bytes, want %d", got, tc.wantMove)
			}
		})
	}
}
