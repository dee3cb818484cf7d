package kernel

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mapped"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

const (
	// maxInterpDepth is how many #! interpreters may chain (Linux: 4,
	// then ELOOP).
	maxInterpDepth = 4
	// binprmBufSize is how much of a script's first line Linux reads.
	binprmBufSize = 256
	// maxPhnum bounds the program headers of an image.
	maxPhnum = 1024
)

// MappedKey is the contents key of the file st describes.
func MappedKey(st *goferpb.Stat) mapped.Key {
	return mapped.Key{Dev: st.Dev, Ino: st.Ino, Size: st.Size, Mtime: st.MtimeNs, Ctime: st.CtimeNs}
}

// MappedRecord describes mapped file id for the replay state.
func (k *Kernel) MappedRecord(id uint64) *sentrypb.StateRecord {
	ms, ok := k.Maps.StateOf(id)
	if !ok {
		return DeletedRec(statekey.Mapped(id))
	}
	f := ms.File
	st := &sentrypb.MappedFileState{FileId: id, Size: ms.Size, Refs: uint32(ms.Refs), Writable: ms.Writable}
	if g, ok := f.Impl.(*vfs.GoferFile); ok {
		st.FileHandle, st.Ino = g.FH, inoWithoutHandle(g.FH, vfs.DentryOf(f))
		if st.Ino != 0 {
			st.Dev = fileDev(vfs.DentryOf(f))
		}
	}
	if vfs.DentryOf(f) != nil {
		path, _ := k.VFS.PathOf(vfs.DentryOf(f))
		st.Path = []byte(path)
	}
	return &sentrypb.StateRecord{Key: statekey.Mapped(id).String(), Value: &sentrypb.StateRecord_Mapped{Mapped: st}}
}

// MappedChanges notes that this client changed bytes [off, off+n) of the
// file st describes (its state after the change), and returns the
// changes of the mapped ids other than except for the reply
// (mapped.Table.Changed).
func (k *Kernel) MappedChanges(st *goferpb.Stat, off, n uint64, except uint64) []*sentrypb.MappedFileChange {
	var out []*sentrypb.MappedFileChange
	for _, id := range k.Maps.Changed(MappedKey(st), except) {
		out = append(out, &sentrypb.MappedFileChange{FileId: id, Offset: off, Length: n, Size: st.Size})
	}
	return out
}

// maxPageRead bounds one PageRead.
const maxPageRead = 4 << 20

// PageRead answers a PageRead with the bytes asked for, or, if mayLend
// (the caller's stream carries host fds to a peer allowed them) and
// pr.want_fd, with the file's read-only donated host fd instead when its
// handle has one (Reply.host_fd; the caller sends it with the reply and
// puts the reference returned).
func (k *Kernel) PageRead(pr *sentrypb.PageRead, r *sentrypb.Reply, mayLend bool) (*donated.FD, error) {
	if pr == nil {
		return nil, unix.EINVAL
	}
	f, err := k.Maps.Get(pr.FileId)
	if err != nil {
		return nil, err
	}
	defer f.DecRef()
	h, ok := vfs.HandleOfFile(f)
	if !ok {
		return nil, unix.EBADF
	}
	n := int(min(pr.Length, maxPageRead))
	if pr.Offset > 1<<62 {
		return nil, unix.EINVAL
	}
	if mayLend && pr.WantFd {
		if fd := k.VFS.LendReadFD(h); fd != nil {
			r.HostFd = true
			return fd, nil
		}
	}
	data, err := k.VFS.GoferRead(h, n, int64(pr.Offset))
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = []byte{}
	}
	r.Action = &sentrypb.Reply_Data{Data: data}
	return nil, nil
}

// MaxFirstPages bounds the file a plan of a new id carries whole
// (MmapPlan.file_data, Image.file_data; helper makepages): the client
// reads such a file whole on its first fault anyway, and the plan saves
// that round trip (ld.so.cache, the locale files, small libraries and
// programs: ~20 of make -j2's 36 first PageReads).
const MaxFirstPages = 256 << 10

