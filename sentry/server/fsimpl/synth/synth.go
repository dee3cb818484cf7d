package synth

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/devpts"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/epoll"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/eventfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inotify"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/pidfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/signalfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mqueue"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Kernel is what the synthesized files read of the kernel's state. Its
// methods take the kernel's lock themselves: the file system calls them
// with no lock held.
type Kernel interface {
	// Lookup says whether n is a process (isProc) or else a live thread
	// of process owner (owner 0: neither).
	Lookup(n int32) (isProc bool, owner int32)
	// ProcGen tells process pid from the others that had its id (0: no
	// such process).
	ProcGen(pid int32) uint64
	// IsLiveThread says whether tid is a live thread of process pid.
	IsLiveThread(pid, tid int32) bool
	// LiveThreads lists the TIDs of process pid's live threads, sorted.
	LiveThreads(pid int32) []int
	// PIDs lists the processes, sorted.
	PIDs() []int
	// Links returns the working directory, root (nil: the VFS's) and
	// executable of process pid (ENOENT: none, or a zombie).
	Links(pid int32) (cwd, root, exe *vfs.Dentry, err error)
	// FD returns a reference to fd of process pid and its close-on-exec
	// flag.
	FD(pid, fd int32) (*fdesc.File, bool, error)
	// FDs lists the fds of process pid (ok false: it has no fd table).
	FDs(pid int32) (fds []int32, ok bool)
	// FileName is the name /proc/<pid>/fd/<n> shows for a file of a kind
	// the kernel owns (pipe ends, stdio); ok false for the others.
	FileName(f *fdesc.File) (string, bool)
	// CallerIDs returns the PID and TID of call c.
	CallerIDs(c vfs.Caller) (pid, tid int32)
	// Source is what package procfs renders /proc's files from.
	Source() procfs.Source
	// Mqueues is the client's POSIX message queue namespace, which
	// /dev/mqueue shows.
	Mqueues() *mqueue.Registry
}

// FS is a client's synthesized /dev and /proc.
type FS struct {
	// v, k, devNodes (Hello.devices, checked by CheckDevNodes), ptys and
	// bornNs are immutable.
	v        *vfs.VFS
	k        Kernel
	devNodes []*sentrypb.DeviceNode
	ptys     *pty.Table
	// bornNs is every synthesized file's atime, mtime and ctime
	// (nanoseconds of CLOCK_REALTIME), as devtmpfs's nodes show the time
	// they were made at boot.
	bornNs int64
}

// New returns the synthesized files of namespace v, showing k's state,
// the device nodes devNodes and the terminals of ptys, with times bornNs.
func New(v *vfs.VFS, k Kernel, devNodes []*sentrypb.DeviceNode, ptys *pty.Table, bornNs int64) *FS {
	return &FS{v: v, k: k, devNodes: devNodes, ptys: ptys, bornNs: bornNs}
}

// BornNs returns the times of a client's synthesized files: its host's
// boot (the Hello's CLOCK_REALTIME less its CLOCK_BOOTTIME) in whole
// seconds, which a client reconnecting to another server gives again;
// now for a Hello without clocks.
func BornNs(clocks *sentrypb.ClockSample) int64 {
	if clocks.GetRealtime() == 0 {
		return time.Now().UnixNano()
	}
	boot := clocks.GetRealtime() - clocks.GetBoottime()
	return boot - boot%int64(time.Second)
}

// devNodes are the devices the sentry serves itself.
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

// devLinks are /dev's fixed symlinks.
var devLinks = map[string]string{
	"fd":     "/proc/self/fd",
	"stdin":  "/proc/self/fd/0",
	"stdout": "/proc/self/fd/1",
	"stderr": "/proc/self/fd/2",
	// The runtime spec's /dev/ptmx, as devpts's newinstance mounts want.
	"ptmx": "pts/ptmx",
}

// procPidDynamic are the names of /proc/<pid> that are not procfs files.
var procPidDynamic = []Dirent{
	{"cwd", 0, unix.DT_LNK}, {"exe", 0, unix.DT_LNK}, {"root", 0, unix.DT_LNK}, {"fd", 0, unix.DT_DIR},
	{"fdinfo", 0, unix.DT_DIR}, {"task", 0, unix.DT_DIR},
}

// procIno numbers a procfs file or directory.
func procIno(scope procfs.Scope, path string, pid, tid int32) uint64 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%d/%d/%s", scope, pid, tid, path)
	return vfs.SynthIno(10, int(h.Sum32()))
}

