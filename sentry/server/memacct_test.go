package server

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// TestClientMemoryCap: a client's pipes reserve their capacity from its
// memory account; beyond Config.MaxClientMemory pipe2 and the open that
// would make a FIFO's pipe fail with ENOMEM, closing a pipe gives its
// reservation back, and another client's account is its own.
func TestClientMemoryCap(t *testing.T) {
	const pipes = 3
	limit := func(c *Config) { c.MaxClientMemory = pipes * kernel.PipeCapacity }
	e := newEnvConfig(t, nil, limit)
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	m := e.mem
	var fds []uint64
	for i := 0; i < pipes; i++ {
		fds = append(fds, m.zeros(8))
		e.ok(1, unix.SYS_PIPE2, fds[i], 0)
	}
	more := m.zeros(8)
	e.fails(unix.ENOMEM, 1, unix.SYS_PIPE2, more, 0)
	// A FIFO's pipe is made by its first open: no room either.
	e.ok(1, unix.SYS_MKNODAT, uint64(atFDCWD64), m.str("/tmp/fifo"), unix.S_IFIFO|0o600, 0)
	e.fails(unix.ENOMEM, 1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/fifo"), unix.O_RDWR, 0)
	// Closing one end keeps the pipe; closing both frees it.
	e.ok(1, unix.SYS_CLOSE, uint64(m.u32(fds[0])))
	e.fails(unix.ENOMEM, 1, unix.SYS_PIPE2, more, 0)
	e.ok(1, unix.SYS_CLOSE, uint64(m.u32(fds[0]+4)))
	fifo := e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/fifo"), unix.O_RDWR, 0)
	e.fails(unix.ENOMEM, 1, unix.SYS_PIPE2, more, 0)
	// A FIFO's pipe is freed with its last open.
	e.ok(1, unix.SYS_CLOSE, uint64(fifo))
	e.ok(1, unix.SYS_PIPE2, more, 0)

	// A PageWrite is not refused with the cap full (the client's stores
	// would be lost): it runs, its data counted meanwhile (here the
	// unknown file id is EBADF). At most kernel.MaxPageWritesInFlight of a
	// client run at once; another waits for one to end.
	pageWrite := func() <-chan unix.Errno {
		ch := make(chan unix.Errno, 1)
		go func() {
			ch <- unix.Errno(e.call(&sentrypb.Call{Op: &sentrypb.Call_PageWrite{PageWrite: &sentrypb.PageWrite{FileId: 999, Data: make([]byte, 4096)}}}).Errno)
		}()
		return ch
	}
	if got := <-pageWrite(); got != unix.EBADF {
		t.Errorf("PageWrite with the cap full: %v, want EBADF (run, unknown file)", got)
	}
	var k *kernel.Kernel
	e.srv.mu.Lock()
	for c := range e.srv.clients {
		k = c.k
	}
	e.srv.mu.Unlock()
	for i := 0; i < kernel.MaxPageWritesInFlight; i++ {
		k.PageWriteSlots <- struct{}{} // as many PageWrites running
	}
	waiting := pageWrite()
	select {
	case got := <-waiting:
		t.Errorf("PageWrite beyond %d in flight ran at once: %v", kernel.MaxPageWritesInFlight, got)
	case <-time.After(200 * time.Millisecond):
	}
	<-k.PageWriteSlots
	if got := <-waiting; got != unix.EBADF {
		t.Errorf("PageWrite once a slot freed: %v, want EBADF", got)
	}
	for i := 1; i < kernel.MaxPageWritesInFlight; i++ {
		<-k.PageWriteSlots
	}

	// Another client has its own account.
	other := newEnvConfig(t, nil, limit)
	if r := other.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	other.ok(1, unix.SYS_PIPE2, other.mem.zeros(8), 0)
}

// TestPipeResizeCharged: F_SETPIPE_SZ moves a pipe's reservation with its
// size: growing needs room in the cap (ENOMEM), shrinking gives it back.
func TestPipeResizeCharged(t *testing.T) {
	e := newEnvConfig(t, nil, func(c *Config) { c.MaxClientMemory = 3 * kernel.PipeCapacity })
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	m := e.mem
	a, b, c := m.zeros(8), m.zeros(8), m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, a, 0)
	if got := e.ok(1, unix.SYS_FCNTL, uint64(m.u32(a)), unix.F_SETPIPE_SZ, 2*kernel.PipeCapacity); got != 2*kernel.PipeCapacity {
		t.Fatalf("F_SETPIPE_SZ = %d", got)
	}
	e.ok(1, unix.SYS_PIPE2, b, 0)
	e.fails(unix.ENOMEM, 1, unix.SYS_PIPE2, c, 0)
	e.fails(unix.ENOMEM, 1, unix.SYS_FCNTL, uint64(m.u32(b)), unix.F_SETPIPE_SZ, 2*kernel.PipeCapacity)
	e.ok(1, unix.SYS_FCNTL, uint64(m.u32(a)), unix.F_SETPIPE_SZ, kernel.PipeCapacity)
	e.ok(1, unix.SYS_PIPE2, c, 0)
}