// FirstPages returns the whole of mapped file id, size bytes long, for
// the plan that handed the id if fresh (mapped.Table.AddFresh: the client
// holds none of its pages) and size is at most MaxFirstPages; nil
// otherwise, or if the gofer read fails or comes back short (the file
// changed since its stat: the client's fault reads it as usual). The
// bytes are the file's at the plan's gen, as a PageRead's would be.
// head is what the caller read of the file from its start, if anything:
// when it is the whole file, it is not read again.
func (k *Kernel) FirstPages(id, size uint64, fresh bool, head []byte) []byte {
	if !fresh || size == 0 || size > MaxFirstPages {
		return nil
	}
	if uint64(len(head)) == size {
		return head // the plan read all of it already
	}
	f, err := k.Maps.Get(id)
	if err != nil {
		return nil
	}
	defer f.DecRef()
	h, ok := vfs.HandleOfFile(f)
	if !ok {
		return nil
	}
	data, err := k.VFS.GoferRead(h, int(size), 0)
	if err != nil || uint64(len(data)) != size {
		return nil
	}
	return data
}

// MaxPageWrite bounds one PageWrite.
const MaxPageWrite = 4 << 20

// MaxPageWritesInFlight bounds the PageWrites of one client the server
// runs at once (so at most 64 MiB of their data held).
const MaxPageWritesInFlight = 16

// PageWrite writes back pages of a shared mapping the client dirtied (see
// sentrypb.PageWrite): a positional write through the mapping's writable
// description, tracked and reported exactly as a pwrite(2) of the same
// call seq, so that a re-sent PageWrite is applied once by the gofer.
func (k *Kernel) PageWrite(seq uint64, pw *sentrypb.PageWrite, r *sentrypb.Reply) error {
	if pw == nil || pw.Offset > 1<<62 || len(pw.Data) > MaxPageWrite {
		return unix.EINVAL
	}
	// The data is held until the gofer has it, which may take long: at
	// most maxPageWritesInFlight of a client's run at once (the others
	// wait: refusing would lose the client's stores), and what they hold
	// counts against the client's memory cap, so that its pipes and
	// sockets find less room meanwhile.
	select {
	case k.PageWriteSlots <- struct{}{}:
		defer func() { <-k.PageWriteSlots }()
	case <-k.Ctx.Done():
		return unix.ESHUTDOWN
	}
	k.Mem.Force(int64(len(pw.Data)))
	defer k.Mem.Release(int64(len(pw.Data)))
	f, err := k.Maps.GetWritable(pw.FileId)
	if err != nil {
		return err
	}
	defer f.DecRef()
	if _, ok := f.Impl.(*vfs.GoferFile); !ok {
		return unix.EBADF
	}
	c := &Task{Kernel: k, CallSeq: seq, Intr: make(chan struct{}), GoferSize: -1, Reply: r, PageWrite: pw.FileId}
	defer c.UnpinAll()
	// Stores through a mapping never extend the file: only the bytes
	// below its size are written back (Linux writes back up to i_size).
	// The size is the gofer's now, not the attribute cache's: a write
	// re-sent after a server failure is answered from the gofer's reply
	// cache with the Stat of its first execution, which the attribute
	// cache takes (a file grown since then looked shorter, and stores
	// past that size were dropped).
	g := f.Impl.(*vfs.GoferFile)
	st, err := g.VFS().GoferSizeNow(g.Handle)
	if err != nil {
		return err
	}
	data := pw.Data
	if pw.Offset >= st.Size {
		return nil
	}
	if end := pw.Offset + uint64(len(data)); end > st.Size {
		data = data[:st.Size-pw.Offset]
	}
	n, _, err := c.WriteAt(f, data, int64(pw.Offset), false)
	if c.Eff != nil {
		k.Trk.SetEffects(seq, c.Eff)
	}
	if err != nil {
		return err
	}
	r.Ret = int64(n)
	return nil
}