// procEntryDentry makes the dentry of procfs entry e, found in dir.
func (fs *FS) procEntryDentry(dir *vfs.Dentry, scope procfs.Scope, e procfs.Entry) *vfs.Dentry {
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
	d.PID, d.TID, d.Gen, d.ProcScope, d.ProcName = dir.PID, dir.TID, dir.Gen, scope, p
	if e.Kind == procfs.Link {
		d.Link = e.Target
		if t, ok := procfs.LinkTarget(fs.k.Source(), scope, p, dir.PID); ok {
			d.Link = t // of the process, at each lookup
		}
	}
	return d
}

// procDirScope says which procfs table directory d lists.
func procDirScope(d *vfs.Dentry) (procfs.Scope, string) {
	switch d.Kind {
	case vfs.KindProcPid:
		return procfs.PID, ""
	case vfs.KindProcSubdir:
		return d.ProcScope, d.ProcName
	}
	return procfs.Top, ""
}

// procPidIno is /proc/<pid>'s inode number for process generation gen:
// a process given the id of one before it (ns_last_pid) gets another
// directory inode, as Linux's proc inodes are each process's own: the
// generation's low 10 bits above the pid's 22 (MaxTID), in the low 32
// bits programs compare (LTP's pidfd_send_signal03 keeps an int); one
// 1024 processes later may share it.
func procPidIno(pid int32, gen uint64) uint64 {
	return vfs.SynthIno(6, int(uint32(pid)&(1<<22-1)|uint32(gen&(1<<10-1))<<22))
}

// parseID parses a canonical positive decimal id.
func parseID(name string) (int32, bool) {
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil || n < 0 || strconv.Itoa(int(n)) != name {
		return 0, false
	}
	return int32(n), true
}

// ProcPidDentry returns /proc/<pid> (in dir, a /proc directory) of the
// process of id pid and generation gen, whether or not it still exists:
// a lookup's, and a restored directory fd's, which refers to the process
// it was opened for.
func (fs *FS) ProcPidDentry(dir *vfs.Dentry, pid int32, gen uint64) *vfs.Dentry {
	d := vfs.NewSynthDentry(dir, strconv.Itoa(int(pid)), vfs.KindProcPid, unix.S_IFDIR|0555, procPidIno(pid, gen))
	d.PID, d.Gen = pid, gen
	return d
}

// gone says d is a /proc/<pid> directory, or a file under it, of a
// process that was reaped (its id perhaps given to another since): as
// Linux's proc inodes hold their struct pid, its names are then gone.
func (fs *FS) gone(d *vfs.Dentry) bool {
	return d.Gen != 0 && fs.k.ProcGen(d.PID) != d.Gen
}

