package kernel

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/devpts"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/replay"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// This file reports the replay state (sentry.proto's Recovery section):
// code that changes an object the client must be able to rebuild touches
// it (kernel.Tracker.Changed, over a replay.Tracker); whenever a message is
// sent to the client, the touched objects' current values are turned
// into StateRecords (deriveRecordLocked, the one place that knows each
// object's record) carried by that message (a Reply's state, or a StateUpdate push sent
// just before any other push). Records are built under clientStream.sendMu,
// so every change is reported no later than the first message sent after
// it, and never after a message that could reveal it to the application.
//
// Pipe, AF_UNIX connection and eventfd I/O and gofer writes are
// different: their effects are recorded per call (CallEffects) and
// committed when that call's own reply is built, so the reported counters
// and the WriteStates never include a call whose reply the client has not
// got (a re-sent in-flight call must not be applied
// twice).

// Lazily assigned ids. f.id is atomic (read outside k.Mu by the
// durability tracker); the others are protected by k.Mu (FSContext,
// SigTable, fdtable.Table) or pipe.mu.
func (k *Kernel) FileID(f *fdesc.File) uint64 {
	if id := f.ID.Load(); id != 0 {
		return id
	}
	if id := k.Trk.NewID(); f.ID.CompareAndSwap(0, id) {
		return id
	}
	return f.ID.Load()
}

func (k *Kernel) fsIDLocked(fs *FSContext) uint64 {
	if fs == nil {
		return 0
	}
	if fs.ID == 0 {
		fs.ID = k.Trk.NewID()
	}
	return fs.ID
}

func (k *Kernel) sigIDLocked(h *ksignal.Handlers) uint64 {
	if h == nil {
		return 0
	}
	if h.ID == 0 {
		h.ID = k.Trk.NewID()
	}
	return h.ID
}

// pipeIDLocked returns p's id. Precondition: p's mu is held.
func (k *Kernel) pipeIDLocked(p *Pipe) uint64 {
	return p.IDLocked(k.Trk.NewID)
}

// replayCollection is the records of one message being built.
type replayCollection = replay.Collection[*CallEffects]

// collectStateLocked turns the touched objects (and, for a reply, the
// effects of call seq) into records. Preconditions: the stream's sendMu and k.Mu are
// held.
func (k *Kernel) collectStateLocked(replySeq uint64, isReply bool) []*sentrypb.StateRecord {
	return k.deriveLocked(k.Trk.Take(replySeq, isReply))
}

// collectEffectsLocked turns the effects of call seq alone into records:
// those of a posted reply held for a later message, which carries the
// touched objects' records (clientStream.sendRawLocked). Preconditions:
// as collectStateLocked.
func (k *Kernel) collectEffectsLocked(seq uint64) []*sentrypb.StateRecord {
	return k.deriveLocked(k.Trk.TakeEffects(seq))
}

// deriveLocked commits c's effects and derives its records (none if c
// is nil). Preconditions: as collectStateLocked.
func (k *Kernel) deriveLocked(c *replayCollection) []*sentrypb.StateRecord {
	if c == nil {
		return nil
	}
	if c.HasEffects {
		k.commitEffectsLocked(c, c.Effects)
	}
	return c.Derive(func(c *replayCollection, order replay.Order, obj any) *sentrypb.StateRecord {
		return k.deriveRecordLocked(c, order, obj)
	}, func() *sentrypb.StateRecord {
		return &sentrypb.StateRecord{Key: statekey.IDs().String(), Value: &sentrypb.StateRecord_Ids{Ids: &sentrypb.IdState{
			NextObject: k.Trk.ReserveIDs(), LastPid: k.LastTID}}}
	})
}