// openForRead opens regular gofer file d read-only, for exec.
func (k *Kernel) openForRead(d *vfs.Dentry) (*fdesc.File, *goferpb.Stat, error) {
	if d.Kind != vfs.KindGofer {
		return nil, nil, unix.EACCES
	}
	if h, fh, conf, ok := k.VFS.TakeKept(d); ok {
		// The handle a read-only description of d left (vfs/kept.go):
		// an exec of the binary a process that exited ran.
		return k.fileForRead(vfs.NewFile(k.VFS.NewReadOnlyGoferFile(d, h, fh, conf), d, unix.O_RDONLY), h)
	}
	conf := k.VFS.ConfirmStart()
	h, _, fh, err := k.VFS.FreshHandle(d)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := k.VFS.RPCCtx()
	r, err := k.Gofer.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: unix.O_RDONLY})
	cancel()
	if err := syserr.FromGofer("open", r.GetErrno(), err); err != nil {
		k.Releases.Release([]uint64{h})
		return nil, nil, err
	}
	return k.fileForRead(vfs.NewFile(k.VFS.NewReadOnlyGoferFile(d, h, fh, conf), d, unix.O_RDONLY), h)
}

// fileForRead returns f, opened read-only through gofer handle h, with
// its file's attributes: those cached less than AttrTTL ago even if a
// read moved the atime since (an exec needs no atime).
func (k *Kernel) fileForRead(f *fdesc.File, h uint64) (*fdesc.File, *goferpb.Stat, error) {
	if st := k.Attrs.Recent(h); st != nil {
		return f, st, nil
	}
	st, err := k.VFS.GoferStat(h)
	if err != nil {
		f.DecRef()
		return nil, nil, err
	}
	return f, st, nil
}

// openHandleMode opens gofer handle h (which it takes over) with access
// mode acc (O_RDONLY or O_RDWR).
func (k *Kernel) openHandleMode(h uint64, fh []byte, d *vfs.Dentry, acc uint32) (*fdesc.File, *goferpb.Stat, error) {
	ctx, cancel := k.VFS.RPCCtx()
	r, err := k.Gofer.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: acc})
	cancel()
	if err := syserr.FromGofer("open", r.GetErrno(), err); err != nil {
		k.Releases.Release([]uint64{h})
		return nil, nil, err
	}
	f := vfs.NewFile(vfs.NewGoferFile(k.VFS, h, fh, nil), d, acc)
	st, err := k.VFS.GoferStat(h)
	if err != nil {
		f.DecRef()
		return nil, nil, err
	}
	return f, st, nil
}

// goferReaderAt reads a file through its gofer handle, each ReadAt one
// read of exactly what it asks.
type goferReaderAt struct {
	v *vfs.VFS
	h uint64
}

