package server

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/lease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// File owners, I/O signals and leases (fcntl F_SETOWN, F_SETOWN_EX,
// F_SETSIG, O_ASYNC, F_SETLEASE), within one client:
//
//   - A description's owner (a thread, a process or a process group) gets
//     its I/O signal (F_SETSIG's, SIGIO by default) when the description
//     has O_ASYNC and becomes readable or writable, and when a lease it
//     holds is broken. The signal is sent on the edge (the file was not
//     ready, now it is), not once per arrival as Linux does while it
//     stays ready.
//   - A lease (F_RDLCK, F_WRLCK) is held by an open file description of a
//     regular gofer file. Another open of the file (or a truncate by path)
//     that conflicts (a write lease: any open; a read lease: an open for
//     writing) breaks it: the holders' owners are signalled, and the
//     opener waits until the holders downgrade or release the lease, or
//     lease-break-time seconds (/proc/sys/fs/lease-break-time) pass, after
//     which the lease is taken away; with O_NONBLOCK it fails with
//     EWOULDBLOCK at once. As on Linux a lease is refused (EAGAIN) when a
//     conflicting open exists; only the client's own opens are seen (not
//     another client's of the same gofer file, nor the files the client
//     maps without an fd).
//
// Owners, signals and leases are in the description's FileState and come
// back after a server failure; a break in progress does not (the opener's
// call is re-sent and breaks the lease again).

// struct f_owner_ex's types.
const (
	fOwnerTID  = fdesc.OwnerTID
	fOwnerPID  = fdesc.OwnerPID
	fOwnerPGRP = fdesc.OwnerPGRP
)

// ownerExistsLocked reports whether an owner of that type and id exists.
// Precondition: k.Mu held.
func ownerExistsLocked(k *clientState, typ, id int32) bool {
	switch typ {
	case fOwnerTID:
		t := k.Threads[id]
		return t != nil && !t.Killed
	case fOwnerPID:
		p := k.Procs[id]
		return p != nil && !p.Zombie
	case fOwnerPGRP:
		return len(k.ProcessGroupLocked(id)) > 0
	}
	return false
}

// fcntlOwner serves F_GETOWN, F_SETOWN, F_GETOWN_EX, F_SETOWN_EX,
// F_GETSIG and F_SETSIG.
func fcntlOwner(c *syscallCtx, f *file, cmd int) (int64, error) {
	switch cmd {
	case unix.F_GETOWN:
		typ, id, _ := f.Async.Owner()
		if typ == fOwnerPGRP {
			return int64(-id), nil
		}
		return int64(id), nil
	case unix.F_SETOWN:
		arg := int32(c.Args[2])
		typ, id := int32(fOwnerPID), arg
		if arg < 0 {
			if arg == -1<<31 {
				return 0, unix.EINVAL
			}
			typ, id = fOwnerPGRP, -arg
		}
		return 0, setOwner(c, f, typ, id)
	case unix.F_GETOWN_EX:
		typ, id, _ := f.Async.Owner()
		var b [8]byte
		binary.LittleEndian.PutUint32(b[0:], uint32(typ))
		binary.LittleEndian.PutUint32(b[4:], uint32(id))
		return 0, c.Mem.CopyOut(c.Args[2], b[:])
	case unix.F_SETOWN_EX:
		b, err := c.Mem.CopyIn(c.Args[2], 8)
		if err != nil {
			return 0, err
		}
		typ, id := int32(binary.LittleEndian.Uint32(b[0:])), int32(binary.LittleEndian.Uint32(b[4:]))
		if typ < fOwnerTID || typ > fOwnerPGRP {
			return 0, unix.EINVAL
		}
		return 0, setOwner(c, f, typ, id)
	case unix.F_GETSIG:
		_, _, sig := f.Async.Owner()
		return int64(sig), nil
	case unix.F_SETSIG:
		sig := int64(c.Args[2])
		if sig < 0 || sig > ksignal.NumSignals {
			return 0, unix.EINVAL
		}
		f.Async.SetSig(int32(sig))
		f.Changed()
		return 0, nil
	}
	return 0, unix.EINVAL
}

// setOwner sets f's owner (id 0: none; else it must exist: ESRCH).
func setOwner(c *syscallCtx, f *file, typ, id int32) error {
	if id != 0 {
		c.Kernel.Mu.Lock()
		ok := ownerExistsLocked(c.Kernel, typ, id)
		c.Kernel.Mu.Unlock()
		if !ok {
			return unix.ESRCH
		}
	}
	f.Async.SetOwner(typ, id)
	f.Changed()
	return nil
}

