package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestClientMemoryCap: a client's pipes reserve their capacity from its
// memory account; beyond Config.MaxClientMemory pipe2 and the open that
// would make a FIFO's pipe fail with ENOMEM, closing a pipe gives its
// reservation back, and another client's account is its own.
func TestClientMemoryCap(t *testing.T) {
	const pipes = 3
	limit := func(c *Config) { c.MaxClientMemory = pipes * pipeCapacity }
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

	// Another client has its own account.
	other := newEnvConfig(t, nil, limit)
	if r := other.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	other.ok(1, unix.SYS_PIPE2, other.mem.zeros(8), 0)
}

func TestMemAccount(t *testing.T) {
	a := memAccount{limit: 100}
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
			err = a.charge(tc.n)
		case "release":
			a.release(tc.n)
		case "force":
			a.force(tc.n)
		}
		if err != tc.err || a.used.Load() != tc.used {
			t.Fatalf("%s %d: err %v used %d, want %v %d", tc.op, tc.n, err, a.used.Load(), tc.err, tc.used)
		}
	}
}

// TestPipeResizeCharged: F_SETPIPE_SZ moves a pipe's reservation with its
// size: growing needs room in the cap (ENOMEM), shrinking gives it back.
func TestPipeResizeCharged(t *testing.T) {
	e := newEnvConfig(t, nil, func(c *Config) { c.MaxClientMemory = 3 * pipeCapacity })
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	m := e.mem
	a, b, c := m.zeros(8), m.zeros(8), m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, a, 0)
	if got := e.ok(1, unix.SYS_FCNTL, uint64(m.u32(a)), fSetPipeSz, 2*pipeCapacity); got != 2*pipeCapacity {
		t.Fatalf("F_SETPIPE_SZ = %d", got)
	}
	e.ok(1, unix.SYS_PIPE2, b, 0)
	e.fails(unix.ENOMEM, 1, unix.SYS_PIPE2, c, 0)
	e.fails(unix.ENOMEM, 1, unix.SYS_FCNTL, uint64(m.u32(b)), fSetPipeSz, 2*pipeCapacity)
	e.ok(1, unix.SYS_FCNTL, uint64(m.u32(a)), fSetPipeSz, pipeCapacity)
	e.ok(1, unix.SYS_PIPE2, c, 0)
}
