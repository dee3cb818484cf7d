package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// pollEntry is one fd being polled.
type pollEntry struct {
	fd      int32
	events  uint32
	revents uint32
}

// pollOnce computes revents for every entry and returns how many are
// ready and the channels to wait on.
func pollOnce(c *kernel.Task, tab *fdtable.Table, es []pollEntry) (int, []<-chan struct{}) {
	n := 0
	var chs []<-chan struct{}
	for i := range es {
		e := &es[i]
		e.revents = 0
		if e.fd < 0 {
			continue
		}
		f, _, err := tab.Get(e.fd)
		if err != nil {
			e.revents = linux.POLLNVAL
			n++
			continue
		}
		var ev uint32
		var ch <-chan struct{}
		if f.IsPath() {
			ev = linux.POLLNVAL
		} else {
			ev, ch = kernel.ReadinessFor(c.Thread, f)
		}
		f.DecRef()
		e.revents = ev & (e.events | linux.POLLERR | linux.POLLHUP | linux.POLLNVAL)
		if e.revents != 0 {
			n++
		} else if ch != nil {
			chs = append(chs, ch)
		}
	}
	return n, chs
}

// deadlineTimer is the timeout channel of a wait until deadline (nil for
// a zero deadline: none) and the stop its caller defers; past says the
// deadline has passed, and nothing was made.
func deadlineTimer(deadline time.Time) (timeout <-chan time.Time, stop func(), past bool) {
	if deadline.IsZero() {
		return nil, func() {}, false
	}
	d := time.Until(deadline)
	if d <= 0 {
		return nil, nil, true
	}
	tm := time.NewTimer(d)
	return tm.C, func() { tm.Stop() }, false
}

// waitAny blocks until a channel in chs is closed, deadline passes (zero:
// no deadline), or the call is interrupted (ERESTARTNOHAND: poll and
// select are not restarted after a handler ran).
func waitAny(c *kernel.Task, chs []<-chan struct{}, deadline time.Time) error {
	timeout, stopTimer, past := deadlineTimer(deadline)
	if past {
		return unix.ETIMEDOUT
	}
	defer stopTimer()
	stop := make(chan struct{})
	defer close(stop)
	err := c.Block(wake.Merge(chs, stop), timeout)
	if err == syserr.RestartSys {
		return syserr.RestartNoHand
	}
	return err
}

// doPoll polls es until something is ready or the deadline (zero: none;
// immediate when now is set).
func doPoll(c *kernel.Task, es []pollEntry, deadline time.Time, immediate bool) (int, error) {
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	for {
		n, chs := pollOnce(c, tab, es)
		if n > 0 || immediate {
			return n, nil
		}
		if err := waitAny(c, chs, deadline); err != nil {
			if err == unix.ETIMEDOUT {
				return 0, nil
			}
			return 0, err
		}
	}
}

// readTimespec is the struct timespec in b: EINVAL if negative or its
// nanoseconds are not below a second; seconds beyond 2^32 are cut to it.
func readTimespec(b []byte) (time.Duration, error) {
	sec, nsec := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return 0, unix.EINVAL
	}
	if sec > 1<<32 {
		sec = 1 << 32
	}
	return time.Duration(sec)*time.Second + time.Duration(nsec), nil
}

// putTimespec is d as a struct timespec (usec: a struct timeval), 0 if
// negative.
func putTimespec(d time.Duration, usec bool) []byte {
	if d < 0 {
		d = 0
	}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, uint64(d/time.Second))
	frac := d % time.Second
	if usec {
		binary.LittleEndian.PutUint64(b[8:], uint64(frac/time.Microsecond))
	} else {
		binary.LittleEndian.PutUint64(b[8:], uint64(frac))
	}
	return b
}

