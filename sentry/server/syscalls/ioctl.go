package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/devpts"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/stdio"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

const (
	tiocgpgrp = 0x540F
	tiocspgrp = 0x5410
	tiocgsid  = 0x5429
)

// queuedFile is a socket that reports how much it has to read
// (FIONREAD).
type queuedFile interface {
	Queued() (int, error)
}

// Ioctl serves ioctl: the interface ioctls on any socket first
// (netif.go), then FIOCLEX, FIONCLEX, FIONBIO and FIONREAD on every file
// kind, a pseudo-terminal end's terminal ioctls (pty.go) and those of the
// client's stdio terminal; ENOTTY for the rest.
func Ioctl(c *kernel.Task) (int64, error) {
	fd, req, arg := ArgInt(c, 0), uint32(c.Args[1]), c.Args[2]
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, _, err := tab.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	if handled, err := ifIoctl(c, f, req, arg); handled {
		return 0, err
	}
	if vfs.IsRegularFile(f) && !sysabi.RegularFileIoctl(req) {
		// The client answers these itself (sysabi.RegularFileIoctl).
		return 0, unix.ENOTTY
	}
	switch req {
	case sysabi.FIOCLEX, sysabi.FIONCLEX:
		return 0, tab.SetCloexec(fd, req == sysabi.FIOCLEX)
	case sysabi.FIONBIO:
		b, err := c.Mem.CopyIn(arg, 4)
		if err != nil {
			return 0, err
		}
		for {
			old := f.Flags.Load()
			nf := old &^ unix.O_NONBLOCK
			if binary.LittleEndian.Uint32(b) != 0 {
				nf |= unix.O_NONBLOCK
			}
			if f.Flags.CompareAndSwap(old, nf) {
				break
			}
		}
		f.Changed()
		return 0, nil
	case sysabi.FIONREAD:
		var n int
		switch impl := f.Impl.(type) {
		case *kernel.PipeEnd:
			n = impl.Available()
		case *vfs.GoferFile:
			st, err := impl.Stat(c)
			if err != nil {
				return 0, err
			}
			f.OffMu.Lock()
			n = int(max(int64(st.Size)-f.Off, 0))
			f.OffMu.Unlock()
		case *kernel.StdioFile:
			n = impl.In.Buffered()
		case *devpts.File:
			n = impl.Readable()
		case queuedFile:
			if n, err = impl.Queued(); err != nil {
				return 0, err
			}
		default:
			return 0, unix.ENOTTY
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(min(n, 1<<31-1)))
		return 0, c.Mem.CopyOut(arg, b[:])
	}
	if pf, ok := f.Impl.(*devpts.File); ok {
		return ptyIoctl(c, pf, tab, req, arg)
	}
	s, ok := f.Impl.(*kernel.StdioFile)
	if !ok || !s.Tty {
		return 0, unix.ENOTTY
	}
	k := c.Kernel
	if req == unix.TCSETS || req == unix.TCSETSW || req == unix.TCSETSF {
		b, err := c.Mem.CopyIn(arg, stdio.SizeofTermios)
		if err != nil {
			return 0, err
		}
		k.Mu.Lock()
		s.Term.Termios = b
		k.Mu.Unlock()
		// The host terminal gets the modes too (the client applies
		// them): its line discipline is the one the application sees.
		k.Out.Push(&sentrypb.Push{Msg: &sentrypb.Push_TtyModes{TtyModes: &sentrypb.TtyModes{StdioSet: s.Set, Termios: b}}})
		return 0, nil
	}
	k.Mu.Lock()
	defer k.Mu.Unlock()
	switch req {
	case unix.TCGETS:
		return 0, c.Mem.CopyOut(arg, s.Term.Termios)
	case unix.TIOCGWINSZ:
		return 0, c.Mem.CopyOut(arg, s.Term.Winsize)
	case unix.TIOCSWINSZ:
		b, err := c.Mem.CopyIn(arg, stdio.SizeofWinsize)
		if err != nil {
			return 0, err
		}
		s.Term.Winsize = b
		return 0, nil
	case tiocgpgrp:
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(s.Term.FgPgrp))
		return 0, c.Mem.CopyOut(arg, b[:])
	case tiocspgrp:
		b, err := c.Mem.CopyIn(arg, 4)
		if err != nil {
			return 0, err
		}
		pg := int32(binary.LittleEndian.Uint32(b))
		if pg <= 0 {
			return 0, unix.EINVAL
		}
		if len(k.ProcessGroupLocked(pg)) == 0 {
			return 0, unix.ESRCH
		}
		s.Term.FgPgrp = pg
		k.MarkTTYLeaderLocked(s)
		return 0, nil
	case tiocgsid:
		var b [4]byte
		sid := int32(1)
		if k.Init != nil {
			sid = k.Init.SID
		}
		if s.Set != 0 {
			sid = s.Term.Sid
		}
		binary.LittleEndian.PutUint32(b[:], uint32(sid))
		return 0, c.Mem.CopyOut(arg, b[:])
	}
	return 0, unix.ENOTTY
}
