package server

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// This file synthesizes /dev and /proc from the server's own state.

var devNodes = map[string]struct {
	kind  devKind
	minor uint64
}{
	"null":    {devNull, 3},
	"zero":    {devZero, 5},
	"full":    {devFull, 7},
	"random":  {devRandom, 8},
	"urandom": {devRandom, 9},
}

var devLinks = map[string]string{
	"fd":     "/proc/self/fd",
	"stdin":  "/proc/self/fd/0",
	"stdout": "/proc/self/fd/1",
	"stderr": "/proc/self/fd/2",
}

var procPidFiles = []string{"cmdline", "comm", "cwd", "exe", "fd", "stat", "status"}

func (v *vfs) synthLookup(c *syscallCtx, dir *dentry, name string) (*dentry, error) {
	mk := func(kind dentryKind, mode uint32, ino uint64) *dentry {
		return &dentry{v: v, kind: kind, mode: mode, ino: ino, parent: dir, name: name, pid: dir.pid}
	}
	switch dir.kind {
	case dkDevDir:
		if n, ok := devNodes[name]; ok {
			d := mk(dkDev, unix.S_IFCHR|0666, synthIno(3, int(n.minor)))
			d.dev = n.kind
			return d, nil
		}
		if name == "tty" {
			return mk(dkDevTty, unix.S_IFCHR|0666, synthIno(3, 100)), nil
		}
		if t, ok := devLinks[name]; ok {
			d := mk(dkLink, unix.S_IFLNK|0777, synthIno(4, len(name)))
			d.link = t
			return d, nil
		}
	case dkProcDir:
		switch name {
		case "self", "thread-self":
			return mk(dkProcSelf, unix.S_IFLNK|0777, synthIno(5, len(name))), nil
		}
		pid, err := strconv.ParseInt(name, 10, 32)
		if err != nil || pid <= 0 || strconv.Itoa(int(pid)) != name {
			return nil, unix.ENOENT
		}
		v.k.mu.Lock()
		_, ok := v.k.procs[int32(pid)]
		v.k.mu.Unlock()
		if !ok {
			return nil, unix.ENOENT
		}
		d := mk(dkProcPid, unix.S_IFDIR|0555, synthIno(6, int(pid)))
		d.pid = int32(pid)
		return d, nil
	case dkProcPid:
		switch name {
		case "cwd":
			return mk(dkProcCwd, unix.S_IFLNK|0777, synthIno(7, int(dir.pid))), nil
		case "exe":
			return mk(dkProcExe, unix.S_IFLNK|0777, synthIno(8, int(dir.pid))), nil
		case "fd":
			return mk(dkProcFdDir, unix.S_IFDIR|0500, synthIno(9, int(dir.pid))), nil
		case "cmdline", "comm", "stat", "status":
			d := mk(dkProcFile, unix.S_IFREG|0444, synthIno(10, int(dir.pid)))
			d.procName = name
			return d, nil
		}
	case dkProcFdDir:
		fd, err := strconv.ParseInt(name, 10, 32)
		if err != nil || fd < 0 || strconv.Itoa(int(fd)) != name {
			return nil, unix.ENOENT
		}
		f, err := v.procFDFile(dir.pid, int32(fd))
		if err != nil {
			return nil, unix.ENOENT
		}
		f.decRef()
		d := mk(dkProcFd, unix.S_IFLNK|0700, synthIno(11, int(fd)))
		d.fd = int32(fd)
		return d, nil
	}
	return nil, unix.ENOENT
}

// procFDFile returns (a reference to) fd of process pid.
func (v *vfs) procFDFile(pid, fd int32) (*file, error) {
	v.k.mu.Lock()
	p := v.k.procs[pid]
	var tab *fdTable
	if p != nil {
		tab = p.fds
	}
	v.k.mu.Unlock()
	if tab == nil {
		return nil, unix.ENOENT
	}
	f, _, err := tab.get(fd)
	return f, err
}

