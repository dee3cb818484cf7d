package server

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/devpts"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/epoll"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/eventfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inotify"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/signalfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// This file synthesizes /dev and /proc from the server's own state.

var devNodes = map[string]struct {
	kind  vfs.DevKind
	minor uint64
}{
	"null":    {vfs.DevNull, 3},
	"zero":    {vfs.DevZero, 5},
	"full":    {vfs.DevFull, 7},
	"random":  {vfs.DevRandom, 8},
	"urandom": {vfs.DevRandom, 9},
}

var devLinks = map[string]string{
	"fd":     "/proc/self/fd",
	"stdin":  "/proc/self/fd/0",
	"stdout": "/proc/self/fd/1",
	"stderr": "/proc/self/fd/2",
	// The runtime spec's /dev/ptmx, as devpts's newinstance mounts want.
	"ptmx": "pts/ptmx",
}

// procPidDynamic are the names of /proc/<pid> that are not procfs files.
var procPidDynamic = []synthDirent{
	{"cwd", 0, unix.DT_LNK}, {"exe", 0, unix.DT_LNK}, {"fd", 0, unix.DT_DIR},
	{"fdinfo", 0, unix.DT_DIR}, {"task", 0, unix.DT_DIR},
}

// procIno numbers a procfs file or directory.
func procIno(scope procfs.Scope, path string, pid, tid int32) uint64 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%d/%d/%s", scope, pid, tid, path)
	return vfs.SynthIno(10, int(h.Sum32()))
}

// procEntryDentry makes the dentry of procfs entry e, found in dir.
func (k *clientState) procEntryDentry(dir *dentry, scope procfs.Scope, e procfs.Entry) *dentry {
	p := e.Name
	if dir.Kind == vfs.KindProcSubdir && dir.ProcName != "" {
		p = dir.ProcName + "/" + e.Name
	}
	kind, mode := vfs.KindProcFile, unix.S_IFREG|e.Mode
	switch e.Kind {
	case procfs.Dir:
		kind, mode = vfs.KindProcSubdir, unix.S_IFDIR|e.Mode
	case procfs.Link:
		kind, mode = vfs.KindLink, unix.S_IFLNK|e.Mode
	}
	d := vfs.NewSynthDentry(dir, e.Name, kind, mode, procIno(scope, p, dir.PID, dir.TID))
	d.PID, d.TID, d.ProcScope, d.ProcName = dir.PID, dir.TID, scope, p
	if e.Kind == procfs.Link {
		d.Link = e.Target
	}
	return d
}

// procDirScope says which procfs table directory d lists.
func procDirScope(d *dentry) (procfs.Scope, string) {
	switch d.Kind {
	case vfs.KindProcPid:
		return procfs.PID, ""
	case vfs.KindProcSubdir:
		return d.ProcScope, d.ProcName
	}
	return procfs.Top, ""
}

// parseID parses a canonical positive decimal id.
func parseID(name string) (int32, bool) {
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil || n < 0 || strconv.Itoa(int(n)) != name {
		return 0, false
	}
	return int32(n), true
}

