package server

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// This file reports the replay state (sentry.proto's Recovery section):
// code that changes an object the client must be able to rebuild marks it
// dirty in the client's stateTracker; whenever a message is sent to the
// client, the dirty objects' current values are turned into StateRecords
// carried by that message (a Reply's state, or a StateUpdate push sent
// just before any other push). Records are built under clientState.sendMu,
// so every change is reported no later than the first message sent after
// it, and never after a message that could reveal it to the application.
//
// Pipe I/O and gofer writes are different: their effects are recorded per
// call (callEffects) and committed when that call's own reply is built, so
// the pipe's reported counters and the WriteStates never include a call
// whose reply the client has not got (a re-sent in-flight call must not
// be applied twice).

// fdSlot names one fd of one table.
type fdSlot struct {
	tab *fdTable
	fd  int32
}

// stateTracker collects the objects whose replay state changed.
type stateTracker struct {
	// lastID allocates object ids (files, fd tables, fs contexts, signal
	// handler tables, pipes). Ids are assigned on first report.
	lastID atomic.Uint64

	// mu protects the sets below. It is a leaf lock.
	mu      sync.Mutex
	procs   map[*process]struct{}
	threads map[*thread]struct{}
	slots   map[fdSlot]struct{}
	files   map[*file]struct{}
	fss     map[*fsContext]struct{}
	sigs    map[*sigHandlers]struct{}
	pipes   map[*pipe]struct{}
	maps    map[uint64]struct{}
	timers  map[*appTimer]struct{}
	// locks are the inode numbers whose locks changed.
	locks map[uint64]struct{}
	// sysv are the keys of changed SysV IPC records (package sysvipc).
	sysv map[string]struct{}
	// mounts are the ids of mounts added, changed or removed.
	mounts  map[int]struct{}
	deleted map[string]struct{}
	ids     bool
	// effects are the uncommitted effects of calls, by seq.
	effects map[uint64]*callEffects
}

func newStateTracker() *stateTracker {
	t := &stateTracker{}
	t.reset()
	t.effects = make(map[uint64]*callEffects)
	return t
}

// reset empties the dirty sets. Precondition: mu is held or t is private.
func (t *stateTracker) reset() {
	t.procs = make(map[*process]struct{})
	t.threads = make(map[*thread]struct{})
	t.slots = make(map[fdSlot]struct{})
	t.files = make(map[*file]struct{})
	t.fss = make(map[*fsContext]struct{})
	t.sigs = make(map[*sigHandlers]struct{})
	t.pipes = make(map[*pipe]struct{})
	t.maps = make(map[uint64]struct{})
	t.timers = make(map[*appTimer]struct{})
	t.locks = make(map[uint64]struct{})
	t.sysv = make(map[string]struct{})
	t.mounts = make(map[int]struct{})
	t.deleted = make(map[string]struct{})
	t.ids = false
}

func (t *stateTracker) newID() uint64 { return t.lastID.Add(1) }

// bumpID makes later ids greater than id.
func (t *stateTracker) bumpID(id uint64) {
	for {
		cur := t.lastID.Load()
		if cur >= id || t.lastID.CompareAndSwap(cur, id) {
			return
		}
	}
}

