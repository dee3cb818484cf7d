package syscalls

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/marshal"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/sysvipc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// System V IPC (package sysvipc holds the objects). Semaphores and
// message queues live on the server; a shared memory segment's memory is
// a file of the client's /dev/shm directory that the client maps shared
// (shmat's reply is a ShmAttachPlan), so fork, exec and recovery treat
// it as any shared file mapping.

// ipc64Flag is IPC_64, which x86-64's glibc may or it into the command.
const ipc64Flag = 0x100

// segmentCreatePart is the Origin part of the gofer Create of a
// segment's file (a SetStat uses part 0).
const segmentCreatePart = 100

func ipcCaller(c *kernel.Task) sysvipc.Caller {
	cr := c.ProcessCreds()
	return sysvipc.Caller{Pid: c.PID(), UID: cr.EUID, GID: cr.EGID, Groups: cr.Groups, Privileged: cr.EUID == 0}
}

func marshalBytes(m marshal.Marshallable) []byte {
	b := make([]byte, m.SizeBytes())
	m.MarshalBytes(b)
	return b
}

// copyInDS copies in the struct an IPC_SET names at addr into ds.
func copyInDS(c *kernel.Task, addr uint64, ds marshal.Marshallable) error {
	b, err := c.Mem.CopyIn(addr, ds.SizeBytes())
	if err != nil {
		return err
	}
	ds.UnmarshalBytes(b)
	return nil
}

// copyOutStat is an IPC_STAT's (or a kind's _STAT's) end: its error, or
// its answer m copied out to addr and its result ret.
func copyOutStat(c *kernel.Task, addr uint64, m marshal.Marshallable, ret int32, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return int64(ret), c.Mem.CopyOut(addr, marshalBytes(m))
}

// copyOutInfo copies out the answer m of an IPC_INFO (or a kind's
// _INFO) to addr and returns the highest index in use, hi (0: none).
func copyOutInfo(c *kernel.Task, addr uint64, m marshal.Marshallable, hi int32) (int64, error) {
	if err := c.Mem.CopyOut(addr, marshalBytes(m)); err != nil {
		return 0, err
	}
	return int64(max(hi, 0)), nil
}

// ipcCtl is one kind's side (DS its ipc64 ds struct) of the ctl
// commands every System V IPC kind knows: IPC_RMID, IPC_SET, the stat
// commands and the info commands; own serves the kind's others.
type ipcCtl[DS any, P interface {
	*DS
	marshal.Marshallable
}] struct {
	// stats are IPC_STAT and the kind's _STAT and _STAT_ANY.
	stats  [3]int32
	remove func(caller sysvipc.Caller, id int32) error
	set    func(caller sysvipc.Caller, id int32, ds DS) error
	stat   func(caller sysvipc.Caller, id, cmd int32) (DS, int32, error)
	// info answers an info command (ok false: cmd is none) and the
	// highest index in use.
	info func(cmd int32) (m marshal.Marshallable, hi int32, ok bool)
	// own serves the kind's other commands (nil: none, EINVAL).
	own func(caller sysvipc.Caller) (int64, error)
}

// run serves ctl command cmd (IPC_64 cleared) of object id, whose
// argument is the address arg.
func (k ipcCtl[DS, P]) run(c *kernel.Task, id, cmd int32, arg uint64) (int64, error) {
	if id < 0 || cmd < 0 {
		return 0, unix.EINVAL
	}
	caller := ipcCaller(c)
	switch cmd {
	case linux.IPC_RMID:
		return 0, k.remove(caller, id)
	case linux.IPC_SET:
		var ds DS
		if err := copyInDS(c, arg, P(&ds)); err != nil {
			return 0, err
		}
		return 0, k.set(caller, id, ds)
	case k.stats[0], k.stats[1], k.stats[2]:
		ds, ret, err := k.stat(caller, id, cmd)
		return copyOutStat(c, arg, P(&ds), ret, err)
	}
	if m, hi, ok := k.info(cmd); ok {
		return copyOutInfo(c, arg, m, hi)
	}
	if k.own != nil {
		return k.own(caller)
	}
	return 0, unix.EINVAL
}

