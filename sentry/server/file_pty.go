package server

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
)

// Pseudo-terminals: /dev/ptmx makes a pair (package pty owns the
// terminal, its line discipline and its replay record); /dev/pts lists
// the slaves, which open by path or with TIOCGPTPEER. The server keeps
// each terminal's session and foreground group in the terminal and
// sends the signals its ISIG characters and resizes raise. After a
// server failure the terminals come back from their records and each
// end's description from its FileState (restorePtyFile), without the
// bytes that were queued.

const (
	ptsMajor  = 136
	ptmxMinor = 2
)

// ptyLookup resolves name in /dev (pts; /dev/ptmx is a link to
// pts/ptmx, devLinks) or /dev/pts (ptmx, <n>).
func (v *vfs) ptyLookup(dir *dentry, name string) *dentry {
	mk := func(kind dentryKind, mode uint32, ino uint64) *dentry {
		return &dentry{v: v, kind: kind, mode: mode, ino: ino, parent: dir, name: name}
	}
	switch {
	case dir.kind == dkDevPtsDir && name == "ptmx":
		return mk(dkDevPtmx, unix.S_IFCHR|0666, synthIno(3, ptmxMinor))
	case dir.kind == dkDevDir && name == "pts":
		return mk(dkDevPtsDir, unix.S_IFDIR|0755, synthIno(17, 0))
	case dir.kind == dkDevPtsDir:
		n, err := strconv.Atoi(name)
		if err != nil || n < 0 || strconv.Itoa(n) != name || v.k.ptys.Get(n) == nil {
			return nil
		}
		d := mk(dkDevPts, unix.S_IFCHR|0620, synthIno(18, n))
		d.fd = int32(n)
		return d
	}
	return nil
}

// ptsList lists /dev/pts.
func (v *vfs) ptsList() []synthDirent {
	out := []synthDirent{{"ptmx", synthIno(3, ptmxMinor), unix.DT_CHR}}
	for _, n := range v.k.ptys.Indexes() {
		out = append(out, synthDirent{strconv.Itoa(n), synthIno(18, n), unix.DT_CHR})
	}
	return out
}

// openPty opens /dev/ptmx (a new terminal's master) or /dev/pts/<n> (its
// slave: EIO while locked or after the master closed).
func (c *syscallCtx) openPty(d *dentry, flags uint32) (*file, error) {
	if d.kind == dkDevPtmx {
		t, err := c.k.ptys.New()
		if err != nil {
			return nil, err
		}
		return newFile(&ptyFile{k: c.k, t: t, master: true}, d, flags), nil
	}
	t := c.k.ptys.Get(int(d.fd))
	if t == nil {
		return nil, unix.EIO
	}
	if err := t.OpenSlave(); err != nil {
		return nil, err
	}
	return newFile(&ptyFile{k: c.k, t: t}, d, flags), nil
}

// restorePtyFile rebuilds a description of an end of a restored
// terminal (restore.go has made the terminals).
func (k *clientState) restorePtyFile(rc *syscallCtx, fs *sentrypb.FileState) (*file, error) {
	t := k.ptys.Get(int(fs.PtyIndex))
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
		d, _ = k.vfs.resolve(rc, k.vfs.root, fs.Path, false)
	}
	f := newFile(&ptyFile{k: k, t: t, master: fs.PtyMaster}, d, fs.Flags)
	return f, nil
}

// ptyFile is one end of a pseudo-terminal.
type ptyFile struct {
	k *clientState
	// t and master are immutable.
	t      *pty.Terminal
	master bool
}

func (p *ptyFile) Stream() bool { return true }

func (p *ptyFile) Release() {
	if p.master {
		p.t.CloseMaster()
	} else {
		p.t.CloseSlave()
	}
}

func (p *ptyFile) Stat(fdesc.Call) (*goferpb.Stat, error) {
	now := time.Now().UnixNano()
	st := &goferpb.Stat{Mode: unix.S_IFCHR | 0666, Nlink: 1, Ino: synthIno(3, ptmxMinor), Dev: synthDev, Rdev: 5<<8 | ptmxMinor,
		Blksize: 1024, AtimeNs: now, MtimeNs: now, CtimeNs: now}
	if !p.master {
		st.Mode, st.Ino, st.Rdev = unix.S_IFCHR|0620, synthIno(18, p.t.Index), unix.Mkdev(ptsMajor, uint32(p.t.Index))
	}
	return st, nil
}

func (p *ptyFile) readable() int {
	if p.master {
		return p.t.MasterReadable()
	}
	return p.t.SlaveReadable()
}

func (p *ptyFile) Read(c fdesc.Call, f *file, n int, _ int64) ([]byte, error) {
	if !p.master && c != nil {
		// Job control: a background read (jobctl.go).
		sid, fg := p.t.Session()
		if err := p.k.jobControlAccess(c, sid, fg, int(unix.SIGTTIN)); err != nil {
			return nil, err
		}
	}
	if n == 0 {
		return nil, nil
	}
	for {
		ch := p.t.Changed()
		var b []byte
		var err error
		if p.master {
			b, err = p.t.MasterRead(n)
		} else {
			b, err = p.t.SlaveRead(n)
		}
		if err != unix.EAGAIN || f.Nonblock() {
			return b, err
		}
		if err := c.Block(ch, nil); err != nil {
			return nil, err
		}
	}
}