// commitEffectsLocked commits the effects of call c.ReplySeq as its reply
// is built: their records go in c, and the objects they changed are
// touched on c. Preconditions: as collectStateLocked.
func (k *Kernel) commitEffectsLocked(c *replayCollection, eff *CallEffects) {
	if eff == nil {
		return
	}
	replySeq := c.ReplySeq
	for _, o := range eff.Offsets {
		if commitOffset(o) && o.File.Tracker() != nil {
			c.Touch(OrderFile, o.File)
		}
	}
	for _, r := range eff.PipeReads {
		r.Pipe.Lock()
		r.Pipe.CommitReadLocked(r.N)
		r.Pipe.Unlock()
		c.Touch(OrderPipe, PipeRef{Pipe: r.Pipe})
	}
	for _, w := range eff.PipeWrites {
		w.Pipe.Lock()
		w.Pipe.CommitWrittenLocked(w.N)
		pid := k.pipeIDLocked(w.Pipe)
		w.Pipe.Unlock()
		c.Touch(OrderPipe, PipeRef{Pipe: w.Pipe})
		c.Touch(OrderFile, w.File)
		c.Add(&sentrypb.StateRecord{Key: statekey.Write(replySeq).String(), Value: &sentrypb.StateRecord_Write{Write: &sentrypb.WriteState{
			Seq: replySeq, File: k.FileID(w.File), Offset: int64(w.Off), Length: w.N, Pipe: pid, Data: w.Data}}})
	}
	for _, p := range eff.Reaped {
		for _, o := range k.UnlinkReapedLocked(p) {
			if order, ok := o.ReplayOrder(); ok {
				c.Touch(order, o)
			}
		}
	}
	if eff.Sysv {
		if key, ok := k.IPC.Commit(replySeq); ok {
			c.Touch(OrderSysv, SysvKey(key))
		}
	}
	if eff.Mqueue {
		if key, ok := k.MQ.Commit(replySeq); ok {
			c.Touch(OrderMqueue, MqueueKey(key))
		}
	}
	// Write-behind errors the call reported (posted.go) are gone from
	// its reply on.
	for _, ino := range eff.WBErrInos {
		c.Touch(OrderWBErr, WBErrIno(ino))
	}
	for _, f := range eff.WBErrFiles {
		if f.Tracker() != nil {
			c.Touch(OrderFile, f)
		}
	}
	for _, io := range eff.ConnIO {
		io.Conn.Mu.Lock()
		io.Conn.CommitLocked(io.Side, io.Sent, io.N)
		f := io.Conn.Files[unixsock.InboxOf(io.Side, io.Sent)]
		io.Conn.Mu.Unlock()
		if f != nil && f.Tracker() != nil {
			c.Touch(OrderFile, f)
		}
	}
	for _, ch := range eff.Eventfds {
		ch.E.Commit(ch.Added, ch.V)
		if ch.F.Tracker() != nil {
			c.Touch(OrderFile, ch.F)
		}
	}
	for _, ch := range eff.Netlink {
		ch.N.Commit(ch.D, ch.Queued)
		if ch.F.Tracker() != nil {
			c.Touch(OrderFile, ch.F)
		}
	}
	if eff.StdinRead > 0 {
		in := eff.StdinOf
		if in == nil {
			in = &k.Stdin
		}
		read := in.CommitRead(eff.StdinRead)
		c.Add(&sentrypb.StateRecord{Key: statekey.Stdin(eff.StdinSet).String(), Value: &sentrypb.StateRecord_Stdin{Stdin: &sentrypb.StdinState{Read: read, StdioSet: eff.StdinSet}}})
	}
	for _, w := range eff.Writes {
		c.Touch(OrderFile, w.File)
		c.Add(&sentrypb.StateRecord{Key: statekey.Write(replySeq).String(), Value: &sentrypb.StateRecord_Write{Write: &sentrypb.WriteState{
			Seq: replySeq, File: k.FileID(w.File), Offset: w.Off, Length: w.N, MappedFile: w.Mapped, Data: w.Data}}})
		k.Dur.MarkSent(w.File, replySeq)
	}
}

// commitOffset makes o the offset o.File's record reports, unless a
// later change of it was committed already, and says whether it did.
// Preconditions: as collectStateLocked.
func commitOffset(o OffChange) bool {
	if o.Ver <= o.File.OffCommitted {
		return false
	}
	o.File.OffCommitted = o.Ver
	o.File.OffRep.Store(o.Off)
	return true
}