func (r goferReaderAt) ReadAt(p []byte, off int64) (int, error) {
	b, err := r.v.GoferRead(r.h, len(p), off)
	n := copy(p, b)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// ExecPlan is a planned exec, not yet committed to the process
// (package kernel's ExecPlan).

func (k *Kernel) abandonPlan(p *ExecPlan) { k.Maps.Release(p.IDs) }

// PlanExec resolves filename from start and plans its exec with argv and
// envp, following #! interpreters.
func (k *Kernel) PlanExec(c *Task, start *vfs.Dentry, filename string, argv, envp []string, follow bool) (ep *ExecPlan, err error) {
	ep = &ExecPlan{Plan: &sentrypb.ExecPlan{Argv: sentrypb.BytesList(argv), Env: sentrypb.BytesList(envp), Execfn: []byte(filename)}}
	defer func() {
		if err != nil {
			k.abandonPlan(ep)
			ep = nil
		}
	}()
	k.Mu.Lock()
	cr := c.Thread.Proc.Creds
	k.Mu.Unlock()
	ep.Plan.Uid, ep.Plan.Gid, ep.Plan.Euid, ep.Plan.Egid = cr.RUID, cr.RGID, cr.EUID, cr.EGID
	base := filename
	if i := strings.LastIndexByte(strings.TrimRight(base, "/"), '/'); i >= 0 {
		base = base[i+1:]
	}
	if len(base) > 15 {
		base = base[:15]
	}
	ep.Plan.Comm = []byte(base)

	name := filename
	for depth := 0; ; depth++ {
		if depth > maxInterpDepth {
			return ep, unix.ELOOP
		}
		d, err := k.VFS.Resolve(c, start, name, follow || depth > 0)
		if err != nil {
			return ep, err
		}
		if d.IsSymlink() {
			return ep, unix.ELOOP
		}
		if !d.IsRegular() {
			return ep, unix.EACCES
		}
		f, st, err := k.openForRead(d)
		if err != nil {
			return ep, err
		}
		if !mayExec(st, cr) {
			f.DecRef()
			return ep, unix.EACCES
		}
		if k.InodeOpenForWrite(d.Ino()) {
			f.DecRef()
			return ep, unix.ETXTBSY
		}
		head, err := k.execHead(f)
		if err != nil {
			f.DecRef()
			return ep, err
		}
		if depth == 0 {
			ep.Exe = d
		}
		if bytes.HasPrefix(head, []byte("#!")) {
			f.DecRef()
			interp, arg, err := parseShebang(head[:min(len(head), binprmBufSize)])
			if err != nil {
				return ep, err
			}
			nargv := []string{interp}
			if arg != "" {
				nargv = append(nargv, arg)
			}
			nargv = append(nargv, name)
			if len(ep.Plan.Argv) > 1 {
				nargv = append(nargv, sentrypb.StringList(ep.Plan.Argv[1:])...)
			}
			ep.Plan.Argv = sentrypb.BytesList(nargv)
			name = interp
			start = c.Cwd()
			continue
		}
		if !bytes.HasPrefix(head, []byte(elf.ELFMAG)) {
			f.DecRef()
			return ep, unix.ENOEXEC
		}
		img, interpPath, err := k.planImage(f, st, head)
		if err != nil {
			return ep, err
		}
		ep.Image = vfs.AttrsOfStat(st)
		ep.IDs = append(ep.IDs, img.FileId)
		ep.Plan.Image = img
		if depth > 0 {
			ep.Exe = d
		}
		if interpPath != "" {
			id, err := k.VFS.Resolve(c, c.Cwd(), interpPath, true)
			if err != nil {
				return ep, err
			}
			if !id.IsRegular() {
				return ep, unix.ELIBBAD
			}
			jf, jst, err := k.openForRead(id)
			if err != nil {
				return ep, err
			}
			jhead, err := k.execHead(jf)
			if err != nil {
				jf.DecRef()
				return ep, err
			}
			jimg, jinterp, err := k.planImage(jf, jst, jhead)
			if err != nil {
				if syserr.ErrnoOf(err) == unix.ENOEXEC {
					err = fmt.Errorf("interpreter %q: %w", interpPath, unix.ELIBBAD)
				}
				return ep, err
			}
			ep.IDs = append(ep.IDs, jimg.FileId)
			if jinterp != "" {
				return ep, unix.ELIBBAD
			}
			ep.Plan.Interp = jimg
		}
		return ep, nil
	}
}

// mayExec reports whether cr may execute a file with attributes st: some
// x bit must be set (even for root), and for others the matching one.
func mayExec(st *goferpb.Stat, cr auth.Creds) bool {
	return st.Mode&0111 != 0 && cr.Permits(vfs.AttrsOfStat(st), auth.MayExec)
}

// parseShebang parses a "#!interp [arg]" line as Linux's binfmt_script.
func parseShebang(hdr []byte) (interp, arg string, err error) {
	line := hdr[2:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	s := strings.Trim(string(line), " \t")
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "", "", unix.ENOEXEC
	}
	interp = s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		interp = s[:i]
		arg = strings.Trim(s[i:], " \t")
	}
	return interp, arg, nil
}

// execHead reads the first execHeadSize bytes of f, or all of it if it
// is shorter.
func (k *Kernel) execHead(f *fdesc.File) ([]byte, error) {
	h, _ := vfs.HandleOfFile(f)
	return k.VFS.GoferRead(h, execHeadSize, 0)
}

// planImage parses ELF file f (consuming the reference), whose first
// bytes are head, and returns its image (registered in the mapping
// table) and its PT_INTERP path.
func (k *Kernel) planImage(f *fdesc.File, st *goferpb.Stat, head []byte) (*sentrypb.Image, string, error) {
	h, _ := vfs.HandleOfFile(f)
	img, interp, err := parseELFImage(head, int64(st.Size), goferReaderAt{v: k.VFS, h: h})
	if err != nil {
		f.DecRef()
		return nil, "", err
	}
	img.FileSize = st.Size
	var fresh bool
	img.FileId, img.FileGen, fresh = k.Maps.AddFresh(f, MappedKey(st), false)
	img.FileData = k.FirstPages(img.FileId, st.Size, fresh, head)
	return img, interp, nil
}