func (k *clientState) SynthLookup(c vfs.Caller, dir *dentry, name string) (*dentry, error) {
	v := k.vfs
	mk := func(kind vfs.Kind, mode uint32, ino uint64) *dentry {
		d := vfs.NewSynthDentry(dir, name, kind, mode, ino)
		d.PID, d.TID = dir.PID, dir.TID
		return d
	}
	switch dir.Kind {
	case vfs.KindDevDir:
		if n, ok := devNodes[name]; ok {
			d := mk(vfs.KindDev, unix.S_IFCHR|0666, vfs.SynthIno(3, int(n.minor)))
			d.Dev = n.kind
			return d, nil
		}
		if name == "tty" {
			return mk(vfs.KindDevTty, unix.S_IFCHR|0666, vfs.SynthIno(3, 100)), nil
		}
		if d := k.ptyLookup(dir, name); d != nil {
			return d, nil
		}
		if d := k.devNodeLookup(dir, name); d != nil {
			return d, nil
		}
		if name == "shm" {
			return v.ShmDentry()
		}
		if t, ok := devLinks[name]; ok {
			d := mk(vfs.KindLink, unix.S_IFLNK|0777, vfs.SynthIno(4, len(name)))
			d.Link = t
			return d, nil
		}
	case vfs.KindDevPtsDir:
		if d := k.ptyLookup(dir, name); d != nil {
			return d, nil
		}
	case vfs.KindProcDir:
		switch name {
		case "self", "thread-self":
			return mk(vfs.KindProcSelf, unix.S_IFLNK|0777, vfs.SynthIno(5, len(name))), nil
		}
		if pid, ok := parseID(name); ok {
			k.mu.Lock()
			_, isProc := k.procs[pid]
			var owner int32
			if t := k.threads[pid]; t != nil && !isProc {
				if _, live := t.proc.live[t]; live {
					owner = t.proc.pid
				}
			}
			k.mu.Unlock()
			if isProc {
				d := mk(vfs.KindProcPid, unix.S_IFDIR|0555, vfs.SynthIno(6, int(pid)))
				d.PID = pid
				return d, nil
			}
			if owner != 0 {
				// /proc/<tid> of a thread other than a leader: not listed,
				// but found, as on Linux (here with the files of task/<tid>).
				d := mk(vfs.KindProcSubdir, unix.S_IFDIR|0555, vfs.SynthIno(14, int(pid)))
				d.PID, d.TID, d.ProcScope = owner, pid, procfs.Task
				return d, nil
			}
			return nil, unix.ENOENT
		}
		if e, ok := procfs.Lookup(procfs.Top, "", name); ok {
			return k.procEntryDentry(dir, procfs.Top, e), nil
		}
	case vfs.KindProcPid:
		switch name {
		case "cwd":
			return mk(vfs.KindProcCwd, unix.S_IFLNK|0777, vfs.SynthIno(7, int(dir.PID))), nil
		case "exe":
			return mk(vfs.KindProcExe, unix.S_IFLNK|0777, vfs.SynthIno(8, int(dir.PID))), nil
		case "fd":
			return mk(vfs.KindProcFdDir, unix.S_IFDIR|0500, vfs.SynthIno(9, int(dir.PID))), nil
		case "fdinfo":
			return mk(vfs.KindProcFdInfoDir, unix.S_IFDIR|0500, vfs.SynthIno(12, int(dir.PID))), nil
		case "task":
			return mk(vfs.KindProcTaskDir, unix.S_IFDIR|0555, vfs.SynthIno(13, int(dir.PID))), nil
		}
		if e, ok := procfs.Lookup(procfs.PID, "", name); ok {
			return k.procEntryDentry(dir, procfs.PID, e), nil
		}
	case vfs.KindProcSubdir:
		if e, ok := procfs.Lookup(dir.ProcScope, dir.ProcName, name); ok {
			return k.procEntryDentry(dir, dir.ProcScope, e), nil
		}
	case vfs.KindProcTaskDir:
		tid, ok := parseID(name)
		if !ok || !k.isLiveThread(dir.PID, tid) {
			return nil, unix.ENOENT
		}
		d := mk(vfs.KindProcSubdir, unix.S_IFDIR|0555, vfs.SynthIno(14, int(tid)))
		d.TID, d.ProcScope = tid, procfs.Task
		return d, nil
	case vfs.KindProcFdDir, vfs.KindProcFdInfoDir:
		fd, ok := parseID(name)
		if !ok {
			return nil, unix.ENOENT
		}
		f, err := k.procFDFile(dir.PID, fd)
		if err != nil {
			return nil, unix.ENOENT
		}
		f.DecRef()
		if dir.Kind == vfs.KindProcFdInfoDir {
			d := mk(vfs.KindProcFdInfo, unix.S_IFREG|0444, vfs.SynthIno(15, int(fd)))
			d.FD = fd
			return d, nil
		}
		d := mk(vfs.KindProcFd, unix.S_IFLNK|0700, vfs.SynthIno(11, int(fd)))
		d.FD = fd
		return d, nil
	}
	return nil, unix.ENOENT
}