// deriveRecordLocked is the one place that turns a touched object into
// its record (replay.Deriver). Preconditions: as collectStateLocked.
func (k *Kernel) deriveRecordLocked(c *replayCollection, order replay.Order, obj any) *sentrypb.StateRecord {
	switch o := obj.(type) {
	case DeletedKey:
		return DeletedRec(statekey.Key(o))
	case SysvKey:
		return k.IPC.Record(statekey.Key(o))
	case MqueueKey:
		return k.MQ.Record(statekey.Key(o))
	case *Process:
		return k.procRecordLocked(o)
	case *Thread:
		return k.threadRecordLocked(o)
	case FDSlot:
		return k.slotRecordLocked(c, o)
	case *FSContext:
		return k.fsRecordLocked(o)
	case SigTable:
		return k.sigRecordLocked(o.Handlers)
	case *fdesc.File:
		return k.fileRecordLocked(c, o)
	case PipeRef:
		return k.pipeRecord(o.Pipe)
	case MappedID:
		return k.MappedRecord(uint64(o))
	case *AppTimer:
		return k.TimerRecordLocked(o)
	case LockedIno:
		return k.lockRecordLocked(uint64(o))
	case MountID:
		return k.VFS.Mounts.Record(int(o))
	case PtyIndex:
		return k.Ptys.Record(int(o))
	case WBErrIno:
		return k.WbErrs.Record(uint64(o))
	case SysctlValues:
		return k.sysctlRecord()
	}
	k.Log.Error("replay: a touched object of no known kind", "order", order, "type", fmt.Sprintf("%T", obj))
	return nil
}

func (k *Kernel) threadRecordLocked(th *Thread) *sentrypb.StateRecord {
	if th.Proc != nil {
		if _, live := th.Proc.Live[th]; live && k.Threads[th.TID] == th {
			ts := &sentrypb.ThreadState{Tid: th.TID, Pid: th.Proc.PID, PtraceDetachSeq: th.PtraceDetachSeq, Sched: th.Sched.proto(),
				TimerSlackNs: th.TimerSlack.proto(th.TimerSlack.Current), DefaultTimerSlackNs: th.TimerSlack.proto(th.TimerSlack.Default),
				Io: k.identityIDLocked(th.IO), Sysvsem: k.identityIDLocked(th.SemUndo)}
			if th.Ptrace != nil {
				ts.Ptrace = th.Ptrace.Proto(th.Ptrace.Tracer.TID)
			}
			return &sentrypb.StateRecord{Key: statekey.Thread(th.TID).String(), Value: &sentrypb.StateRecord_Thread{Thread: ts}}
		}
	}
	return DeletedRec(statekey.Thread(th.TID))
}

func (k *Kernel) fsRecordLocked(fs *FSContext) *sentrypb.StateRecord {
	id := k.fsIDLocked(fs)
	if fs.Refs <= 0 {
		return DeletedRec(statekey.FS(id))
	}
	st := &sentrypb.FsState{Id: id, Umask: fs.Umask, Cwd: []byte("/"), MntNs: fs.MntNS}
	if fs.Cwd != nil {
		path, _ := k.VFS.PathOf(fs.Cwd)
		st.Cwd = []byte(path)
		st.CwdHandle = k.VFS.FileHandleOf(fs.Cwd)
	}
	if fs.Root != nil {
		// Carried as the cwd is: a restored server finds it by its
		// handle, else by its path.
		path, _ := k.VFS.PathOf(fs.Root)
		st.Root = []byte(path)
		st.RootHandle = k.VFS.FileHandleOf(fs.Root)
	}
	return &sentrypb.StateRecord{Key: statekey.FS(id).String(), Value: &sentrypb.StateRecord_Fs{Fs: st}}
}

func (k *Kernel) sigRecordLocked(h *ksignal.Handlers) *sentrypb.StateRecord {
	id := k.sigIDLocked(h)
	if !k.sigLiveLocked(h) {
		return DeletedRec(statekey.Sighand(id))
	}
	acts := make([]byte, 0, ksignal.NumSignals*ksignal.SizeofSigaction)
	for sig := 1; sig <= ksignal.NumSignals; sig++ {
		acts = append(acts, h.Act[sig].Bytes()...)
	}
	return &sentrypb.StateRecord{Key: statekey.Sighand(id).String(), Value: &sentrypb.StateRecord_Sighand{Sighand: &sentrypb.SigHandState{Id: id, Actions: acts}}}
}