// CommitExec applies a successful plan to the caller's process: other
// threads end, the caller takes the PID as its TID, fds marked
// close-on-exec close, signal actions flushed (ksignal.Handlers.Flush).
// It reports false when the exec failed past Linux's point of no return:
// an fd table another process shares (CLONE_FILES) whose copy does not
// fit under fs/nr_open (unshare_files' dup_fd, EMFILE) kills the process
// with SIGSEGV (force_fatal_sig), once its other threads ended; the plan
// is abandoned and the caller's call answered with its exit.
func (k *Kernel) CommitExec(c *Task, ep *ExecPlan) bool {
	var d Deferred
	k.Mu.Lock()
	t := c.Thread
	p := t.Proc
	for o := range p.Live {
		if o != t {
			k.KillThreadLocked(o, 0, &d)
		}
	}
	if t.TID != p.PID {
		if old := k.Threads[p.PID]; old != nil {
			delete(p.All, old)
		}
		delete(k.Threads, t.TID)
		k.Trk.Changed(DeletedKey(statekey.Thread(t.TID)))
		t.TID = p.PID
		k.Threads[p.PID] = t
	}
	k.Trk.Changed(t)
	k.Trk.Changed(p)
	// Forget killed threads: their TIDs are free again.
	for o := range p.All {
		if o != t {
			delete(p.All, o)
			if k.Threads[o.TID] == o {
				delete(k.Threads, o.TID)
			}
			k.Trk.Changed(o)
		}
	}
	if p.FDs != nil && p.FDs.Shared() && !p.FDs.CopyFits() {
		k.ExitProcessLocked(p, p.KilledStatusLocked(int(unix.SIGSEGV)), &d)
		k.Mu.Unlock()
		d.Run(k.Out)
		k.abandonPlan(ep)
		return false
	}
	// The new image is a new address space, even for a vfork child that
	// shared its parent's (kcmp's KCMP_VM).
	p.VM = &Identity{}
	if p.FDs != nil {
		p.FDs = p.FDs.Unshare()
		closed := p.FDs.RemoveIf(func(e fdtable.Entry) bool { return e.Cloexec })
		pid := p.PID
		d.Do(func() {
			for _, f := range closed {
				f.Flush(pid)
				f.DecRef()
			}
		})
	}
	k.Trk.Changed(SigTable{Handlers: p.Sig})
	p.Sig = p.Sig.Clone()
	p.Sig.Flush()
	k.Trk.Changed(SigTable{Handlers: p.Sig})
	k.DeleteTimersLocked(p, false)
	if gone := k.IPC.ProcessExeced(p.PID); len(gone) > 0 {
		d.Do(func() { k.RemoveSegmentFiles(gone) })
	}
	p.Comm = string(ep.Plan.Comm)
	p.Exe = ep.Exe
	p.Argv = sentrypb.StringList(ep.Plan.Argv)
	p.Env = sentrypb.StringList(ep.Plan.Env)
	p.Execed = true
	was := p.Creds
	p.Creds.ExecSetID(ep.Image, ep.NoNewPrivs)
	p.Creds.ExecCaps()
	p.CredsChanged(was)
	ep.Plan.Euid, ep.Plan.Egid = p.Creds.EUID, p.Creds.EGID
	k.Trk.Changed(p)
	ep.Plan.Tid = p.PID
	k.PtraceExecLocked(t, &d)
	k.Mu.Unlock()
	d.Run(k.Out)
	return true
}