// procOwner is vfsSynth's: the euid and egid of process pid.
func (k *clientState) ProcOwner(pid int32) (uid, gid uint32, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if p := k.procs[pid]; p != nil {
		return p.creds.EUID, p.creds.EGID, true
	}
	return 0, 0, false
}

// isLiveThread says whether tid is a live thread of process pid.
func (k *clientState) isLiveThread(pid, tid int32) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	t := k.threads[tid]
	if t == nil || t.proc.pid != pid {
		return false
	}
	_, live := t.proc.live[t]
	return live
}

// liveThreads lists the TIDs of process pid's live threads.
func (k *clientState) liveThreads(pid int32) []int {
	k.mu.Lock()
	defer k.mu.Unlock()
	var tids []int
	if p := k.procs[pid]; p != nil {
		for t := range p.live {
			tids = append(tids, int(t.tid))
		}
	}
	sort.Ints(tids)
	return tids
}

// procFDFile returns (a reference to) fd of process pid.
func (k *clientState) procFDFile(pid, fd int32) (*file, error) {
	k.mu.Lock()
	p := k.procs[pid]
	var tab *fdTable
	if p != nil {
		tab = p.fds
	}
	k.mu.Unlock()
	if tab == nil {
		return nil, unix.ENOENT
	}
	f, _, err := tab.Get(fd)
	return f, err
}

// procState returns what /proc needs of process pid.
func (k *clientState) procState(pid int32) (cwd, exe *dentry, comm string, argv []string, ppid int32, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.procs[pid]
	if p == nil || p.zombie {
		return nil, nil, "", nil, 0, unix.ENOENT
	}
	if p.fs != nil {
		cwd = p.fs.cwd
	}
	if p.parent != nil {
		ppid = p.parent.pid
	}
	return cwd, p.exe, p.comm, p.argv, ppid, nil
}

func (k *clientState) SynthReadlink(c vfs.Caller, d *dentry) (string, error) {
	v := k.vfs
	switch d.Kind {
	case vfs.KindProcSelf:
		sc := callOf(c)
		if v.NameOf(d) == "thread-self" {
			return fmt.Sprintf("%d/task/%d", sc.pid(), sc.tid()), nil
		}
		return strconv.Itoa(int(sc.pid())), nil
	case vfs.KindProcCwd, vfs.KindProcExe:
		cwd, exe, _, _, _, err := k.procState(d.PID)
		if err != nil {
			return "", err
		}
		t := cwd
		if d.Kind == vfs.KindProcExe {
			t = exe
		}
		if t == nil {
			return "", unix.ENOENT
		}
		p, ok := v.PathOf(t)
		if !ok {
			p += " (deleted)"
		}
		return p, nil
	case vfs.KindProcFd:
		f, err := k.procFDFile(d.PID, d.FD)
		if err != nil {
			return "", err
		}
		defer f.DecRef()
		return k.filePath(f), nil
	}
	return "", unix.EINVAL
}