func (k *Kernel) pipeRecord(p *Pipe) *sentrypb.StateRecord {
	p.Lock()
	st, live := p.StateLocked(k.pipeIDLocked(p))
	id := st.Id
	p.Unlock()
	if !live {
		return DeletedRec(statekey.Pipe(id))
	}
	return &sentrypb.StateRecord{Key: statekey.Pipe(id).String(), Value: &sentrypb.StateRecord_Pipe{Pipe: st}}
}

func (k *Kernel) procRecordLocked(p *Process) *sentrypb.StateRecord {
	if k.Procs[p.PID] != p {
		return DeletedRec(statekey.Proc(p.PID))
	}
	st := &sentrypb.ProcessState{
		Pid: p.PID, Gen: p.Gen, Pgid: p.PGID, Sid: p.SID, ExitSignal: int32(p.ExitSignal),
		Ruid: p.Creds.RUID, Euid: p.Creds.EUID, Suid: p.Creds.SUID,
		Rgid: p.Creds.RGID, Egid: p.Creds.EGID, Sgid: p.Creds.SGID,
		Comm: []byte(p.Comm), Argv: sentrypb.BytesList(p.Argv), Env: sentrypb.BytesList(p.Env), Zombie: p.Zombie, ExitStatus: p.ExitStatus, Init: p == k.Init,
		Groups: p.Creds.Groups, FsizeLimited: p.FsizeLimited, FsizeLimit: p.FsizeLimit, CoreDumps: p.CoreDumps,
		CoredumpFilter: p.CoredumpFilter, OomScoreAdj: p.OOMScoreAdj, OomScoreAdjMin: p.OOMScoreAdjMin,
		PdeathSignal: int32(p.PdeathSignal), ChildSubreaper: p.ChildSubreaper,
		NiceLimit: p.NiceLimit, RtprioLimit: p.RTPrioLimit,
		Execed: p.Execed, Caps: CapsProto(p.Creds.Caps),
		Stopped: p.Stopped, StopSignal: int32(p.StopSig), WaitCode: p.WaitCode,
		TtyForegroundPgrp: k.TTYForegroundLocked(p),
	}
	if p.Creds.FSUID != p.Creds.EUID {
		st.Fsuid = proto.Uint32(p.Creds.FSUID)
	}
	if p.Creds.FSGID != p.Creds.EGID {
		st.Fsgid = proto.Uint32(p.Creds.FSGID)
	}
	if p.Parent != nil {
		st.Ppid = p.Parent.PID
	}
	if !p.Zombie {
		if p.FDs != nil {
			st.FdTable = k.fdTableIDLocked(p.FDs)
			st.Nofile = uint32(p.FDs.Limit())
			st.FdRoom = uint32(p.FDs.Room())
		}
		st.Fs = k.fsIDLocked(p.FS)
		st.Sighand = k.sigIDLocked(p.Sig)
		st.Vm = k.identityIDLocked(p.VM)
	}
	if p.Exe != nil {
		path, _ := k.VFS.PathOf(p.Exe)
		st.Exe = []byte(path)
	}
	return &sentrypb.StateRecord{Key: statekey.Proc(p.PID).String(), Value: &sentrypb.StateRecord_Process{Process: st}}
}

func (k *Kernel) fdTableIDLocked(tab *fdtable.Table) uint64 {
	if tab.ID() == 0 {
		tab.SetID(k.Trk.NewID())
	}
	return tab.ID()
}

func (k *Kernel) slotRecordLocked(c *replayCollection, s FDSlot) *sentrypb.StateRecord {
	tid := k.fdTableIDLocked(s.Table)
	key := statekey.FD(tid, s.FD)
	if !s.Table.Live() {
		return DeletedRec(key)
	}
	e := s.Table.Entry(s.FD)
	if e.File == nil {
		return DeletedRec(key)
	}
	return &sentrypb.StateRecord{Key: key.String(), Value: &sentrypb.StateRecord_Fd{Fd: &sentrypb.FdState{
		FdTable: tid, Fd: s.FD, File: k.fileRefLocked(c, e.File), Cloexec: e.Cloexec, Seq: e.Seq}}}
}