// Start handles Call.Start: it creates PID 1 and plans its exec.
func (k *Kernel) Start(seq uint64, st *sentrypb.Start, r *sentrypb.Reply) error {
	if err := k.checkRootProcess(st, "Start"); err != nil {
		return err
	}
	mounts, err := mount.FromStart(st.Mounts)
	if err != nil {
		k.Log.Warn("refused Start", "err", err)
		return err
	}
	rootProp, rootRec, err := mount.StartPropagation(st.RootPropagation)
	if err != nil {
		k.Log.Warn("refused Start", "err", err)
		return err
	}
	k.Mu.Lock()
	if err := k.markStartedLocked(); err != nil {
		k.Mu.Unlock()
		return err
	}
	for _, m := range mounts {
		if m, err := k.VFS.Mounts.Add(m); err == nil {
			if m.FSType != "bind" {
				k.VFS.Mounts.SetDev(m.ID, uint64(unix.Mkdev(0, uint32(0x100+m.ID))))
			} else {
				k.VFS.Mounts.SetDev(m.ID, k.VFS.RootDev)
			}
			k.Trk.Changed(MountID(m.ID))
			if vfs.IsMqueueMount(m) {
				k.VFS.SetMqueue(m.ID)
			}
		}
	}
	if rootProp != 0 {
		ids, _ := k.VFS.Mounts.SetPropagation(mount.RootID, rootProp, rootRec)
		for _, id := range ids {
			k.Trk.Changed(MountID(id))
		}
	}
	p, err := k.NewProcessLocked(1, nil)
	if err != nil {
		k.Started = false
		k.Mu.Unlock()
		return err
	}
	p.PGID, p.SID = p.PID, p.PID
	k.SetUpRootProcessLocked(p, st, "init")
	k.Init = p
	t := k.Threads[p.PID]
	k.Mu.Unlock()

	c := &Task{Kernel: k, Thread: t, CallSeq: seq, Intr: make(chan struct{}), Dead: t.Dead, Reply: r, Mem: nil}
	defer c.UnpinAll()
	fail := func(err error) error {
		var d Deferred
		k.Mu.Lock()
		if p.FDs != nil {
			k.DropFDTableLocked(p.FDs, p.PID, &d)
			p.FDs = nil
		}
		k.ReapLocked(p)
		delete(k.Threads, t.TID)
		k.Init = nil
		k.Started = false
		k.Mu.Unlock()
		d.Run(k.Out)
		return err
	}
	if err := k.ExecFirstImage(c, p, k.NewStdioFile, string(st.Cwd), string(st.Filename), sentrypb.StringList(st.Argv), sentrypb.StringList(st.Env), st.NoNewPrivs, r); err != nil {
		return fail(err)
	}
	return nil
}

// checkRootProcess checks what a Start or a Spawn (call, for the log)
// says of the process it makes: a program to run, at most
// auth.MaxGroups groups, an oom_score_adj a write could set, and ids the
// peer may run as.
func (k *Kernel) checkRootProcess(st *sentrypb.Start, call string) error {
	if st == nil || len(st.Argv) == 0 && len(st.Filename) == 0 {
		return unix.EINVAL
	}
	if len(st.Groups) > auth.MaxGroups {
		return unix.EINVAL
	}
	if err := procfs.CheckOOMScoreAdj(st.OomScoreAdj); err != nil {
		return err
	}
	if err := k.Grant.MayRunAs([]uint32{st.Uid}, append([]uint32{st.Gid}, st.Groups...)); err != nil {
		k.Log.Warn("refused "+call, "err", err)
		return err
	}
	return nil
}

// ExecFirstImage gives a process made by Start or Spawn its stdio (fds 0,
// 1 and 2 from stdio), its working directory and its first program
// (filename, else argv[0] looked up on env's PATH), and sets r's action
// to the exec plan the client loads.
func (k *Kernel) ExecFirstImage(c *Task, p *Process, stdio func(int32) *fdesc.File, cwd, filename string, argv, env []string, noNewPrivs bool, r *sentrypb.Reply) error {
	for i := int32(0); i < 3; i++ {
		// Whatever RLIMIT_NOFILE says, as a process inherits its
		// stdio on Linux.
		if _, err := p.FDs.InstallAt(i, stdio(i), false, true, 0); err != nil {
			return err
		}
	}
	if cwd != "" {
		d, err := k.VFS.Resolve(c, k.VFS.Root, cwd, true)
		if err != nil {
			return &StartPathError{Path: cwd, Cwd: true, err: err}
		}
		if !d.IsDir() {
			return &StartPathError{Path: cwd, Cwd: true, err: unix.ENOTDIR}
		}
		k.Mu.Lock()
		p.FS.Cwd = d
		k.Trk.Changed(p.FS)
		k.Mu.Unlock()
	}
	if filename == "" {
		filename = argv[0]
	}
	if !strings.Contains(filename, "/") {
		filename = k.lookPath(c, filename, env)
	}
	ep, err := k.PlanExec(c, c.Cwd(), filename, argv, env, true)
	if err != nil {
		return &StartPathError{Path: filename, err: err}
	}
	ep.NoNewPrivs = noNewPrivs
	// A new root process (Start, Spawn) shares no fd table: the commit
	// cannot fail.
	k.CommitExec(c, ep)
	r.Ret = int64(p.PID)
	r.Action = &sentrypb.Reply_Exec{Exec: ep.Plan}
	return nil
}

