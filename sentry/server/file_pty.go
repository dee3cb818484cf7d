package server

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/devpts"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Pseudo-terminals: /dev/ptmx makes a pair (package pty owns the
// terminal, its line discipline and its replay record); /dev/pts lists
// the slaves, which open by path or with TIOCGPTPEER. The server keeps
// each terminal's session and foreground group in the terminal and
// sends the signals its ISIG characters and resizes raise. After a
// server failure the terminals come back from their records and each
// end's description from its FileState (restorePtyFile), without the
// bytes that were queued.

// newPtyFile is a description of t's master or slave end, opened by d
// (nil: none) with flags.
func newPtyFile(k *clientState, t *pty.Terminal, master bool, d *dentry, flags uint32) *file {
	ino := vfs.SynthIno(18, t.Index)
	if master {
		ino = vfs.SynthIno(3, devpts.PtmxMinor)
	}
	return vfs.NewFile(devpts.New(ports(k), t, master, ino, vfs.SynthDev), d, flags)
}

// JobControlAccess is k's devpts.Kernel: a terminal's job control for
// the call c (jobControlAccess).
func (kp *kernelPorts) JobControlAccess(c fdesc.Call, sid, fgPgrp int32, sig int) error {
	return (*clientState)(kp).JobControlAccess(c, sid, fgPgrp, sig)
}

// SignalGroup is k's devpts.Kernel: sigs to process group pgid, as a
// terminal sends them.
func (kp *kernelPorts) SignalGroup(pgid int32, sigs []linux.Signal) {
	k := (*clientState)(kp)
	var d deferred
	k.Mu.Lock()
	for _, sig := range sigs {
		info := ksignal.SiginfoKill(int(sig), ksignal.SIKernel, 0, 0)
		for _, q := range k.ProcessGroupLocked(pgid) {
			k.SignalProcessLocked(q, nil, int(sig), info, &d)
		}
	}
	k.Mu.Unlock()
	d.Run(k.Out)
}

// openPty opens /dev/ptmx (a new terminal's master) or /dev/pts/<n> (its
// slave: EIO while locked or after the master closed).
func openPty(c *syscallCtx, d *dentry, flags uint32) (*file, error) {
	if d.Kind == vfs.KindDevPtmx {
		t, err := c.Kernel.Ptys.New()
		if err != nil {
			return nil, err
		}
		return newPtyFile(c.Kernel, t, true, d, flags), nil
	}
	t := c.Kernel.Ptys.Get(int(d.FD))
	if t == nil {
		return nil, unix.EIO
	}
	if err := t.OpenSlave(); err != nil {
		return nil, err
	}
	return newPtyFile(c.Kernel, t, false, d, flags), nil
}

// restorePtyFile rebuilds a description of an end of a restored
// terminal (kernel/restore.go has made the terminals).
func restorePtyFile(k *clientState, rc *syscallCtx, fs *sentrypb.FileState) (*file, error) {
	t := k.Ptys.Get(int(fs.PtyIndex))
	if t == nil {
		return nil, fmt.Errorf("pty %d: no such terminal in the Restore: %w", fs.PtyIndex, unix.EINVAL)
	}
	if fs.PtyMaster {
		if err := t.AttachMaster(); err != nil {
			return nil, err
		}
	} else {
		t.AttachSlave()
	}
	var d *dentry
	if rc != nil && fs.Path != "" {
		d, _ = k.VFS.Resolve(rc, k.VFS.Root, fs.Path, false)
	}
	f := newPtyFile(k, t, fs.PtyMaster, d, fs.Flags)
	return f, nil
}

// ptyIoctl serves the terminal ioctls of either end p.
func ptyIoctl(c *syscallCtx, p *devpts.File, tab *fdTable, req uint32, arg uint64) (int64, error) {
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
	case tiocgpgrp:
		_, fg := t.Session()
		if fg == 0 && !p.Master() {
			return 0, unix.ENOTTY
		}
		return putInt(fg)
	case tiocgsid:
		sid, _ := t.Session()
		if sid == 0 {
			return 0, unix.ENOTTY
		}
		return putInt(sid)
	case tiocspgrp:
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
		nf := newPtyFile(c.Kernel, t, false, nil, flags)
		fd, err := tab.Install(nf, 0, arg&unix.O_CLOEXEC != 0)
		if err != nil {
			return 0, err
		}
		return int64(fd), nil
	}
	return 0, unix.ENOTTY
}