// ipcWait waits for a SysV object to change (ch), a signal (EINTR: these
// calls are never restarted), or the deadline (EAGAIN); cancel ends the
// wait and says EIDRM if the object went away.
func ipcWait(c *kernel.Task, ch <-chan struct{}, cancel func() error, deadline time.Time) error {
	timeout, stop, past := deadlineTimer(deadline)
	if past {
		if err := cancel(); err != nil {
			return err
		}
		return unix.EAGAIN
	}
	defer stop()
	err := c.Block(ch, timeout)
	if e := cancel(); e != nil {
		return e
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ETIMEDOUT):
		return unix.EAGAIN
	}
	return unix.EINTR
}

// ---- semaphores ----

// Semget implements semget(2).
func Semget(c *kernel.Task) (int64, error) {
	id, err := c.Kernel.IPC.SemGet(ipcCaller(c), ArgInt(c, 0), ArgInt(c, 1), ArgInt(c, 2))
	return int64(id), err
}

// Semop implements semop(2) and semtimedop(2).
func Semop(c *kernel.Task) (int64, error) {
	id, addr, nsops := ArgInt(c, 0), c.Args[1], uint32(c.Args[2])
	if nsops < 1 || id < 0 {
		return 0, unix.EINVAL
	}
	if nsops > linux.SEMOPM {
		return 0, unix.E2BIG
	}
	raw, err := c.Mem.CopyIn(addr, int(nsops)*6)
	if err != nil {
		return 0, err
	}
	ops := make([]linux.Sembuf, nsops)
	for i := range ops {
		b := raw[i*6:]
		ops[i] = linux.Sembuf{SemNum: binary.LittleEndian.Uint16(b), SemOp: int16(binary.LittleEndian.Uint16(b[2:])), SemFlg: int16(binary.LittleEndian.Uint16(b[4:]))}
	}
	var deadline time.Time
	if c.Sysno == unix.SYS_SEMTIMEDOP && c.Args[3] != 0 {
		ts, err := c.Mem.CopyIn(c.Args[3], 16)
		if err != nil {
			return 0, err
		}
		sec, nsec := int64(binary.LittleEndian.Uint64(ts)), int64(binary.LittleEndian.Uint64(ts[8:]))
		if sec < 0 || nsec < 0 || nsec >= 1e9 {
			return 0, unix.EINVAL
		}
		deadline = time.Now().Add(time.Duration(min(sec, 1<<32))*time.Second + time.Duration(nsec))
	}
	caller := ipcCaller(c)
	var w sysvipc.SemWait
	for {
		ch, err := c.Kernel.IPC.Semop(caller, c.CallSeq, id, ops, &w)
		if err != nil {
			return 0, err
		}
		if ch == nil {
			c.Effects().Sysv = true
			return 0, nil
		}
		if err := ipcWait(c, ch, func() error { return nil }, deadline); err != nil {
			if e := c.Kernel.IPC.EndWait(&w); e != nil {
				return 0, e
			}
			return 0, err
		}
	}
}

// Semctl implements semctl(2).
func Semctl(c *kernel.Task) (int64, error) {
	id, num, cmd, arg := ArgInt(c, 0), ArgInt(c, 1), ArgInt(c, 2)&^ipc64Flag, c.Args[3]
	r := c.Kernel.IPC
	return ipcCtl[linux.SemidDS, *linux.SemidDS]{
		stats:  [3]int32{linux.IPC_STAT, linux.SEM_STAT, linux.SEM_STAT_ANY},
		remove: r.SemRemove,
		set:    r.SemSetPerm,
		stat:   r.SemStat,
		info: func(cmd int32) (marshal.Marshallable, int32, bool) {
			if cmd != linux.IPC_INFO && cmd != linux.SEM_INFO {
				return nil, 0, false
			}
			info, hi := r.SemInfo(cmd)
			return &info, hi, true
		},
		own: func(caller sysvipc.Caller) (int64, error) { return semctlOwn(c, caller, id, num, cmd, arg) },
	}.run(c, id, cmd, arg)
}