// StartPathError is a Start or Spawn that failed on its working
// directory (cwd) or its program: the reply names it (Reply.failed_path).
type StartPathError struct {
	Path string
	Cwd  bool
	err  error
}

func (e *StartPathError) Error() string {
	if e.Cwd {
		return fmt.Sprintf("cwd %q: %v", e.Path, e.err)
	}
	return fmt.Sprintf("%q: %v", e.Path, e.err)
}

func (e *StartPathError) Unwrap() error { return e.err }

// lookPath finds name on the PATH of env, as runsc does for a container's
// argv[0]. It returns name unchanged if no executable is found.
func (k *Kernel) lookPath(c *Task, name string, env []string) string {
	p := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			p = v
		}
	}
	for _, dir := range strings.Split(p, ":") {
		if dir == "" {
			dir = "."
		}
		cand := path.Join(dir, name)
		d, err := k.VFS.Resolve(c, c.Cwd(), cand, true)
		if err != nil || !d.IsRegular() {
			continue
		}
		st, err := k.VFS.StatDentry(c, d)
		if err == nil && st.Mode&0111 != 0 {
			return cand
		}
	}
	return name
}

// RootProcessSpec is what Start and Spawn say of the process they make.
type RootProcessSpec interface {
	GetUid() uint32
	GetGid() uint32
	GetGroups() []uint32
	GetCaps() *sentrypb.CapSets
	GetNofile() uint64
	GetFsizeLimited() bool
	GetFsizeLimit() uint64
	GetCoreDumps() bool
	GetNiceLimit() uint64
	GetRtprioLimit() uint64
	GetUmask() uint32
	GetOomScoreAdj() int32
}

// SetUpRootProcessLocked gives p, a process with no parent made by Start
// or Spawn, the credentials, limits, fd table, file-system context and
// signal handlers st asks for, and its name.
//
// Preconditions: k.Mu is locked.
func (k *Kernel) SetUpRootProcessLocked(p *Process, st RootProcessSpec, comm string) {
	p.Creds = auth.RootCreds(st.GetUid(), st.GetGid())
	p.Creds.Groups = slices.Clone(st.GetGroups())
	p.Creds.Caps = capsFromProto(st.GetCaps(), st.GetUid())
	p.FDs = NewFDTable(k.Trk, k.Locks, &k.Sysctl.NrOpen)
	if n := st.GetNofile(); n > 0 {
		p.FDs.SetLimit(int32(min(n, uint64(k.Sysctl.NrOpen.Get()))))
	}
	p.FsizeLimited, p.FsizeLimit = st.GetFsizeLimited(), st.GetFsizeLimit()
	p.CoreDumps = st.GetCoreDumps()
	p.NiceLimit, p.RTPrioLimit = st.GetNiceLimit(), st.GetRtprioLimit()
	// As runc's write of /proc/self/oom_score_adj before the exec, as
	// root: privileged, so the minimum follows (checked by
	// checkRootProcess; 0 changes nothing of a new process's).
	p.OOMScoreAdj, p.OOMScoreAdjMin, _ = procfs.OOMScoreAdjWrite(0, 0, st.GetOomScoreAdj(), false, true)
	p.FS = &FSContext{Refs: 1, Cwd: k.VFS.Root, Umask: st.GetUmask() & 0777}
	p.Sig = &ksignal.Handlers{}
	k.Trk.Changed(p.FS)
	k.Trk.Changed(SigTable{Handlers: p.Sig})
	p.Comm = comm
}

// markStartedLocked marks the kernel started, by Start or Restore, the
// one of them that may run in its life: EBUSY once either has, or after
// its destruction. Precondition: k.Mu is held.
func (k *Kernel) markStartedLocked() error {
	if k.Started || k.Destroyed {
		return unix.EBUSY
	}
	k.Started = true
	return nil
}