func (t *stateTracker) markProc(p *process) {
	if t == nil || p == nil {
		return
	}
	t.mu.Lock()
	t.procs[p] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markThread(th *thread) {
	if t == nil || th == nil {
		return
	}
	t.mu.Lock()
	t.threads[th] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markSlot(tab *fdTable, fd int32) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.slots[fdSlot{tab, fd}] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markFile(f *file) {
	if t == nil || f == nil {
		return
	}
	t.mu.Lock()
	t.files[f] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markFS(fs *fsContext) {
	if t == nil || fs == nil {
		return
	}
	t.mu.Lock()
	t.fss[fs] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markSig(h *sigHandlers) {
	if t == nil || h == nil {
		return
	}
	t.mu.Lock()
	t.sigs[h] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markPipe(p *pipe) {
	if t == nil || p == nil {
		return
	}
	t.mu.Lock()
	t.pipes[p] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markMap(id uint64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.maps[id] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markTimer(tm *appTimer) {
	if t == nil || tm == nil {
		return
	}
	t.mu.Lock()
	t.timers[tm] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markLocks(ino uint64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.locks[ino] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markSysv(key string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.sysv[key] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markMount(id int) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.mounts[id] = struct{}{}
	t.mu.Unlock()
}

func (t *stateTracker) markIDs() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.ids = true
	t.mu.Unlock()
}

func (t *stateTracker) markDeleted(key string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.deleted[key] = struct{}{}
	t.mu.Unlock()
}

// callEffects are the effects of one call committed with its reply.
type callEffects struct {
	offsets    []offChange
	pipeReads  []pipeIO
	pipeWrites []pipeIO
	writes     []goferWrite
	// stdinRead is how many bytes of the client's stdin the call read,
	// from stdio set stdinSet (buffer stdinOf; nil: set 0's).
	stdinRead uint64
	stdinSet  uint32
	stdinOf   *stdinState
	// sysv says the call left a SysV IPC effect pending (semop, msgsnd,
	// msgrcv) that its reply commits (sysvipc.Registry.Commit).
	sysv bool
}

// pipeIO is n bytes read from or written to p (through file f, at stream
// position off for a write).
type pipeIO struct {
	p   *pipe
	f   *file
	off uint64
	n   uint64
	// data are the bytes of a write whose call did not carry them (see
	// syscallCtx.dataNotInCall), else nil.
	data []byte
}

// offChange is a file's offset after change ver.
type offChange struct {
	f   *file
	ver uint64
	off int64
}

// goferWrite is n bytes written at off of gofer file f.
type goferWrite struct {
	f   *file
	off int64
	n   uint64
	// mapped is the mapped file id of a PageWrite (0 for a system call).
	mapped uint64
	// data are the bytes when the call did not carry them (see
	// syscallCtx.dataNotInCall), else nil.
	data []byte
}

func (c *syscallCtx) effects() *callEffects {
	if c.eff == nil {
		c.eff = &callEffects{}
	}
	return c.eff
}

func (t *stateTracker) setEffects(seq uint64, e *callEffects) {
	t.mu.Lock()
	t.effects[seq] = e
	t.mu.Unlock()
}

// Record keys.
func keyProc(pid int32) string   { return "proc/" + strconv.Itoa(int(pid)) }
func keyThread(tid int32) string { return "thread/" + strconv.Itoa(int(tid)) }
func keyFile(id uint64) string   { return "file/" + strconv.FormatUint(id, 10) }
func keyFS(id uint64) string     { return "fs/" + strconv.FormatUint(id, 10) }
func keySig(id uint64) string    { return "sig/" + strconv.FormatUint(id, 10) }
func keyPipe(id uint64) string   { return "pipe/" + strconv.FormatUint(id, 10) }
func keyMap(id uint64) string    { return "map/" + strconv.FormatUint(id, 10) }
func keyWrite(seq uint64) string { return "write/" + strconv.FormatUint(seq, 10) }
func keyFD(tab uint64, fd int32) string {
	return "fdt/" + strconv.FormatUint(tab, 10) + "/" + strconv.Itoa(int(fd))
}

const (
	keyIDs   = "ids"
	keyStdin = "stdin"
)

func deletedRec(key string) *sentrypb.StateRecord {
	return &sentrypb.StateRecord{Key: key, Deleted: true}
}

// Lazily assigned ids. f.id is atomic (read outside k.mu by the
// durability tracker); the others are protected by k.mu (fsContext,
// sigHandlers, fdTable) or pipe.mu.
func (k *clientState) fileID(f *file) uint64 {
	if id := f.id.Load(); id != 0 {
		return id
	}
	id := k.trk.newID()
	if f.id.CompareAndSwap(0, id) {
		k.trk.markIDs()
		return id
	}
	return f.id.Load()
}

func (k *clientState) fsIDLocked(fs *fsContext) uint64 {
	if fs == nil {
		return 0
	}
	if fs.id == 0 {
		fs.id = k.trk.newID()
		k.trk.markIDs()
	}
	return fs.id
}

func (k *clientState) sigIDLocked(h *sigHandlers) uint64 {
	if h == nil {
		return 0
	}
	if h.id == 0 {
		h.id = k.trk.newID()
		k.trk.markIDs()
	}
	return h.id
}

// pipeIDLocked returns p's id. Precondition: p.mu is held.
func (k *clientState) pipeIDLocked(p *pipe) uint64 {
	if p.id == 0 {
		p.id = k.trk.newID()
		k.trk.markIDs()
	}
	return p.id
}

// collectStateLocked turns the dirty objects (and, for a reply, the
// effects of call seq) into records. Preconditions: k.sendMu and k.mu are
// held.
func (k *clientState) collectStateLocked(replySeq uint64, isReply bool) []*sentrypb.StateRecord {
	t := k.trk
	t.mu.Lock()
	var eff *callEffects
	if isReply {
		eff = t.effects[replySeq]
		delete(t.effects, replySeq)
	}
	empty := len(t.procs) == 0 && len(t.threads) == 0 && len(t.slots) == 0 && len(t.files) == 0 &&
		len(t.fss) == 0 && len(t.sigs) == 0 && len(t.pipes) == 0 && len(t.maps) == 0 && len(t.timers) == 0 &&
		len(t.locks) == 0 && len(t.sysv) == 0 && len(t.mounts) == 0 && len(t.deleted) == 0 && !t.ids
	if empty && eff == nil {
		t.mu.Unlock()
		return nil
	}
	procs, threads, slots, files, fss, sigs, pipes, maps, timers, deleted := t.procs, t.threads, t.slots, t.files, t.fss, t.sigs, t.pipes, t.maps, t.timers, t.deleted
	locks, sysv, mounts := t.locks, t.sysv, t.mounts
	idsDirty := t.ids
	t.reset()
	t.mu.Unlock()

	var recs []*sentrypb.StateRecord
	// Effects first: committing them dirties pipes.
	if eff != nil {
		for _, o := range eff.offsets {
			if o.ver > o.f.offCommitted {
				o.f.offCommitted = o.ver
				o.f.offRep.Store(o.off)
				if o.f.trk.Load() != nil {
					files[o.f] = struct{}{}
				}
			}
		}
		for _, r := range eff.pipeReads {
			r.p.mu.Lock()
			r.p.readC += r.n
			r.p.mu.Unlock()
			pipes[r.p] = struct{}{}
		}
		for _, w := range eff.pipeWrites {
			w.p.mu.Lock()
			w.p.writtenC += w.n
			pid := k.pipeIDLocked(w.p)
			w.p.mu.Unlock()
			pipes[w.p] = struct{}{}
			files[w.f] = struct{}{}
			recs = append(recs, &sentrypb.StateRecord{Key: keyWrite(replySeq), Value: &sentrypb.StateRecord_Write{Write: &sentrypb.WriteState{
				Seq: replySeq, File: k.fileID(w.f), Offset: int64(w.off), Length: w.n, Pipe: pid, Data: w.data}}})
		}
		if eff.sysv {
			if key := k.ipc.Commit(replySeq); key != "" {
				sysv[key] = struct{}{}
			}
		}
		if eff.stdinRead > 0 {
			in := eff.stdinOf
			if in == nil {
				in = &k.stdin
			}
			recs = append(recs, in.commitRead(eff.stdinSet, eff.stdinRead))
		}
		for _, w := range eff.writes {
			files[w.f] = struct{}{}
			recs = append(recs, &sentrypb.StateRecord{Key: keyWrite(replySeq), Value: &sentrypb.StateRecord_Write{Write: &sentrypb.WriteState{
				Seq: replySeq, File: k.fileID(w.f), Offset: w.off, Length: w.n, MappedFile: w.mapped, Data: w.data}}})
			k.dur.markSent(w.f, replySeq)
		}
	}
	for key := range deleted {
		recs = append(recs, deletedRec(key))
	}
	for p := range procs {
		recs = append(recs, k.procRecordLocked(p))
	}
	for th := range threads {
		if th.proc != nil {
			if _, live := th.proc.live[th]; live && k.threads[th.tid] == th {
				recs = append(recs, &sentrypb.StateRecord{Key: keyThread(th.tid), Value: &sentrypb.StateRecord_Thread{Thread: &sentrypb.ThreadState{Tid: th.tid, Pid: th.proc.pid}}})
				continue
			}
		}
		recs = append(recs, deletedRec(keyThread(th.tid)))
	}
	for s := range slots {
		recs = append(recs, k.slotRecordLocked(s, files))
	}
	for fs := range fss {
		id := k.fsIDLocked(fs)
		if fs.refs <= 0 {
			recs = append(recs, deletedRec(keyFS(id)))
			continue
		}
		st := &sentrypb.FsState{Id: id, Umask: fs.umask, Cwd: "/"}
		if fs.cwd != nil {
			st.Cwd, _ = k.vfs.pathOf(fs.cwd)
			st.CwdHandle = k.vfs.fileHandleOf(fs.cwd)
		}
		recs = append(recs, &sentrypb.StateRecord{Key: keyFS(id), Value: &sentrypb.StateRecord_Fs{Fs: st}})
	}
	for h := range sigs {
		id := k.sigIDLocked(h)
		if !k.sigLiveLocked(h) {
			recs = append(recs, deletedRec(keySig(id)))
			continue
		}
		acts := make([]byte, 0, numSignals*sizeofSigaction)
		for sig := 1; sig <= numSignals; sig++ {
			acts = append(acts, h.act[sig].bytes()...)
		}
		recs = append(recs, &sentrypb.StateRecord{Key: keySig(id), Value: &sentrypb.StateRecord_Sighand{Sighand: &sentrypb.SigHandState{Id: id, Actions: acts}}})
	}
	for f := range files {
		recs = append(recs, k.fileRecordLocked(f, pipes))
	}
	for p := range pipes {
		p.mu.Lock()
		id := k.pipeIDLocked(p)
		live := p.readers+p.writers > 0
		st := &sentrypb.PipeState{Id: id, Written: p.writtenC, Read: p.readC, Capacity: uint32(p.capacity)}
		p.mu.Unlock()
		if !live {
			recs = append(recs, deletedRec(keyPipe(id)))
			continue
		}
		recs = append(recs, &sentrypb.StateRecord{Key: keyPipe(id), Value: &sentrypb.StateRecord_Pipe{Pipe: st}})
	}
	for id := range maps {
		recs = append(recs, k.maps.record(k, id))
	}
	for tm := range timers {
		recs = append(recs, k.timerRecordLocked(tm))
	}
	for ino := range locks {
		recs = append(recs, k.lockRecordLocked(ino))
	}
	for key := range sysv {
		recs = append(recs, k.ipc.Record(key))
	}
	for id := range mounts {
		recs = append(recs, k.vfs.mounts.Record(id))
	}
	// Building may have assigned ids.
	t.mu.Lock()
	idsDirty = idsDirty || t.ids
	t.ids = false
	t.mu.Unlock()
	if idsDirty {
		recs = append(recs, &sentrypb.StateRecord{Key: keyIDs, Value: &sentrypb.StateRecord_Ids{Ids: &sentrypb.IdState{
			NextObject: t.lastID.Load() + 1, LastPid: k.lastTID}}})
	}
	// Deterministic order helps tests and debugging; deletions of a key and
	// its new value never share a message (a key is deleted only when the
	// object is gone).
	sort.SliceStable(recs, func(i, j int) bool { return recKind(recs[i].Key) < recKind(recs[j].Key) })
	return recs
}

// recKind orders records so that a reader folding them sees objects before
// the records naming them (not required by the protocol: the client
// folds a whole message before using it).
func recKind(key string) int {
	switch {
	case len(key) >= 5 && key[:5] == "pipe/":
		return 0
	case len(key) >= 5 && key[:5] == "file/":
		return 1
	case len(key) >= 4 && key[:4] == "fdt/":
		return 2
	}
	return 3
}

func (k *clientState) procRecordLocked(p *process) *sentrypb.StateRecord {
	if k.procs[p.pid] != p {
		return deletedRec(keyProc(p.pid))
	}
	st := &sentrypb.ProcessState{
		Pid: p.pid, Pgid: p.pgid, Sid: p.sid, ExitSignal: int32(p.exitSignal),
		Ruid: p.creds.ruid, Euid: p.creds.euid, Suid: p.creds.suid,
		Rgid: p.creds.rgid, Egid: p.creds.egid, Sgid: p.creds.sgid,
		Comm: p.comm, Argv: p.argv, Env: p.env, Zombie: p.zombie, ExitStatus: p.exitStatus, Init: p == k.init,
		Groups: p.creds.groups, FsizeLimited: p.fsizeLimited, FsizeLimit: p.fsizeLimit,
		Execed: p.execed, Caps: p.creds.caps.proto(),
		Stopped: p.stopped, StopSignal: int32(p.stopSig), WaitCode: p.waitCode,
	}
	if p.parent != nil {
		st.Ppid = p.parent.pid
	}
	if !p.zombie {
		if p.fds != nil {
			st.FdTable = k.fdTableIDLocked(p.fds)
			st.Nofile = uint32(p.fds.getLimit())
		}
		st.Fs = k.fsIDLocked(p.fs)
		st.Sighand = k.sigIDLocked(p.sig)
	}
	if p.exe != nil {
		st.Exe, _ = k.vfs.pathOf(p.exe)
	}
	return &sentrypb.StateRecord{Key: keyProc(p.pid), Value: &sentrypb.StateRecord_Process{Process: st}}
}

func (k *clientState) fdTableIDLocked(tab *fdTable) uint64 {
	if tab.id == 0 {
		tab.id = k.trk.newID()
		k.trk.markIDs()
	}
	return tab.id
}

func (k *clientState) slotRecordLocked(s fdSlot, files map[*file]struct{}) *sentrypb.StateRecord {
	tid := k.fdTableIDLocked(s.tab)
	key := keyFD(tid, s.fd)
	if s.tab.refs <= 0 {
		return deletedRec(key)
	}
	s.tab.mu.Lock()
	e := s.tab.entryLocked(int(s.fd))
	s.tab.mu.Unlock()
	if e.f == nil {
		return deletedRec(key)
	}
	if e.f.id.Load() == 0 {
		// A file reported for the first time.
		files[e.f] = struct{}{}
	}
	return &sentrypb.StateRecord{Key: key, Value: &sentrypb.StateRecord_Fd{Fd: &sentrypb.FdState{
		FdTable: tid, Fd: s.fd, File: k.fileID(e.f), Cloexec: e.cloexec}}}
}

// sigLiveLocked reports whether a process still uses h.
func (k *clientState) sigLiveLocked(h *sigHandlers) bool {
	for _, p := range k.procs {
		if p.sig == h && !p.zombie {
			return true
		}
	}
	return false
}

// fileRecordLocked describes open file description f.
func (k *clientState) fileRecordLocked(f *file, pipes map[*pipe]struct{}) *sentrypb.StateRecord {
	id := k.fileID(f)
	if f.refs.Load() <= 0 {
		return deletedRec(keyFile(id))
	}
	st := &sentrypb.FileState{Id: id, Flags: f.flags.Load(), Offset: f.offRep.Load()}
	k.recordAsync(f, st)
	if f.d != nil {
		st.Path, _ = k.vfs.pathOf(f.d)
	}
	switch impl := f.impl.(type) {
	case *goferFile:
		st.Kind, st.FileHandle = sentrypb.FileState_GOFER, impl.fh
		st.Regular = impl.memfd == nil && f.d != nil && f.d.isRegular()
		if impl.memfd != nil {
			// No path: a memfd is found again by its handle only.
			st.Path, st.Memfd = "", impl.memfd.state()
		}
	case *goferDir:
		st.Kind, st.FileHandle = sentrypb.FileState_GOFER, impl.fh
	case *lostFile:
		st.Kind, st.FileHandle, st.Path = sentrypb.FileState_GOFER, impl.fh, impl.path
	case *pipeEnd:
		// A FIFO end that reads and writes is PIPE_READ with O_RDWR in
		// flags.
		st.Kind = sentrypb.FileState_PIPE_READ
		if !impl.reads {
			st.Kind = sentrypb.FileState_PIPE_WRITE
		}
		impl.p.mu.Lock()
		st.Pipe = k.pipeIDLocked(impl.p)
		impl.p.mu.Unlock()
		pipes[impl.p] = struct{}{}
	case *stdioFile:
		st.Kind, st.StdioStream, st.StdioSet = sentrypb.FileState_STDIO, impl.fd, impl.set
	case *ptyFile:
		// Not rebuilt (file_pty.go): no path, so a restore loses it.
		st.Kind, st.Path = sentrypb.FileState_SYNTHETIC, ""
	case kobjRecorded:
		st.Kind, st.Kobj = impl.kobjState(k)
	case *pathFile:
		st.Kind = sentrypb.FileState_SYNTHETIC
		if impl.d.kind == dkGofer {
			st.Kind = sentrypb.FileState_GOFER
			st.FileHandle = k.vfs.fileHandleOf(impl.d)
		}
	default:
		st.Kind = sentrypb.FileState_SYNTHETIC
	}
	return &sentrypb.StateRecord{Key: keyFile(id), Value: &sentrypb.StateRecord_File{File: st}}
}

// encodeDirOffset is the FileState.offset of a directory description: its
// getdents cursor (0 and 1 before "." and "..", 2+cookie after).
func encodeDirOffset(c dirCursor) int64 {
	if c.phase < 2 {
		return int64(c.phase)
	}
	return 2 + int64(c.cookie)
}

func decodeDirOffset(off int64) dirCursor {
	if off < 2 {
		return dirCursor{phase: int(max(off, 0))}
	}
	return dirCursor{phase: 2, cookie: uint64(off - 2)}
}

// sendMsgState sends m with the replay state changed since the last
// message: in m's state if m is a reply, else in a StateUpdate push sent
// just before m. Precondition: k.sendMu is held and a sender attached.
func (k *clientState) sendWithStateLocked(m *sentrypb.ServerMessage) error {
	var seq uint64
	r := m.GetReply()
	if r != nil {
		seq = r.Seq
	}
	k.mu.Lock()
	recs := k.collectStateLocked(seq, r != nil)
	k.mu.Unlock()
	k.binder.bindRecords(recs)
	if len(recs) > 0 {
		if r != nil {
			r.State = append(r.State, recs...)
		} else {
			up := &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{Msg: &sentrypb.Push_State{State: &sentrypb.StateUpdate{Records: recs}}}}}
			if err := k.sender(up); err != nil {
				return err
			}
		}
	}
	return k.sender(m)
}

// sigActionsBytes parses SigHandState.actions.
func parseSigActions(b []byte, h *sigHandlers) bool {
	if len(b) != numSignals*sizeofSigaction {
		return false
	}
	for sig := 1; sig <= numSignals; sig++ {
		h.act[sig] = parseSigAction(b[(sig-1)*sizeofSigaction:])
	}
	return true
}