// semctlOwn serves the semaphore commands of semctl (GETVAL, GETALL,
// SETVAL, SETALL, ...).
func semctlOwn(c *kernel.Task, caller sysvipc.Caller, id, num, cmd int32, arg uint64) (int64, error) {
	r := c.Kernel.IPC
	switch cmd {
	case linux.GETVAL, linux.GETPID, linux.GETNCNT, linux.GETZCNT:
		v, err := r.SemGetOne(caller, id, num, cmd)
		return int64(v), err
	case linux.GETALL:
		vals, err := r.SemGetAll(caller, id)
		if err != nil {
			return 0, err
		}
		b := make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(b[2*i:], v)
		}
		return 0, c.Mem.CopyOut(arg, b)
	case linux.SETVAL:
		return 0, r.SemSetVal(caller, id, num, int32(arg))
	case linux.SETALL:
		return 0, r.SemSetAll(caller, id, func(n int) ([]uint16, error) {
			b, err := c.Mem.CopyIn(arg, 2*n)
			if err != nil {
				return nil, err
			}
			vals := make([]uint16, n)
			for i := range vals {
				vals[i] = binary.LittleEndian.Uint16(b[2*i:])
			}
			return vals, nil
		})
	}
	return 0, unix.EINVAL
}

// ---- message queues ----

// Msgget implements msgget(2).
func Msgget(c *kernel.Task) (int64, error) {
	id, err := c.Kernel.IPC.MsgGet(ipcCaller(c), ArgInt(c, 0), ArgInt(c, 1))
	return int64(id), err
}

// Msgsnd implements msgsnd(2).
func Msgsnd(c *kernel.Task) (int64, error) {
	id, addr, size, flags := ArgInt(c, 0), c.Args[1], int64(c.Args[2]), ArgInt(c, 3)
	tb, err := c.Mem.CopyIn(addr, 8)
	if err != nil {
		return 0, err
	}
	typ := int64(binary.LittleEndian.Uint64(tb))
	if size > linux.MSGMAX || size < 0 || id < 0 || typ < 1 {
		return 0, unix.EINVAL
	}
	text, err := c.Mem.CopyIn(addr+8, int(size))
	if err != nil {
		return 0, err
	}
	caller := ipcCaller(c)
	for {
		ch, cancel, err := c.Kernel.IPC.MsgSend(caller, c.CallSeq, id, typ, text, flags)
		if err != nil {
			return 0, err
		}
		if ch == nil {
			c.Effects().Sysv = true
			return 0, nil
		}
		if err := ipcWait(c, ch, cancel, time.Time{}); err != nil {
			return 0, err
		}
	}
}

// Msgrcv implements msgrcv(2).
func Msgrcv(c *kernel.Task) (int64, error) {
	id, addr, size, typ, flags := ArgInt(c, 0), c.Args[1], int64(c.Args[2]), int64(c.Args[3]), ArgInt(c, 4)
	caller := ipcCaller(c)
	for {
		mtyp, text, ch, cancel, err := c.Kernel.IPC.MsgReceive(caller, c.CallSeq, id, typ, size, flags)
		if err != nil {
			return 0, err
		}
		if ch == nil {
			if flags&linux.MSG_COPY == 0 {
				c.Effects().Sysv = true
			}
			var tb [8]byte
			binary.LittleEndian.PutUint64(tb[:], uint64(mtyp))
			if err := c.Mem.CopyOut(addr, tb[:]); err != nil {
				return 0, err
			}
			if err := c.Mem.CopyOut(addr+8, text); err != nil {
				return 0, err
			}
			return int64(len(text)), nil
		}
		if err := ipcWait(c, ch, cancel, time.Time{}); err != nil {
			return 0, err
		}
	}
}