// Lookup returns the child name of synthesized directory dir.
func (fs *FS) Lookup(c vfs.Caller, dir *vfs.Dentry, name string) (*vfs.Dentry, error) {
	v := fs.v
	mk := func(kind vfs.Kind, mode uint32, ino uint64) *vfs.Dentry {
		d := vfs.NewSynthDentry(dir, name, kind, mode, ino)
		d.PID, d.TID, d.Gen = dir.PID, dir.TID, dir.Gen
		return d
	}
	if fs.gone(dir) {
		return nil, unix.ENOENT
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
		if d := fs.ptyLookup(dir, name); d != nil {
			return d, nil
		}
		if d := fs.devNodeLookup(dir, name); d != nil {
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
	case vfs.KindMqueueDir:
		// A queue by name, looked up again at each walk: its mode and
		// owner are the queue's (Stat), and it is gone once unlinked.
		if st, ok := fs.k.Mqueues().Stat(name); ok {
			return mk(vfs.KindMqueue, st.Mode, st.Ino), nil
		}
	case vfs.KindDevPtsDir:
		if d := fs.ptyLookup(dir, name); d != nil {
			return d, nil
		}
	case vfs.KindProcDir:
		switch name {
		case "self", "thread-self":
			return mk(vfs.KindProcSelf, unix.S_IFLNK|0777, vfs.SynthIno(5, len(name))), nil
		}
		if pid, ok := parseID(name); ok {
			isProc, owner := fs.k.Lookup(pid)
			if isProc {
				return fs.ProcPidDentry(dir, pid, fs.k.ProcGen(pid)), nil
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
			return fs.procEntryDentry(dir, procfs.Top, e), nil
		}
	case vfs.KindProcPid:
		switch name {
		case "cwd":
			return mk(vfs.KindProcCwd, unix.S_IFLNK|0777, vfs.SynthIno(7, int(dir.PID))), nil
		case "exe":
			return mk(vfs.KindProcExe, unix.S_IFLNK|0777, vfs.SynthIno(8, int(dir.PID))), nil
		case "root":
			return mk(vfs.KindProcRoot, unix.S_IFLNK|0777, vfs.SynthIno(20, int(dir.PID))), nil
		case "fd":
			return mk(vfs.KindProcFdDir, unix.S_IFDIR|0500, vfs.SynthIno(9, int(dir.PID))), nil
		case "fdinfo":
			return mk(vfs.KindProcFdInfoDir, unix.S_IFDIR|0500, vfs.SynthIno(12, int(dir.PID))), nil
		case "task":
			return mk(vfs.KindProcTaskDir, unix.S_IFDIR|0555, vfs.SynthIno(13, int(dir.PID))), nil
		}
		if e, ok := procfs.Lookup(procfs.PID, "", name); ok {
			return fs.procEntryDentry(dir, procfs.PID, e), nil
		}
	case vfs.KindProcSubdir:
		if e, ok := procfs.Lookup(dir.ProcScope, dir.ProcName, name); ok {
			return fs.procEntryDentry(dir, dir.ProcScope, e), nil
		}
	case vfs.KindProcTaskDir:
		tid, ok := parseID(name)
		if !ok || !fs.k.IsLiveThread(dir.PID, tid) {
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
		f, _, err := fs.k.FD(dir.PID, fd)
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

// Readlink returns the target of synthesized symlink d.
func (fs *FS) Readlink(c vfs.Caller, d *vfs.Dentry) (string, error) {
	v := fs.v
	switch d.Kind {
	case vfs.KindProcSelf:
		pid, tid := fs.k.CallerIDs(c)
		if v.NameOf(d) == "thread-self" {
			return fmt.Sprintf("%d/task/%d", pid, tid), nil
		}
		return strconv.Itoa(int(pid)), nil
	case vfs.KindProcCwd, vfs.KindProcRoot, vfs.KindProcExe:
		t, err := fs.linkTarget(d)
		if err != nil {
			return "", err
		}
		// The path from the reader's root, as Linux's d_path (the
		// absolute path for a file outside it).
		p, _, ok := v.PathUnder(v.RootOf(c), t)
		if !ok {
			p += " (deleted)"
		}
		return p, nil
	case vfs.KindProcFd:
		f, _, err := fs.k.FD(d.PID, d.FD)
		if err != nil {
			return "", err
		}
		defer f.DecRef()
		return fs.FilePathFrom(v.RootOf(c), f), nil
	}
	return "", unix.EINVAL
}

// linkTarget returns what /proc/<pid>/cwd, root or exe d names.
func (fs *FS) linkTarget(d *vfs.Dentry) (*vfs.Dentry, error) {
	cwd, root, exe, err := fs.k.Links(d.PID)
	if err != nil {
		return nil, err
	}
	var t *vfs.Dentry
	switch d.Kind {
	case vfs.KindProcCwd:
		t = cwd
	case vfs.KindProcRoot:
		t = root
		if t == nil {
			t = fs.v.Root
		}
	default:
		t = exe
	}
	if t == nil {
		return nil, unix.ENOENT
	}
	return t, nil
}

// FilePath is the name /proc/<pid>/fd/<n> shows for f to a reader whose
// root is the sandbox's.
func (fs *FS) FilePath(f *fdesc.File) string { return fs.FilePathFrom(fs.v.Root, f) }

// FilePathFrom is the name /proc/<pid>/fd/<n> shows for f to a reader
// whose root is root (a file outside it: its absolute path).
func (fs *FS) FilePathFrom(root *vfs.Dentry, f *fdesc.File) string {
	v := fs.v
	if name, ok := fs.k.FileName(f); ok {
		return name
	}
	switch impl := f.Impl.(type) {
	case *eventfd.File:
		return "anon_inode:[eventfd]"
	case *epoll.File:
		return "anon_inode:[eventpoll]"
	case *signalfd.File:
		return "anon_inode:[signalfd]"
	case *pidfd.File:
		return "anon_inode:[pidfd]"
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
	if vfs.DentryOf(f) == nil {
		return "anon_inode:[unknown]"
	}
	p, _, ok := v.PathUnder(root, vfs.DentryOf(f))
	if !ok {
		p += " (deleted)"
	}
	return p
}

// MagicTarget resolves /proc magic links to what they name rather than to
// their text. ok is false for ordinary symlinks.
func (fs *FS) MagicTarget(c vfs.Caller, d *vfs.Dentry) (*vfs.Dentry, bool, error) {
	v := fs.v
	switch d.Kind {
	case vfs.KindProcCwd, vfs.KindProcRoot, vfs.KindProcExe:
		t, err := fs.linkTarget(d)
		if err != nil {
			return nil, true, err
		}
		return t, true, nil
	case vfs.KindProcFd:
		f, _, err := fs.k.FD(d.PID, d.FD)
		if err != nil {
			return nil, true, unix.ENOENT
		}
		defer f.DecRef()
		if _, isGofer := f.Impl.(*vfs.GoferFile); isGofer && v.IsDeleted(vfs.DentryOf(f)) {
			// A file with no name left: opening the link itself opens
			// the inode (the kernel's open of the link).
			return d, true, nil
		}
		if vfs.DentryOf(f) != nil {
			return vfs.DentryOf(f), true, nil
		}
		// Pipes and stdio: opening the link itself reopens the file.
		return d, true, nil
	}
	return nil, false, nil
}

// Stat returns the attributes of a synthesized file.
func (fs *FS) Stat(d *vfs.Dentry) *goferpb.Stat {
	st := &goferpb.Stat{Mode: d.Mode, Nlink: 1, Ino: d.Ino(), Dev: vfs.SynthDev, Blksize: 4096,
		AtimeNs: fs.bornNs, MtimeNs: fs.bornNs, CtimeNs: fs.bornNs}
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
		n := fs.devNodes[d.FD]
		st.Rdev, st.Uid, st.Gid = unix.Mkdev(n.Major, n.Minor), n.Uid, n.Gid
	case vfs.KindLink:
		st.Size = uint64(len(d.Link))
	case vfs.KindProcFd:
		// Linux's proc_fd_link inode: r-x for a readable description,
		// -wx for a writable one, and 64 bytes.
		st.Mode, st.Size = unix.S_IFLNK, 64
		if f, _, err := fs.k.FD(d.PID, d.FD); err == nil {
			if f.Readable() {
				st.Mode |= 0500
			}
			if f.Writable() {
				st.Mode |= 0300
			}
			f.DecRef()
		}
	case vfs.KindMqueue:
		if q, ok := fs.k.Mqueues().Stat(d.SynthName()); ok && q.Ino == d.Ino() {
			return q
		}
	case vfs.KindMqueueDir:
		// Linux's mqueue root counts DIRENT_SIZE (20) for "." and ".."
		// and each queue.
		st.Size = uint64(20 * (2 + fs.k.Mqueues().Count()))
	}
	return st
}

// Dirent is an entry of a synthesized directory: its name, inode
// number and DT_* type.
type Dirent struct {
	Name string
	Ino  uint64
	Type uint8
}

// List lists a synthesized directory (without "." and "..") as a process
// of mount namespace ns sees it (/dev/mqueue is a mount).
func (fs *FS) List(ns uint64, d *vfs.Dentry) []Dirent {
	v := fs.v
	var out []Dirent
	switch d.Kind {
	case vfs.KindDevDir:
		var names []string
		for n := range devNodes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, Dirent{n, vfs.SynthIno(3, int(devNodes[n].minor)), unix.DT_CHR})
		}
		out = append(out, Dirent{"tty", vfs.SynthIno(3, 100), unix.DT_CHR})
		out = append(out, Dirent{"pts", vfs.SynthIno(17, 0), unix.DT_DIR})
		out = append(out, fs.devNodeList()...)
		if shm, err := v.ShmDentry(); err == nil {
			out = append(out, Dirent{"shm", shm.Ino(), unix.DT_DIR})
		}
		if mq := v.MqueueDentry(ns); mq != nil {
			out = append(out, Dirent{"mqueue", mq.Ino(), unix.DT_DIR})
		}
		for _, n := range []string{"fd", "ptmx", "stderr", "stdin", "stdout"} {
			out = append(out, Dirent{n, vfs.SynthIno(4, len(n)), unix.DT_LNK})
		}
	case vfs.KindMqueueDir:
		names := fs.k.Mqueues().Names()
		sort.Strings(names)
		for _, n := range names {
			if st, ok := fs.k.Mqueues().Stat(n); ok {
				out = append(out, Dirent{n, st.Ino, unix.DT_REG})
			}
		}
	case vfs.KindDevPtsDir:
		out = fs.ptsList()
	case vfs.KindProcDir:
		out = append(out, Dirent{"self", vfs.SynthIno(5, 4), unix.DT_LNK}, Dirent{"thread-self", vfs.SynthIno(5, 11), unix.DT_LNK})
		for _, pid := range fs.k.PIDs() {
			out = append(out, Dirent{strconv.Itoa(pid), procPidIno(int32(pid), fs.k.ProcGen(int32(pid))), unix.DT_DIR})
		}
		out = append(out, fs.procfsDirents(d)...)
	case vfs.KindProcPid:
		for _, e := range procPidDynamic {
			out = append(out, Dirent{e.Name, vfs.SynthIno(16, len(e.Name)), e.Type})
		}
		out = append(out, fs.procfsDirents(d)...)
	case vfs.KindProcSubdir:
		out = append(out, fs.procfsDirents(d)...)
	case vfs.KindProcTaskDir:
		for _, tid := range fs.k.LiveThreads(d.PID) {
			out = append(out, Dirent{strconv.Itoa(tid), vfs.SynthIno(14, tid), unix.DT_DIR})
		}
	case vfs.KindProcFdDir, vfs.KindProcFdInfoDir:
		if fds, ok := fs.k.FDs(d.PID); ok {
			for _, fd := range fds {
				if d.Kind == vfs.KindProcFdInfoDir {
					out = append(out, Dirent{strconv.Itoa(int(fd)), vfs.SynthIno(15, int(fd)), unix.DT_REG})
					continue
				}
				out = append(out, Dirent{strconv.Itoa(int(fd)), vfs.SynthIno(11, int(fd)), unix.DT_LNK})
			}
		}
	}
	return out
}

// procfsDirents lists the procfs entries of directory d.
func (fs *FS) procfsDirents(d *vfs.Dentry) []Dirent {
	scope, dir := procDirScope(d)
	var out []Dirent
	for _, e := range procfs.List(scope, dir) {
		typ := uint8(unix.DT_REG)
		switch e.Kind {
		case procfs.Dir:
			typ = unix.DT_DIR
		case procfs.Link:
			typ = unix.DT_LNK
		}
		out = append(out, Dirent{e.Name, fs.procEntryDentry(d, scope, e).Ino(), typ})
	}
	return out
}

// fileData renders procfs file d, or /proc/<pid>/fdinfo/<n>.
func (fs *FS) fileData(d *vfs.Dentry) ([]byte, error) {
	if fs.gone(d) {
		return nil, unix.ENOENT // as for a process not there (ProcFile.Read)
	}
	if d.Kind == vfs.KindProcFdInfo {
		f, cloexec, err := fs.k.FD(d.PID, d.FD)
		if err != nil {
			return nil, unix.ENOENT
		}
		defer f.DecRef()
		flags := f.Flags.Load()
		if cloexec {
			flags |= unix.O_CLOEXEC
		}
		mnt := 1
		if vfs.DentryOf(f) == nil || vfs.DentryOf(f).Kind != vfs.KindGofer {
			mnt = 0
		}
		b := procfs.FDInfo(f.OffRep.Load(), flags, mnt)
		switch impl := f.Impl.(type) {
		case *inotify.File:
			b = append(b, impl.FDInfo()...)
		case *pidfd.File:
			b = append(b, impl.FDInfo()...)
		}
		return b, nil
	}
	return procfs.Generate(fs.k.Source(), d.ProcScope, d.ProcName, d.PID, d.TID)
}

// OpenProcFile opens procfs file d (or an fdinfo file). Its content is
// taken at open, as Linux's seq files take it at the first read, and
// again at each later read at offset 0 (ProcFile.Read); a ranged file's
// (pagemap) at each read, for the range read.
func (fs *FS) OpenProcFile(d *vfs.Dentry, flags, kept uint32) (*fdesc.File, error) {
	v := fs.v
	acc := flags & unix.O_ACCMODE
	if acc != unix.O_RDONLY && (d.Kind != vfs.KindProcFile || !procfs.Writable(d.ProcScope, d.ProcName)) {
		return nil, unix.EACCES
	}
	if acc != unix.O_WRONLY && d.Kind == vfs.KindProcFile && !procfs.Readable(d.ProcScope, d.ProcName) {
		return nil, unix.EACCES // write-only, even for root, as Linux's sysctls
	}
	pf := &ProcFile{fs: fs, d: d, unread: true}
	if d.Kind == vfs.KindProcFile && d.ProcScope == procfs.PID && (d.ProcName == "mounts" || d.ProcName == "mountinfo") {
		// Before the content is taken: a change after it is reported.
		pf.mounts = v.Mounts
		pf.pollEvent, _ = v.Mounts.Event()
	}
	var data []byte
	if acc != unix.O_WRONLY && !pf.ranged() {
		var err error
		if data, err = fs.fileData(d); err != nil {
			return nil, err
		}
	}
	pf.data = data
	return fdesc.NewFile(pf, d, d.Owner(), kept), nil
}