func (p *ptyFile) Write(c fdesc.Call, f *file, b []byte, _ int64) (int, error) {
	if !p.master && c != nil && termiosStopsWrites(p.t.Termios()) {
		// Job control: a background write with TOSTOP (jobctl.go).
		sid, fg := p.t.Session()
		if err := p.k.jobControlAccess(c, sid, fg, int(unix.SIGTTOU)); err != nil {
			return 0, err
		}
	}
	done := 0
	for done < len(b) || len(b) == 0 {
		ch := p.t.Changed()
		var n int
		var sigs []linux.Signal
		var err error
		if p.master {
			n, sigs, err = p.t.MasterWrite(b[done:])
		} else {
			n, err = p.t.SlaveWrite(b[done:])
		}
		p.signalForeground(sigs)
		done += n
		if len(b) == 0 || done == len(b) {
			break
		}
		if err == unix.EAGAIN && !f.Nonblock() {
			if err := c.Block(ch, nil); err != nil {
				if done > 0 {
					return done, nil
				}
				return 0, err
			}
			continue
		}
		if err != nil {
			if done > 0 && err == unix.EAGAIN {
				return done, nil
			}
			return done, err
		}
	}
	return done, nil
}

// signalForeground sends sigs to the terminal's foreground process group.
func (p *ptyFile) signalForeground(sigs []linux.Signal) {
	if len(sigs) == 0 {
		return
	}
	_, fg := p.t.Session()
	if fg == 0 {
		return
	}
	k := p.k
	var d deferred
	k.mu.Lock()
	for _, sig := range sigs {
		info := ksignal.SiginfoKill(int(sig), ksignal.SIKernel, 0, 0)
		for _, q := range k.processGroupLocked(fg) {
			k.signalProcessLocked(q, nil, int(sig), info, &d)
		}
	}
	k.mu.Unlock()
	d.run(k)
}

func (p *ptyFile) Readiness(*file) (uint32, <-chan struct{}) {
	ch := p.t.Changed()
	r := p.t.SlaveReadiness()
	if p.master {
		r = p.t.MasterReadiness()
	}
	var ev uint32
	if r.In {
		ev |= pollIn | pollRdNorm
	}
	if r.Out {
		ev |= pollOut | pollWrNorm
	}
	if r.Hup {
		ev |= pollHup
	}
	return ev, ch
}

// ioctl serves the terminal ioctls of either end.
func (p *ptyFile) ioctl(c *syscallCtx, tab *fdTable, req uint32, arg uint64) (int64, error) {
	t := p.t
	putInt := func(v int32) (int64, error) {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(v))
		return 0, c.mem.CopyOut(arg, b[:])
	}
	getInt := func() (int32, error) {
		b, err := c.mem.CopyIn(arg, 4)
		if err != nil {
			return 0, err
		}
		return int32(binary.LittleEndian.Uint32(b)), nil
	}
	switch req {
	case unix.TCGETS:
		return 0, c.mem.CopyOut(arg, t.Termios())
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF:
		b, err := c.mem.CopyIn(arg, pty.SizeofTermios)
		if err != nil {
			return 0, err
		}
		if req == unix.TCSETSF {
			t.Flush(true, false)
		}
		return 0, t.SetTermios(b)
	case unix.TIOCGWINSZ:
		return 0, c.mem.CopyOut(arg, t.Winsize())
	case unix.TIOCSWINSZ:
		b, err := c.mem.CopyIn(arg, pty.SizeofWinsize)
		if err != nil {
			return 0, err
		}
		changed, err := t.SetWinsize(b)
		if changed {
			p.signalForeground([]linux.Signal{linux.SIGWINCH})
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
		if fg == 0 && !p.master {
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
		k := c.k
		k.mu.Lock()
		callerSid := c.t.proc.sid
		members := k.processGroupLocked(pg)
		k.mu.Unlock()
		switch {
		case sid == 0 || sid != callerSid:
			return 0, unix.ENOTTY
		case pg <= 0:
			return 0, unix.EINVAL
		case len(members) == 0 || members[0].sid != sid:
			return 0, unix.EPERM
		}
		t.SetForeground(pg)
		return 0, nil
	case unix.TIOCSCTTY:
		k := c.k
		k.mu.Lock()
		proc := c.t.proc
		leader, sid, pgid := proc.pid == proc.sid, proc.sid, proc.pgid
		k.mu.Unlock()
		if !leader {
			return 0, unix.EPERM
		}
		if cur, _ := t.Session(); cur != 0 && cur != sid && !c.creds().Capable(linux.CAP_SYS_ADMIN) {
			return 0, unix.EPERM
		}
		t.SetSession(sid, pgid)
		return 0, nil
	case unix.TIOCNOTTY:
		sid, _ := t.Session()
		c.k.mu.Lock()
		callerSid := c.t.proc.sid
		c.k.mu.Unlock()
		if sid == 0 || sid != callerSid {
			return 0, unix.ENOTTY
		}
		t.SetSession(0, 0)
		return 0, nil
	}
	if !p.master {
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
		nf := newFile(&ptyFile{k: c.k, t: t}, nil, flags)
		fd, err := tab.install(nf, 0, arg&unix.O_CLOEXEC != 0)
		if err != nil {
			return 0, err
		}
		return int64(fd), nil
	}
	return 0, unix.ENOTTY
}