// Msgctl implements msgctl(2).
func Msgctl(c *kernel.Task) (int64, error) {
	id, cmd, arg := ArgInt(c, 0), ArgInt(c, 1)&^ipc64Flag, c.Args[2]
	r := c.Kernel.IPC
	return ipcCtl[linux.MsqidDS, *linux.MsqidDS]{
		stats:  [3]int32{linux.IPC_STAT, linux.MSG_STAT, linux.MSG_STAT_ANY},
		remove: r.MsgRemove,
		set:    r.MsgSet,
		stat:   r.MsgStat,
		info: func(cmd int32) (marshal.Marshallable, int32, bool) {
			if cmd != linux.IPC_INFO && cmd != linux.MSG_INFO {
				return nil, 0, false
			}
			info, hi := r.MsgInfo(cmd)
			return &info, hi, true
		},
	}.run(c, id, cmd, arg)
}

// ---- shared memory ----

// Shmget implements shmget(2).
func Shmget(c *kernel.Task) (int64, error) {
	id, err := c.Kernel.IPC.ShmGet(ipcCaller(c), ArgInt(c, 0), c.Args[1], ArgInt(c, 2))
	return int64(id), err
}

// shmlba is SHMLBA on amd64 (a page).
const shmlba = 4096

// Shmat implements shmat(2).
func Shmat(c *kernel.Task) (int64, error) {
	id, addr, flags := ArgInt(c, 0), c.Args[1], ArgInt(c, 2)
	if addr != 0 {
		if addr&(shmlba-1) != 0 {
			if flags&linux.SHM_RND == 0 {
				return 0, unix.EINVAL
			}
			if addr&^(shmlba-1) == 0 && flags&linux.SHM_REMAP != 0 {
				return 0, unix.EINVAL
			}
		}
	} else if flags&linux.SHM_REMAP != 0 {
		return 0, unix.EINVAL
	}
	if id < 0 {
		return 0, unix.EINVAL
	}
	at, err := c.Kernel.IPC.ShmAttach(ipcCaller(c), id, flags)
	if err != nil {
		return 0, err
	}
	f, st, err := segmentFile(c, at.File, at.Size)
	if err != nil {
		c.Kernel.Log.Warn("shmat: cannot open the segment's file", "shmid", id, "err", err)
		if gone, _ := c.Kernel.IPC.ShmAdjust(c.PID(), id, -1); gone != "" {
			c.Kernel.RemoveSegmentFiles([]string{gone})
		}
		return 0, unix.ENOMEM
	}
	fid, gen := c.Kernel.Maps.Add(f, kernel.MappedKey(st), true)
	c.Reply.Action = &sentrypb.Reply_ShmAttach{ShmAttach: &sentrypb.ShmAttachPlan{
		FileId: fid, Size: st.Size, Shmid: id, Key: at.Key, Readonly: flags&linux.SHM_RDONLY != 0, FileGen: gen}}
	return 0, nil
}

// Shmdt is sent by the client, never as the application made it: the
// client detaches (shmdt) or otherwise changes (munmap, mremap, mprotect,
// a mapping placed over one) the mappings of a segment in its address
// space itself, then reports args[1], the segment's id (the client knows
// it from ShmAttachPlan), and args[2], the change of the calling
// process's count of that segment's mappings (an int64); a change of 0
// asks whether the segment may still be mapped (sysvipc's ShmAdjust),
// for remap_file_pages.
// Shmdt implements shmdt(2).
func Shmdt(c *kernel.Task) (int64, error) {
	delta := int64(c.Args[2])
	if delta < -math.MaxInt32 || delta > math.MaxInt32 {
		return 0, unix.EINVAL
	}
	gone, err := c.Kernel.IPC.ShmAdjust(c.PID(), ArgInt(c, 1), int(delta))
	if err != nil {
		return 0, err
	}
	if gone != "" {
		c.Kernel.RemoveSegmentFiles([]string{gone})
	}
	return 0, nil
}