// procState returns what /proc needs of process pid.
func (v *vfs) procState(pid int32) (cwd, exe *dentry, comm string, argv []string, ppid int32, err error) {
	v.k.mu.Lock()
	defer v.k.mu.Unlock()
	p := v.k.procs[pid]
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

func (v *vfs) synthReadlink(c *syscallCtx, d *dentry) (string, error) {
	switch d.kind {
	case dkProcSelf:
		return strconv.Itoa(int(c.pid())), nil
	case dkProcCwd, dkProcExe:
		cwd, exe, _, _, _, err := v.procState(d.pid)
		if err != nil {
			return "", err
		}
		t := cwd
		if d.kind == dkProcExe {
			t = exe
		}
		if t == nil {
			return "", unix.ENOENT
		}
		p, ok := v.pathOf(t)
		if !ok {
			p += " (deleted)"
		}
		return p, nil
	case dkProcFd:
		f, err := v.procFDFile(d.pid, d.fd)
		if err != nil {
			return "", err
		}
		defer f.decRef()
		return v.filePath(f), nil
	}
	return "", unix.EINVAL
}

// filePath is the name /proc/<pid>/fd/<n> shows for f.
func (v *vfs) filePath(f *file) string {
	switch impl := f.impl.(type) {
	case *pipeEnd:
		return fmt.Sprintf("pipe:[%d]", impl.p.ino)
	case *stdioFile:
		if impl.tty {
			return "/dev/pts/0"
		}
		return fmt.Sprintf("pipe:[stdio%d]", impl.fd)
	}
	if f.d == nil {
		return "anon_inode:[unknown]"
	}
	p, ok := v.pathOf(f.d)
	if !ok {
		p += " (deleted)"
	}
	return p
}

// magicTarget resolves /proc magic links to what they name rather than to
// their text. ok is false for ordinary symlinks.
func (v *vfs) magicTarget(c *syscallCtx, d *dentry) (*dentry, bool, error) {
	switch d.kind {
	case dkProcCwd, dkProcExe:
		cwd, exe, _, _, _, err := v.procState(d.pid)
		if err != nil {
			return nil, true, err
		}
		t := cwd
		if d.kind == dkProcExe {
			t = exe
		}
		if t == nil {
			return nil, true, unix.ENOENT
		}
		return t, true, nil
	case dkProcFd:
		f, err := v.procFDFile(d.pid, d.fd)
		if err != nil {
			return nil, true, unix.ENOENT
		}
		defer f.decRef()
		if f.d != nil {
			return f.d, true, nil
		}
		// Pipes and stdio: opening the link itself reopens the file.
		return d, true, nil
	}
	return nil, false, nil
}

// synthStat returns the attributes of a synthesized file.
func (d *dentry) synthStat() *goferpb.Stat {
	now := time.Now().UnixNano()
	st := &goferpb.Stat{Mode: d.mode, Nlink: 1, Ino: d.ino, Dev: synthDev, Blksize: 4096,
		AtimeNs: now, MtimeNs: now, CtimeNs: now}
	if d.isDir() {
		st.Nlink = 2
	}
	switch d.kind {
	case dkDev:
		for _, n := range devNodes {
			if n.kind == d.dev && synthIno(3, int(n.minor)) == d.ino {
				st.Rdev = 1<<8 | n.minor
			}
		}
	case dkDevTty:
		st.Rdev = 5 << 8
	case dkLink:
		st.Size = uint64(len(d.link))
	}
	return st
}

type synthDirent struct {
	name string
	ino  uint64
	typ  uint8
}

// synthList lists a synthesized directory (without "." and "..").
func (v *vfs) synthList(c *syscallCtx, d *dentry) []synthDirent {
	var out []synthDirent
	switch d.kind {
	case dkDevDir:
		var names []string
		for n := range devNodes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, synthDirent{n, synthIno(3, int(devNodes[n].minor)), unix.DT_CHR})
		}
		out = append(out, synthDirent{"tty", synthIno(3, 100), unix.DT_CHR})
		for _, n := range []string{"fd", "stderr", "stdin", "stdout"} {
			out = append(out, synthDirent{n, synthIno(4, len(n)), unix.DT_LNK})
		}
	case dkProcDir:
		out = append(out, synthDirent{"self", synthIno(5, 4), unix.DT_LNK}, synthDirent{"thread-self", synthIno(5, 11), unix.DT_LNK})
		v.k.mu.Lock()
		var pids []int
		for pid, p := range v.k.procs {
			if !p.zombie {
				pids = append(pids, int(pid))
			}
		}
		v.k.mu.Unlock()
		sort.Ints(pids)
		for _, pid := range pids {
			out = append(out, synthDirent{strconv.Itoa(pid), synthIno(6, pid), unix.DT_DIR})
		}
	case dkProcPid:
		for _, n := range procPidFiles {
			typ := uint8(unix.DT_REG)
			switch n {
			case "cwd", "exe":
				typ = unix.DT_LNK
			case "fd":
				typ = unix.DT_DIR
			}
			out = append(out, synthDirent{n, synthIno(12, len(n)), typ})
		}
	case dkProcFdDir:
		v.k.mu.Lock()
		var tab *fdTable
		if p := v.k.procs[d.pid]; p != nil {
			tab = p.fds
		}
		v.k.mu.Unlock()
		if tab != nil {
			for _, fd := range tab.list() {
				out = append(out, synthDirent{strconv.Itoa(int(fd)), synthIno(11, int(fd)), unix.DT_LNK})
			}
		}
	}
	return out
}

// procFileData renders /proc/<pid>/<name>.
func (v *vfs) procFileData(d *dentry) ([]byte, error) {
	_, _, comm, argv, ppid, err := v.procState(d.pid)
	if err != nil {
		return nil, err
	}
	switch d.procName {
	case "cmdline":
		var b []byte
		for _, a := range argv {
			b = append(b, a...)
			b = append(b, 0)
		}
		return b, nil
	case "comm":
		return []byte(comm + "\n"), nil
	case "stat":
		return []byte(fmt.Sprintf("%d (%s) R %d %d %d 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 0 0 0\n", d.pid, comm, ppid, d.pid, d.pid)), nil
	case "status":
		return []byte(fmt.Sprintf("Name:\t%s\nState:\tR (running)\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\n", comm, d.pid, d.pid, ppid)), nil
	}
	return nil, unix.ENOENT
}
