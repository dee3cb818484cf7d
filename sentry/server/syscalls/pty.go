package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/devpts"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
)

// ptyIoctl serves the terminal ioctls of either end p (Ioctl calls it
// for a pseudo-terminal's end).
func ptyIoctl(c *kernel.Task, p *devpts.File, tab *fdtable.Table, req uint32, arg uint64) (int64, error) {
	t := p.Terminal()
	putInt := func(v int32) (int64, error) {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(v))
		return 0, c.Mem.CopyOut(arg, b[:])
	}
	getInt := func() (int32, error) {
		b, err := c.Mem.CopyIn(arg, 4)
		if err != nil {
			return 0, err
		}
		return int32(binary.LittleEndian.Uint32(b)), nil
	}
	switch req {
	case unix.TCGETS:
		return 0, c.Mem.CopyOut(arg, t.Termios())
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF:
		b, err := c.Mem.CopyIn(arg, pty.SizeofTermios)
		if err != nil {
			return 0, err
		}
		if req == unix.TCSETSF {
			t.Flush(true, false)
		}
		return 0, t.SetTermios(b)
	case unix.TIOCGWINSZ:
		return 0, c.Mem.CopyOut(arg, t.Winsize())
	case unix.TIOCSWINSZ:
		b, err := c.Mem.CopyIn(arg, pty.SizeofWinsize)
		if err != nil {
			return 0, err
		}
		changed, err := t.SetWinsize(b)
		if changed {
			p.SignalForeground([]linux.Signal{linux.SIGWINCH})
		}
		return 0, err
	case unix.TCFLSH:
		switch arg {
		case unix.TCIFLUSH:
			t.Flush(true, false)
		case unix.TCOFLUSH:
			t.Flush(false, true)
		case unix.TCIOFLUSH:
			t.Flush(true, true)
		default:
			return 0, unix.EINVAL
		}
		return 0, nil
	case unix.TCSBRK, unix.TCXONC:
		// Output is never suspended nor delayed here.
		return 0, nil
	case unix.TIOCGPGRP:
		_, fg := t.Session()
		if fg == 0 && !p.Master() {
			return 0, unix.ENOTTY
		}
		return putInt(fg)
	case unix.TIOCGSID:
		sid, _ := t.Session()
		if sid == 0 {
			return 0, unix.ENOTTY
		}
		return putInt(sid)
	case unix.TIOCSPGRP:
		pg, err := getInt()
		if err != nil {
			return 0, err
		}
		sid, _ := t.Session()
		k := c.Kernel
		k.Mu.Lock()
		callerSid := c.Thread.Proc.SID
		members := k.ProcessGroupLocked(pg)
		k.Mu.Unlock()
		switch {
		case sid == 0 || sid != callerSid:
			return 0, unix.ENOTTY
		case pg <= 0:
			return 0, unix.EINVAL
		case len(members) == 0 || members[0].SID != sid:
			return 0, unix.EPERM
		}
		t.SetForeground(pg)
		return 0, nil
	case unix.TIOCSCTTY:
		k := c.Kernel
		k.Mu.Lock()
		proc := c.Thread.Proc
		leader, sid, pgid := proc.PID == proc.SID, proc.SID, proc.PGID
		k.Mu.Unlock()
		if !leader {
			return 0, unix.EPERM
		}
		if cur, _ := t.Session(); cur != 0 && cur != sid && !c.ProcessCreds().Capable(linux.CAP_SYS_ADMIN) {
			return 0, unix.EPERM
		}
		t.SetSession(sid, pgid)
		return 0, nil
	case unix.TIOCNOTTY:
		sid, _ := t.Session()
		c.Kernel.Mu.Lock()
		callerSid := c.Thread.Proc.SID
		c.Kernel.Mu.Unlock()
		if sid == 0 || sid != callerSid {
			return 0, unix.ENOTTY
		}
		t.SetSession(0, 0)
		return 0, nil
	}
	if !p.Master() {
		return 0, unix.ENOTTY
	}
	switch req {
	case unix.TIOCGPTN:
		return putInt(int32(t.Index))
	case unix.TIOCSPTLCK:
		v, err := getInt()
		if err != nil {
			return 0, err
		}
		t.SetLocked(v != 0)
		return 0, nil
	case unix.TIOCGPTLCK:
		v := int32(0)
		if t.Locked() {
			v = 1
		}
		return putInt(v)
	case unix.TIOCGPTPEER:
		// The slave, opened without a path lookup (arg: open flags).
		if err := t.OpenSlave(); err != nil {
			return 0, err
		}
		flags := uint32(arg) & (unix.O_ACCMODE | unix.O_NONBLOCK | unix.O_NOCTTY)
		nf := c.Kernel.NewPtyFile(t, false, nil, flags)
		fd, err := tab.Install(nf, 0, arg&unix.O_CLOEXEC != 0, c.CallSeq)
		if err != nil {
			return 0, err
		}
		return int64(fd), nil
	}
	return 0, unix.ENOTTY
}