// Shmctl implements shmctl(2).
func Shmctl(c *kernel.Task) (int64, error) {
	id, cmd, arg := ArgInt(c, 0), ArgInt(c, 1)&^ipc64Flag, c.Args[2]
	r := c.Kernel.IPC
	return ipcCtl[linux.ShmidDS, *linux.ShmidDS]{
		stats: [3]int32{linux.IPC_STAT, linux.SHM_STAT, 15 /* SHM_STAT_ANY */},
		remove: func(caller sysvipc.Caller, id int32) error {
			gone, err := r.ShmRemove(caller, id)
			if gone != "" {
				c.Kernel.RemoveSegmentFiles([]string{gone})
			}
			return err
		},
		set:  r.ShmSet,
		stat: r.ShmStat,
		info: func(cmd int32) (marshal.Marshallable, int32, bool) {
			switch cmd {
			case linux.IPC_INFO:
				p, hi := r.ShmParams()
				return &p, hi, true
			case linux.SHM_INFO:
				info, hi := r.ShmInfo()
				return &info, hi, true
			}
			return nil, 0, false
		},
		own: func(caller sysvipc.Caller) (int64, error) {
			if cmd != linux.SHM_LOCK && cmd != linux.SHM_UNLOCK {
				return 0, unix.EINVAL
			}
			return 0, r.ShmLock(caller, id, cmd == linux.SHM_LOCK)
		},
	}.run(c, id, cmd, arg)
}

// segmentFile opens (making it on first attach, owned by root, mode
// 0600: only the sentry opens it) the file of a segment in the client's
// /dev/shm directory, sized to whole pages as the segment's memory is.
func segmentFile(c *kernel.Task, name string, size uint64) (*fdesc.File, *goferpb.Stat, error) {
	c.Kernel.SegFileMu.Lock()
	defer c.Kernel.SegFileMu.Unlock()
	v := c.Kernel.VFS
	dir, err := v.ShmDentry()
	if err != nil {
		return nil, nil, err
	}
	want := (size + shmlba - 1) &^ (shmlba - 1)
	var f *fdesc.File
	d, err := v.LookupChild(c, dir, name)
	switch {
	case err == nil:
		h, fh, err := v.HandleForOpen(d)
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := v.RPCCtx()
		r, err := c.Kernel.Gofer.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: unix.O_RDWR})
		cancel()
		if err := syserr.FromGofer("open "+name, r.GetErrno(), err); err != nil {
			c.Kernel.Releases.Release([]uint64{h})
			return nil, nil, err
		}
		f = vfs.NewFile(vfs.NewGoferFile(v, h, fh, nil), d, unix.O_RDWR)
	case syserr.ErrnoOf(err) == unix.ENOENT:
		dh, err := c.HandleOf(dir)
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := v.RPCCtx()
		seen := v.RemovalsSeen()
		r, err := c.Kernel.Gofer.Create(ctx, &goferpb.CreateRequest{Dir: dh, Name: []byte(name), Flags: unix.O_RDWR, Mode: 0600, Origin: c.GoferOrigin(segmentCreatePart)})
		cancel()
		if err := syserr.FromGofer("create "+name, r.GetErrno(), err); err != nil {
			return nil, nil, err
		}
		if r.Handle == nil || r.Stat == nil {
			return nil, nil, unix.EIO
		}
		d = v.InsertChild(dir, name, 0, r.Handle.FileHandle, r.Stat, seen)
		f = vfs.NewFile(vfs.NewGoferFile(v, r.Handle.Id, r.Handle.FileHandle, nil), d, unix.O_RDWR)
	default:
		return nil, nil, err
	}
	st, err := f.Impl.(*vfs.GoferFile).Stat(c)
	if err == nil && st.Size < want {
		if err = SetStat(c, nil, f, &goferpb.SetStatRequest{Mask: linux.STATX_SIZE, Size: want}); err == nil {
			st, err = f.Impl.(*vfs.GoferFile).Stat(c)
		}
	}
	if err != nil {
		f.DecRef()
		return nil, nil, err
	}
	return f, st, nil
}