// filePath is the name /proc/<pid>/fd/<n> shows for f.
func (k *clientState) filePath(f *file) string {
	v := k.vfs
	switch impl := f.Impl.(type) {
	case *pipeEnd:
		return fmt.Sprintf("pipe:[%d]", impl.p.Ino())
	case *stdioFile:
		if impl.tty {
			return "/dev/pts/0"
		}
		return fmt.Sprintf("pipe:[stdio%d]", impl.fd)
	case *eventfd.File:
		return "anon_inode:[eventfd]"
	case *epoll.File:
		return "anon_inode:[eventpoll]"
	case *signalfd.File:
		return "anon_inode:[signalfd]"
	case *unixsock.File:
		return fmt.Sprintf("socket:[%d]", impl.Ino())
	case *inet.File:
		return fmt.Sprintf("socket:[%d]", impl.Ino())
	case *inet.HostFile:
		return fmt.Sprintf("socket:[%d]", impl.Ino())
	case *vfs.GoferFile:
		if impl.Memfd != nil {
			return "/memfd:" + impl.Memfd.Name + " (deleted)"
		}
	}
	if dentryOf(f) == nil {
		return "anon_inode:[unknown]"
	}
	p, ok := v.PathOf(dentryOf(f))
	if !ok {
		p += " (deleted)"
	}
	return p
}

// magicTarget resolves /proc magic links to what they name rather than to
// their text. ok is false for ordinary symlinks.
func (k *clientState) MagicTarget(c vfs.Caller, d *dentry) (*dentry, bool, error) {
	v := k.vfs
	switch d.Kind {
	case vfs.KindProcCwd, vfs.KindProcExe:
		cwd, exe, _, _, _, err := k.procState(d.PID)
		if err != nil {
			return nil, true, err
		}
		t := cwd
		if d.Kind == vfs.KindProcExe {
			t = exe
		}
		if t == nil {
			return nil, true, unix.ENOENT
		}
		return t, true, nil
	case vfs.KindProcFd:
		f, err := k.procFDFile(d.PID, d.FD)
		if err != nil {
			return nil, true, unix.ENOENT
		}
		defer f.DecRef()
		if _, isGofer := f.Impl.(*vfs.GoferFile); isGofer && v.IsDeleted(dentryOf(f)) {
			// A file with no name left: opening the link itself opens
			// the inode (openProcFd).
			return d, true, nil
		}
		if dentryOf(f) != nil {
			return dentryOf(f), true, nil
		}
		// Pipes and stdio: opening the link itself reopens the file.
		return d, true, nil
	}
	return nil, false, nil
}

// synthStat returns the attributes of a synthesized file.
func (k *clientState) SynthStat(d *dentry) *goferpb.Stat {
	now := time.Now().UnixNano()
	st := &goferpb.Stat{Mode: d.Mode, Nlink: 1, Ino: d.Ino(), Dev: vfs.SynthDev, Blksize: 4096,
		AtimeNs: now, MtimeNs: now, CtimeNs: now}
	if d.IsDir() {
		st.Nlink = 2
	}
	switch d.Kind {
	case vfs.KindDev:
		for _, n := range devNodes {
			if n.kind == d.Dev && vfs.SynthIno(3, int(n.minor)) == d.Ino() {
				st.Rdev = 1<<8 | n.minor
			}
		}
	case vfs.KindDevTty:
		st.Rdev = 5 << 8
	case vfs.KindDevPtmx:
		st.Rdev = 5<<8 | 2
	case vfs.KindDevPts:
		st.Rdev = unix.Mkdev(devpts.PtsMajor, uint32(d.FD))
	case vfs.KindDevNode:
		n := k.devNodes[d.FD]
		st.Rdev, st.Uid, st.Gid = unix.Mkdev(n.Major, n.Minor), n.Uid, n.Gid
	case vfs.KindLink:
		st.Size = uint64(len(d.Link))
	}
	return st
}

type synthDirent struct {
	name string
	ino  uint64
	typ  uint8
}