// TestSocketBuffersCharged: each socket reserves its receive buffer from
// the client's memory account: beyond the cap socket, socketpair and
// accept fail with ENOBUFS and SO_RCVBUF cannot grow past it; closing
// gives the reservation back.
func TestSocketBuffersCharged(t *testing.T) {
	const unixBuf = 208 << 10 // gVisor's AF_UNIX default receive buffer
	limit := func(c *Config) { c.MaxClientMemory = 4*unixBuf + unixBuf/2 }
	e := newEnvConfig(t, nil, limit)
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	m := e.mem
	pair := m.zeros(8)
	e.ok(1, unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_STREAM, 0, pair)
	s1 := e.ok(1, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	s2 := e.ok(1, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	// Four sockets held: a fifth, or a pair, does not fit.
	e.fails(unix.ENOBUFS, 1, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	e.fails(unix.ENOBUFS, 1, unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_STREAM, 0, m.zeros(8))
	e.fails(unix.ENOBUFS, 1, unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0)
	// A larger receive buffer needs room too; a smaller one gives some.
	big := m.alloc([]byte{0, 0, 4, 0}) // 256 KiB, doubled
	e.fails(unix.ENOBUFS, 1, unix.SYS_SETSOCKOPT, uint64(s1), unix.SOL_SOCKET, unix.SO_RCVBUF, big, 4)
	small := m.alloc([]byte{0, 0x20, 0, 0}) // 8 KiB, doubled
	e.ok(1, unix.SYS_SETSOCKOPT, uint64(s1), unix.SOL_SOCKET, unix.SO_RCVBUF, small, 4)
	e.ok(1, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	// Closing a socket frees its reservation.
	e.fails(unix.ENOBUFS, 1, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	e.ok(1, unix.SYS_CLOSE, uint64(s2))
	e.ok(1, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0)
}

// TestPipeMaxSizeNeedsCapability: a pipe larger than pipe-max-size needs
// CAP_SYS_RESOURCE, not euid 0 (LTP fcntl37: root without it).
func TestPipeMaxSizeNeedsCapability(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps uint64
		want unix.Errno
	}{
		{"root", auth.CapAll, 0},
		{"root without CAP_SYS_RESOURCE", auth.CapAll &^ (1 << linux.CAP_SYS_RESOURCE), unix.EPERM},
	} {
		e := newEnv(t)
		cs := &sentrypb.CapSets{Effective: tc.caps, Permitted: tc.caps, Bounding: tc.caps}
		if r := e.call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte(busybox), []byte("sh")}, Cwd: []byte("/"), Caps: cs}}}); r.Errno != 0 {
			t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
		}
		fds := e.mem.zeros(8)
		e.ok(1, unix.SYS_PIPE2, fds, 0)
		r := e.sys(1, unix.SYS_FCNTL, uint64(e.mem.u32(fds+4)), unix.F_SETPIPE_SZ, 2<<20)
		if unix.Errno(r.Errno) != tc.want {
			t.Errorf("%s: F_SETPIPE_SZ above pipe-max-size: %v, want %v", tc.name, unix.Errno(r.Errno), tc.want)
		}
	}
}