// Linux's si_code values of SIGPOLL, and the si_band of each.
const (
	pollInCode  = 1
	pollOutCode = 2
	pollMsgCode = 3
)

// sendIOSignal sends f's I/O signal to its owner: code is the si_code
// (pollInCode...) and band the si_band it carries when F_SETSIG chose the
// signal; fd is si_fd.
func sendIOSignal(k *clientState, f *file, fd int32, code int32, band uint32) {
	typ, id, sig := f.Async.Owner()
	if id == 0 {
		return
	}
	var info []byte
	signo := int(sig)
	if sig == 0 {
		signo = int(unix.SIGIO)
		info = ksignal.SiginfoKill(signo, ksignal.SIKernel, 0, 0)
	} else {
		info = make([]byte, ksignal.SizeofSiginfo)
		binary.LittleEndian.PutUint32(info[0:], uint32(sig))
		binary.LittleEndian.PutUint32(info[8:], uint32(code))
		binary.LittleEndian.PutUint64(info[16:], uint64(band))
		binary.LittleEndian.PutUint32(info[24:], uint32(fd))
	}
	var d deferred
	k.Mu.Lock()
	switch typ {
	case fOwnerTID:
		if t := k.Threads[id]; t != nil && !t.Killed {
			k.QueueAsyncSignalLocked(t.Proc, t, signo, info, &d)
		}
	case fOwnerPID:
		if p := k.Procs[id]; p != nil {
			k.QueueAsyncSignalLocked(p, nil, signo, info, &d)
		}
	case fOwnerPGRP:
		for _, p := range k.ProcessGroupLocked(id) {
			k.QueueAsyncSignalLocked(p, nil, signo, info, &d)
		}
	}
	k.Mu.Unlock()
	d.Run(k.Out)
}

// setAsync starts or stops f's O_ASYNC watcher; fd is the fd its signals
// name.
func setAsync(k *clientState, f *file, fd int32, on bool) {
	var ev uint32
	var ch <-chan struct{}
	if on {
		// Taken now, not when the watcher starts running: a change
		// right after this call must signal.
		ev, ch = f.Impl.Readiness(f)
	}
	if !on {
		f.Async.StopWatch()
		return
	}
	if stop, start := f.Async.StartWatch(fd); start {
		go watchAsync(k, f, stop, ev, ch)
	}
}

// watchAsync signals f's owner each time f becomes readable or writable,
// until stop is closed, f is released or the client goes; ev and ch are
// f's readiness when O_ASYNC was set.
func watchAsync(k *clientState, f *file, stop <-chan struct{}, ev uint32, ch <-chan struct{}) {
	for ch != nil {
		select {
		case <-ch:
		case <-stop:
			return
		case <-k.Done:
			return
		}
		var now uint32
		now, ch = f.Impl.Readiness(f)
		gained := now &^ ev
		if e, ok := f.Impl.(*kernel.PipeEnd); ok && e.Reads != e.Writes {
			// One end of a pipe wakes at each write into it (its
			// read end) or read that made room (its write end), as
			// Linux signals each: a write right after a read that
			// emptied the pipe must signal even if this watcher
			// never saw the pipe empty.
			gained = now
		}
		ev = now
		fd := f.Async.WatchFD()
		if gained&linux.POLLIN != 0 {
			sendIOSignal(k, f, fd, pollInCode, linux.POLLIN|linux.POLLRDNORM)
		}
		if gained&linux.POLLOUT != 0 {
			sendIOSignal(k, f, fd, pollOutCode, linux.POLLOUT|linux.POLLWRNORM)
		}
	}
}

// leaseFile returns f's inode number if f can hold a lease.
func leaseFile(f *file) (uint64, bool) {
	if _, ok := f.Impl.(*vfs.GoferFile); !ok || vfs.DentryOf(f) == nil || !vfs.DentryOf(f).IsRegular() {
		return 0, false
	}
	return vfs.DentryOf(f).Ino(), true
}

// openCounts counts the descriptions of the client's processes open for
// reading and for writing on gofer file ino, but f.
func openCounts(k *clientState, ino uint64, f *file) (readers, writers int) {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	seenTab := make(map[*fdTable]bool)
	seen := make(map[*file]bool)
	for _, p := range k.Procs {
		t := p.FDs
		if t == nil || seenTab[t] {
			continue
		}
		seenTab[t] = true
		t.Each(func(_ int32, e fdEntry) {
			of := e.File
			if of == f || seen[of] || vfs.DentryOf(of) == nil || vfs.DentryOf(of).Kind != vfs.KindGofer || vfs.DentryOf(of).Ino() != ino || of.IsPath() {
				return
			}
			seen[of] = true
			if of.Readable() {
				readers++
			}
			if of.Writable() {
				writers++
			}
		})
	}
	return readers, writers
}