// synthList lists a synthesized directory (without "." and "..").
func (k *clientState) synthList(c *syscallCtx, d *dentry) []synthDirent {
	v := k.vfs
	var out []synthDirent
	switch d.Kind {
	case vfs.KindDevDir:
		var names []string
		for n := range devNodes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, synthDirent{n, vfs.SynthIno(3, int(devNodes[n].minor)), unix.DT_CHR})
		}
		out = append(out, synthDirent{"tty", vfs.SynthIno(3, 100), unix.DT_CHR})
		out = append(out, synthDirent{"pts", vfs.SynthIno(17, 0), unix.DT_DIR})
		out = append(out, k.devNodeList()...)
		if shm, err := v.ShmDentry(); err == nil {
			out = append(out, synthDirent{"shm", shm.Ino(), unix.DT_DIR})
		}
		if mq := v.MqueueDentry(); mq != nil {
			out = append(out, synthDirent{"mqueue", mq.Ino(), unix.DT_DIR})
		}
		for _, n := range []string{"fd", "ptmx", "stderr", "stdin", "stdout"} {
			out = append(out, synthDirent{n, vfs.SynthIno(4, len(n)), unix.DT_LNK})
		}
	case vfs.KindDevPtsDir:
		out = k.ptsList()
	case vfs.KindProcDir:
		out = append(out, synthDirent{"self", vfs.SynthIno(5, 4), unix.DT_LNK}, synthDirent{"thread-self", vfs.SynthIno(5, 11), unix.DT_LNK})
		k.mu.Lock()
		var pids []int
		for pid := range k.procs {
			pids = append(pids, int(pid))
		}
		k.mu.Unlock()
		sort.Ints(pids)
		for _, pid := range pids {
			out = append(out, synthDirent{strconv.Itoa(pid), vfs.SynthIno(6, pid), unix.DT_DIR})
		}
		out = append(out, k.procfsDirents(d)...)
	case vfs.KindProcPid:
		for _, e := range procPidDynamic {
			out = append(out, synthDirent{e.name, vfs.SynthIno(16, len(e.name)), e.typ})
		}
		out = append(out, k.procfsDirents(d)...)
	case vfs.KindProcSubdir:
		out = append(out, k.procfsDirents(d)...)
	case vfs.KindProcTaskDir:
		for _, tid := range k.liveThreads(d.PID) {
			out = append(out, synthDirent{strconv.Itoa(tid), vfs.SynthIno(14, tid), unix.DT_DIR})
		}
	case vfs.KindProcFdDir, vfs.KindProcFdInfoDir:
		k.mu.Lock()
		var tab *fdTable
		if p := k.procs[d.PID]; p != nil {
			tab = p.fds
		}
		k.mu.Unlock()
		if tab != nil {
			for _, fd := range tab.List() {
				if d.Kind == vfs.KindProcFdInfoDir {
					out = append(out, synthDirent{strconv.Itoa(int(fd)), vfs.SynthIno(15, int(fd)), unix.DT_REG})
					continue
				}
				out = append(out, synthDirent{strconv.Itoa(int(fd)), vfs.SynthIno(11, int(fd)), unix.DT_LNK})
			}
		}
	}
	return out
}

// procfsDirents lists the procfs entries of directory d.
func (k *clientState) procfsDirents(d *dentry) []synthDirent {
	scope, dir := procDirScope(d)
	var out []synthDirent
	for _, e := range procfs.List(scope, dir) {
		typ := uint8(unix.DT_REG)
		switch e.Kind {
		case procfs.Dir:
			typ = unix.DT_DIR
		case procfs.Link:
			typ = unix.DT_LNK
		}
		out = append(out, synthDirent{e.Name, k.procEntryDentry(d, scope, e).Ino(), typ})
	}
	return out
}

