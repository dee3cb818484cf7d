package kernel

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
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

// OwnerExistsLocked reports whether an owner of that type and id exists.
// Precondition: k.Mu held.
func (k *Kernel) OwnerExistsLocked(typ, id int32) bool {
	switch typ {
	case fdesc.OwnerTID:
		t := k.Threads[id]
		return t != nil && !t.Killed
	case fdesc.OwnerPID:
		p := k.Procs[id]
		return p != nil && !p.Zombie
	case fdesc.OwnerPGRP:
		return len(k.ProcessGroupLocked(id)) > 0
	}
	return false
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
func (k *Kernel) sendIOSignal(f *fdesc.File, fd int32, code int32, band uint32) {
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
	var d Deferred
	k.Mu.Lock()
	switch typ {
	case fdesc.OwnerTID:
		if t := k.Threads[id]; t != nil && !t.Killed {
			k.QueueAsyncSignalLocked(t.Proc, t, signo, info, &d)
		}
	case fdesc.OwnerPID:
		if p := k.Procs[id]; p != nil {
			k.QueueAsyncSignalLocked(p, nil, signo, info, &d)
		}
	case fdesc.OwnerPGRP:
		for _, p := range k.ProcessGroupLocked(id) {
			k.QueueAsyncSignalLocked(p, nil, signo, info, &d)
		}
	}
	k.Mu.Unlock()
	d.Run(k.Out)
}

// SetAsync starts or stops f's O_ASYNC watcher; fd is the fd its signals
// name.
func (k *Kernel) SetAsync(f *fdesc.File, fd int32, on bool) {
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
		go k.watchAsync(f, stop, ev, ch)
	}
}

// watchAsync signals f's owner each time f becomes readable or writable,
// until stop is closed, f is released or the client goes; ev and ch are
// f's readiness when O_ASYNC was set.
func (k *Kernel) watchAsync(f *fdesc.File, stop <-chan struct{}, ev uint32, ch <-chan struct{}) {
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
		if e, ok := f.Impl.(*PipeEnd); ok && e.Reads != e.Writes {
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
			k.sendIOSignal(f, fd, pollInCode, linux.POLLIN|linux.POLLRDNORM)
		}
		if gained&linux.POLLOUT != 0 {
			k.sendIOSignal(f, fd, pollOutCode, linux.POLLOUT|linux.POLLWRNORM)
		}
	}
}

// LeaseIno returns f's inode number if f can hold a lease.
func LeaseIno(f *fdesc.File) (uint64, bool) {
	if _, ok := f.Impl.(*vfs.GoferFile); !ok || vfs.DentryOf(f) == nil || !vfs.DentryOf(f).IsRegular() {
		return 0, false
	}
	return vfs.DentryOf(f).Ino(), true
}

// OpenCounts counts the descriptions of the client's processes open for
// reading and for writing on gofer file ino, but f.
func (k *Kernel) OpenCounts(ino uint64, f *fdesc.File) (readers, writers int) {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	seen := make(map[*fdesc.File]bool)
	k.eachFDTableLocked(func(t *fdtable.Table) bool {
		t.Each(func(_ int32, e fdtable.Entry) {
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
		return true
	})
	return readers, writers
}

// BreakLeases is called before d is opened (for writing if write, or
// truncated) by the application's call c: leases that conflict are
// broken, and the call waits for their holders (see the top of this
// file).
func (c *Task) BreakLeases(d *vfs.Dentry, write, nonblock bool) error {
	if d == nil || d.Kind != vfs.KindGofer || !d.IsRegular() {
		return nil
	}
	notify := func(f *fdesc.File, fd int32) {
		c.Kernel.sendIOSignal(f, fd, pollMsgCode, linux.POLLIN|linux.POLLRDNORM|pollMsgBand)
	}
	return c.Kernel.Leases.Break(d.Ino(), write, nonblock, notify, (*fdesc.File).Changed, c.Block)
}

// pollMsgBand is POLLMSG, part of the si_band of a lease break.
const pollMsgBand = 0x400

// recordAsync fills the owner, signal and lease fields of f's FileState.
func (k *Kernel) recordAsync(f *fdesc.File, st *sentrypb.FileState) {
	var watchFD int32
	var watching bool
	st.OwnerType, st.OwnerId, st.IoSignal, watchFD, watching = f.Async.State()
	if watching {
		st.AsyncFd = watchFD
	}
	if f.HasLease.Load() {
		if ino, ok := LeaseIno(f); ok {
			if rank, fd, ok := k.Leases.LeaseOf(ino, f); ok {
				st.HasLease, st.Lease, st.LeaseFd = true, rank.FcntlType(), fd
			}
		}
	}
}

// restoreAsync gives restored description f the owner, signal, O_ASYNC
// watcher and lease its FileState records.
func (k *Kernel) restoreAsync(f *fdesc.File, st *sentrypb.FileState) {
	typ := st.GetOwnerType()
	if typ < fdesc.OwnerTID || typ > fdesc.OwnerPGRP {
		typ = fdesc.OwnerTID
	}
	f.Async.SetOwner(typ, st.GetOwnerId())
	if sig := st.GetIoSignal(); sig > 0 && sig <= ksignal.NumSignals {
		f.Async.SetSig(sig)
	}
	if f.Flags.Load()&unix.O_ASYNC != 0 {
		k.SetAsync(f, st.GetAsyncFd(), true)
	}
	if st.GetHasLease() {
		rank, ok := lease.RankOfType(st.GetLease())
		if ino, isLeasable := LeaseIno(f); ok && isLeasable && rank != lease.None {
			k.Leases.Restore(ino, f, rank, st.GetLeaseFd())
			f.HasLease.Store(true)
		}
	}
}