// fileRefLocked is the id of f as a record being derived in c names it,
// with f's own record brought along (touched on c) if it never went out:
// a Restore refuses a record naming a description it lacks. Whether
// f has an id does not say: a posted open's reply or a lease assigns one
// before the install's fd record is derived, and a message derived
// meanwhile (another thread's reply, a push) would carry the fd's record
// without the description's ("restore: fd 3 of table 3156 names table or
// file 3449 that is not restored", once in a chaos cat-ahead run).
func (k *Kernel) fileRefLocked(c *replayCollection, f *fdesc.File) uint64 {
	if !f.Recorded.Load() {
		c.Touch(OrderFile, f)
	}
	return k.FileID(f)
}

// sigLiveLocked reports whether a process still uses h.
func (k *Kernel) sigLiveLocked(h *ksignal.Handlers) bool {
	for _, p := range k.Procs {
		if p.Sig == h && !p.Zombie {
			return true
		}
	}
	return false
}

// inoWithoutHandle is the inode number the client knows a gofer file by
// (FileState.ino) when the gofer gave it no file handle fh (do's
// overlay), from its dentry d; 0 otherwise.
func inoWithoutHandle(fh []byte, d *vfs.Dentry) uint64 {
	if len(fh) > 0 || d == nil {
		return 0
	}
	return d.Ino()
}

// FileIno is the inode number a FileState record of a description of a
// gofer file at dentry d carries (FileState.ino, a lease ahead's
// ReadLease.ino): the gofer's, which a server restart keeps, so the
// client tells by it which file a posted write is to; 0 without a
// dentry.
func FileIno(d *vfs.Dentry) uint64 {
	if d == nil {
		return 0
	}
	return d.Ino()
}

// fileDev is the device of FileIno(d), as the gofer reported it
// (FileState.dev); 0 without a dentry.
func fileDev(d *vfs.Dentry) uint64 {
	if d == nil {
		return 0
	}
	return d.GoferDev()
}

// fileRecordLocked describes open file description f.
func (k *Kernel) fileRecordLocked(c *replayCollection, f *fdesc.File) *sentrypb.StateRecord {
	id := k.FileID(f)
	if f.Released() {
		return DeletedRec(statekey.File(id))
	}
	f.Recorded.Store(true)
	st := &sentrypb.FileState{Id: id, Flags: f.Flags.Load(), Offset: f.OffRep.Load(), WriteError: f.WBErr.Load()}
	k.recordAsync(f, st)
	if vfs.DentryOf(f) != nil {
		path, _ := k.VFS.PathOf(vfs.DentryOf(f))
		st.Path = []byte(path)
	}
	switch impl := f.Impl.(type) {
	case *vfs.GoferFile:
		st.Kind, st.FileHandle = sentrypb.FileState_GOFER, impl.FH
		st.Regular = vfs.IsRegularFile(f)
		if impl.Memfd != nil {
			// No path: a memfd is found again by its handle only.
			st.Path, st.Memfd = nil, impl.Memfd.State()
		}
		st.Ino, st.Dev = FileIno(vfs.DentryOf(f)), fileDev(vfs.DentryOf(f))
	case *vfs.GoferDir:
		st.Kind, st.FileHandle = sentrypb.FileState_GOFER, impl.FH
	case *vfs.LostFile:
		st.Kind, st.FileHandle, st.Path = sentrypb.FileState_GOFER, impl.FH, []byte(impl.Path)
	case *PipeEnd:
		// A FIFO end that reads and writes is PIPE_READ with O_RDWR in
		// flags.
		st.Kind = sentrypb.FileState_PIPE_READ
		if !impl.Reads {
			st.Kind = sentrypb.FileState_PIPE_WRITE
		}
		impl.P.Lock()
		st.Pipe = k.pipeIDLocked(impl.P)
		impl.P.Unlock()
		c.Touch(OrderPipe, PipeRef{Pipe: impl.P})
	case *StdioFile:
		st.Kind, st.StdioStream, st.StdioSet = sentrypb.FileState_STDIO, impl.Fd, impl.Set
	case *devpts.File:
		st.Kind, st.PtyIndex, st.PtyMaster = sentrypb.FileState_PTY, int32(impl.Terminal().Index), impl.Master()
		c.Touch(OrderPty, PtyIndex(impl.Terminal().Index))
	case *vfs.DevFile:
		st.Kind, st.DevNull = sentrypb.FileState_SYNTHETIC, impl.Kind == vfs.DevNull
	case *vfs.PathFile:
		st.Kind = sentrypb.FileState_SYNTHETIC
		if impl.D.Kind == vfs.KindGofer {
			st.Kind = sentrypb.FileState_GOFER
			st.FileHandle = k.VFS.FileHandleOf(impl.D)
		}
	default:
		st.Kind = sentrypb.FileState_SYNTHETIC
		if kind, kobj, ok := k.kobjState(c, f); ok {
			st.Kind, st.Kobj = kind, kobj
		}
	}
	if d := vfs.DentryOf(f); st.Kind == sentrypb.FileState_SYNTHETIC && d != nil && d.Kind == vfs.KindProcPid {
		st.ProcGen = d.Gen
	}
	return &sentrypb.StateRecord{Key: statekey.File(id).String(), Value: &sentrypb.StateRecord_File{File: st}}
}