// procFileData renders procfs file d, or /proc/<pid>/fdinfo/<n>.
func (k *clientState) procFileData(d *dentry) ([]byte, error) {
	if d.Kind == vfs.KindProcFdInfo {
		k.mu.Lock()
		var tab *fdTable
		if p := k.procs[d.PID]; p != nil {
			tab = p.fds
		}
		k.mu.Unlock()
		if tab == nil {
			return nil, unix.ENOENT
		}
		f, cloexec, err := tab.Get(d.FD)
		if err != nil {
			return nil, unix.ENOENT
		}
		defer f.DecRef()
		flags := f.Flags.Load()
		if cloexec {
			flags |= unix.O_CLOEXEC
		}
		mnt := 1
		if dentryOf(f) == nil || dentryOf(f).Kind != vfs.KindGofer {
			mnt = 0
		}
		b := procfs.FDInfo(f.OffRep.Load(), flags, mnt)
		if in, ok := f.Impl.(*inotify.File); ok {
			b = append(b, in.FDInfo()...)
		}
		return b, nil
	}
	return procfs.Generate(procSource{k}, d.ProcScope, d.ProcName, d.PID, d.TID)
}

// openProcFile opens procfs file d (or an fdinfo file). Its content is
// taken at open, as Linux's seq files take it at the first read, and
// again at each later read at offset 0 (procFile.read).
func (k *clientState) openProcFile(d *dentry, flags, kept uint32) (*file, error) {
	v := k.vfs
	acc := flags & unix.O_ACCMODE
	if acc != unix.O_RDONLY && (d.Kind != vfs.KindProcFile || !procfs.Writable(d.ProcScope, d.ProcName)) {
		return nil, unix.EACCES
	}
	pf := &procFile{k: k, d: d, unread: true}
	if d.Kind == vfs.KindProcFile && d.ProcScope == procfs.PID && (d.ProcName == "mounts" || d.ProcName == "mountinfo") {
		// Before the content is taken: a change after it is reported.
		pf.mounts = v.Mounts
		pf.pollEvent, _ = v.Mounts.Event()
	}
	var data []byte
	if acc != unix.O_WRONLY {
		var err error
		if data, err = k.procFileData(d); err != nil {
			return nil, err
		}
	}
	pf.data = data
	return newFile(pf, d, kept), nil
}

// reopenGoferFile opens a new description of of's file, as open of
// /proc/<pid>/fd/<n> does on Linux: the same inode, whatever became of its
// name, through a clone of of's gofer handle.
func (c *syscallCtx) reopenGoferFile(of *file, g *vfs.GoferFile, flags, kept uint32) (*file, error) {
	v := c.k.vfs
	acc := flags & unix.O_ACCMODE
	var mask uint32
	if acc != unix.O_WRONLY {
		mask |= auth.MayRead
	}
	if acc == unix.O_WRONLY || acc == unix.O_RDWR || flags&unix.O_TRUNC != 0 {
		mask |= auth.MayWrite
	}
	st, err := g.Stat(c)
	if err != nil {
		return nil, err
	}
	if !c.callerCreds().Permits(vfs.AttrsOfStat(st), mask) {
		return nil, unix.EACCES
	}
	if g.Memfd != nil && flags&unix.O_TRUNC != 0 {
		if err := g.Memfd.CheckResize(c, of, 0); err != nil {
			return nil, err // F_SEAL_SHRINK
		}
	}
	ctx, cancel := v.RPCCtx()
	defer cancel()
	w, err := c.k.gofer.Walk(ctx, &goferpb.WalkRequest{Dir: g.Handle, Clone: true})
	if err := syserr.FromGofer("clone", w.GetErrno(), err); err != nil {
		return nil, err
	}
	if len(w.Files) != 1 || w.Files[0].GetHandle().GetId() == 0 {
		return nil, fmt.Errorf("clone answered %d files: %w", len(w.Files), unix.EIO)
	}
	h := w.Files[0].Handle.Id
	r, err := c.k.gofer.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: flags & (unix.O_ACCMODE | unix.O_TRUNC | unix.O_APPEND | unix.O_DIRECT | unix.O_SYNC | unix.O_DSYNC)})
	if err := syserr.FromGofer("open", r.GetErrno(), err); err != nil {
		c.k.releases.Release([]uint64{h})
		return nil, err
	}
	return newFile(vfs.NewGoferFile(v, h, g.FH, g.Memfd), dentryOf(of), kept), nil
}