// fcntlLease serves F_SETLEASE and F_GETLEASE on fd.
func fcntlLease(c *syscallCtx, f *file, fd int32, cmd int) (int64, error) {
	ino, ok := leaseFile(f)
	if !ok {
		return 0, unix.EINVAL
	}
	lt := c.Kernel.Leases
	if cmd == unix.F_GETLEASE {
		return int64(lt.Get(ino, f).FcntlType()), nil
	}
	rank, ok := lease.RankOfType(int32(c.Args[2]))
	if !ok {
		return 0, unix.EINVAL
	}
	if rank == lease.None {
		if !lt.Release(ino, f) {
			return 0, unix.EAGAIN
		}
		f.Changed()
		return 0, nil
	}
	if cr := c.ProcessCreds(); !cr.OwnerOrCapable(c.Kernel.VFS.AttrsOf(vfs.DentryOf(f))) {
		return 0, unix.EACCES
	}
	if rank == lease.Read && f.Writable() {
		return 0, unix.EAGAIN
	}
	readers, writers := openCounts(c.Kernel, ino, f)
	if err := lt.Set(ino, f, rank, fd, readers, writers); err != nil {
		return 0, err
	}
	f.HasLease.Store(true)
	// As Linux, taking a lease makes the caller's process the owner its
	// break signal goes to.
	f.Async.SetOwner(fOwnerPID, c.PID())
	f.Changed()
	return 0, nil
}

// dropLease drops the lease of a description that is gone: f's
// fileOwner.
func (kp *kernelPorts) DropLease(f *file) {
	k := (*clientState)(kp)
	if ino, ok := leaseFile(f); ok {
		k.Leases.Release(ino, f)
	}
}

// breakLeases is called before d is opened (for writing if write, or
// truncated) by the application: leases that conflict are broken, and the
// call waits for their holders (see the top of this file).
func breakLeases(c *syscallCtx, d *dentry, write, nonblock bool) error {
	if d == nil || d.Kind != vfs.KindGofer || !d.IsRegular() {
		return nil
	}
	notify := func(f *file, fd int32) {
		sendIOSignal(c.Kernel, f, fd, pollMsgCode, linux.POLLIN|linux.POLLRDNORM|pollMsgBand)
	}
	return c.Kernel.Leases.Break(d.Ino(), write, nonblock, notify, (*file).Changed, c.Block)
}

// pollMsgBand is POLLMSG, part of the si_band of a lease break.
const pollMsgBand = 0x400

// recordAsync fills the owner, signal and lease fields of f's FileState.
func recordAsync(k *clientState, f *file, st *sentrypb.FileState) {
	var watchFD int32
	var watching bool
	st.OwnerType, st.OwnerId, st.IoSignal, watchFD, watching = f.Async.State()
	if watching {
		st.AsyncFd = watchFD
	}
	if f.HasLease.Load() {
		if ino, ok := leaseFile(f); ok {
			if rank, fd, ok := k.Leases.LeaseOf(ino, f); ok {
				st.HasLease, st.Lease, st.LeaseFd = true, rank.FcntlType(), fd
			}
		}
	}
}

// restoreAsync gives restored description f the owner, signal, O_ASYNC
// watcher and lease its FileState records.
func restoreAsync(k *clientState, f *file, st *sentrypb.FileState) {
	typ := st.GetOwnerType()
	if typ < fOwnerTID || typ > fOwnerPGRP {
		typ = fOwnerTID
	}
	f.Async.SetOwner(typ, st.GetOwnerId())
	if sig := st.GetIoSignal(); sig > 0 && sig <= ksignal.NumSignals {
		f.Async.SetSig(sig)
	}
	if f.Flags.Load()&unix.O_ASYNC != 0 {
		setAsync(k, f, st.GetAsyncFd(), true)
	}
	if st.GetHasLease() {
		rank, ok := lease.RankOfType(st.GetLease())
		if ino, isLeasable := leaseFile(f); ok && isLeasable && rank != lease.None {
			k.Leases.Restore(ino, f, rank, st.GetLeaseFd())
			f.HasLease.Store(true)
		}
	}
}