// Poll implements poll(2) and ppoll(2).
func Poll(c *kernel.Task) (int64, error) {
	addr, nfds := c.Args[0], c.Args[1]
	if nfds > uint64(nofile(c)) {
		return 0, unix.EINVAL // Linux: more than RLIMIT_NOFILE
	}
	var deadline time.Time
	immediate := false
	var tsAddr uint64
	switch c.Sysno {
	case unix.SYS_POLL:
		ms := int32(c.Args[2])
		if ms == 0 {
			immediate = true
		} else if ms > 0 {
			deadline = time.Now().Add(time.Duration(ms) * time.Millisecond)
		}
	default: // ppoll
		if tsAddr = c.Args[2]; tsAddr != 0 {
			b, err := c.Mem.CopyIn(tsAddr, 16)
			if err != nil {
				return 0, err
			}
			d, err := readTimespec(b)
			if err != nil {
				return 0, err
			}
			immediate = d == 0
			deadline = time.Now().Add(d)
		}
	}
	raw, err := c.Mem.CopyIn(addr, int(nfds*8))
	if err != nil {
		return 0, err
	}
	es := make([]pollEntry, nfds)
	for i := range es {
		es[i].fd = int32(binary.LittleEndian.Uint32(raw[8*i:]))
		es[i].events = uint32(binary.LittleEndian.Uint16(raw[8*i+4:]))
	}
	n, err := doPoll(c, es, deadline, immediate)
	if err != nil {
		return 0, err
	}
	for i := range es {
		binary.LittleEndian.PutUint16(raw[8*i+6:], uint16(es[i].revents))
	}
	if err := c.Mem.CopyOut(addr, raw); err != nil {
		return 0, err
	}
	if tsAddr != 0 && !immediate {
		if err := c.Mem.CopyOut(tsAddr, putTimespec(time.Until(deadline), false)); err != nil {
			return 0, err
		}
	}
	return int64(n), nil
}

const (
	pollInSet  = linux.POLLIN | linux.POLLRDNORM | linux.POLLHUP | linux.POLLERR
	pollOutSet = linux.POLLOUT | linux.POLLWRNORM | linux.POLLERR
	pollExSet  = linux.POLLPRI
)

// Select implements select(2) and pselect6(2).
func Select(c *kernel.Task) (int64, error) {
	nfds := int64(int32(c.Args[0]))
	if nfds < 0 {
		return 0, unix.EINVAL
	}
	if lim := int64(nofile(c)); nfds > lim {
		nfds = lim
	}
	setBytes := int((nfds + 63) / 64 * 8)
	var sets [3][]byte
	for i := 0; i < 3; i++ {
		if a := c.Args[1+i]; a != 0 && setBytes > 0 {
			b, err := c.Mem.CopyIn(a, setBytes)
			if err != nil {
				return 0, err
			}
			sets[i] = b
		}
	}
	var deadline time.Time
	immediate := false
	tAddr := c.Args[4]
	usec := c.Sysno == unix.SYS_SELECT
	if tAddr != 0 {
		b, err := c.Mem.CopyIn(tAddr, 16)
		if err != nil {
			return 0, err
		}
		if usec {
			sec, us := int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))
			if sec < 0 || us < 0 {
				return 0, unix.EINVAL
			}
			sec += us / 1e6
			us %= 1e6
			binary.LittleEndian.PutUint64(b, uint64(sec))
			binary.LittleEndian.PutUint64(b[8:], uint64(us*1000))
		}
		d, err := readTimespec(b)
		if err != nil {
			return 0, err
		}
		immediate = d == 0
		deadline = time.Now().Add(d)
	}
	masks := [3]uint32{pollInSet, pollOutSet, pollExSet}
	var es []pollEntry
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	for fd := 0; fd < int(nfds); fd++ {
		var ev uint32
		for i := 0; i < 3; i++ {
			if sets[i] != nil && sets[i][fd/8]&(1<<(fd%8)) != 0 {
				ev |= masks[i]
			}
		}
		if ev == 0 {
			continue
		}
		f, _, err := tab.Get(int32(fd))
		if err != nil {
			return 0, unix.EBADF
		}
		f.DecRef()
		es = append(es, pollEntry{fd: int32(fd), events: ev})
	}
	if _, err := doPoll(c, es, deadline, immediate); err != nil {
		return 0, err
	}
	var out [3][]byte
	n := 0
	for i := 0; i < 3; i++ {
		if sets[i] != nil {
			out[i] = make([]byte, setBytes)
		}
	}
	for _, e := range es {
		for i := 0; i < 3; i++ {
			if out[i] == nil || sets[i][e.fd/8]&(1<<(e.fd%8)) == 0 {
				continue
			}
			if e.revents&masks[i] != 0 {
				out[i][e.fd/8] |= 1 << (e.fd % 8)
				n++
			}
		}
	}
	for i := 0; i < 3; i++ {
		if out[i] != nil {
			if err := c.Mem.CopyOut(c.Args[1+i], out[i]); err != nil {
				return 0, err
			}
		}
	}
	if tAddr != 0 && !immediate {
		if err := c.Mem.CopyOut(tAddr, putTimespec(time.Until(deadline), usec)); err != nil {
			return 0, err
		}
	}
	return int64(n), nil
}