// RecordsSince returns the replay records changed since the last message
// sent (with call seq's effects when reply), bound to the client: what
// its stream attaches to the next message (clientStream.records).
// Precondition: the stream's sendMu is held, which orders the records
// with the messages; k.Mu is not.
func (k *Kernel) RecordsSince(seq uint64, reply bool) []*sentrypb.StateRecord {
	k.Mu.Lock()
	recs := k.collectStateLocked(seq, reply)
	k.Mu.Unlock()
	k.Binder.BindRecords(recs)
	return recs
}

// EffectRecords returns the records of call seq's effects alone, bound
// to the client: what a held posted reply carries
// (clientStream.effectRecords). Precondition: as recordsSince.
func (k *Kernel) EffectRecords(seq uint64) []*sentrypb.StateRecord {
	k.Mu.Lock()
	recs := k.collectEffectsLocked(seq)
	k.Mu.Unlock()
	k.Binder.BindRecords(recs)
	return recs
}

// sigActionsBytes parses SigHandState.actions.
func parseSigActions(b []byte, h *ksignal.Handlers) bool {
	if len(b) != ksignal.NumSignals*ksignal.SizeofSigaction {
		return false
	}
	for sig := 1; sig <= ksignal.NumSignals; sig++ {
		h.Act[sig] = ksignal.ParseAction(b[(sig-1)*ksignal.SizeofSigaction:])
	}
	return true
}

// lockRecordLocked describes ino's locks. Preconditions: Kernel.Mu
// is held (for the ids of fd tables).
func (k *Kernel) lockRecordLocked(ino uint64) *sentrypb.StateRecord {
	record, flocks, ok := k.Locks.Locks(ino)
	if !ok {
		return DeletedRec(statekey.Lock(ino))
	}
	st := &sentrypb.LockState{Ino: ino}
	add := func(l filelock.Held[*fdtable.Table, *fdesc.File], flock bool) {
		hl := &sentrypb.HeldLock{Flock: flock, Write: l.Write, Start: l.Start, End: l.End, Pid: l.Pid}
		if l.Owner.Table != nil {
			hl.FdTable = k.fdTableIDLocked(l.Owner.Table)
		} else {
			hl.File = k.FileID(l.Owner.File)
		}
		st.Locks = append(st.Locks, hl)
	}
	for _, l := range record {
		add(l, false)
	}
	for _, l := range flocks {
		add(l, true)
	}
	return &sentrypb.StateRecord{Key: statekey.Lock(ino).String(), Value: &sentrypb.StateRecord_Lock{Lock: st}}
}
