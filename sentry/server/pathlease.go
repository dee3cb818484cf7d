package server

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Path leases (docs/ARCHITECTURE.md, "The client's path cache"): the glue
// between package readlease and the server. A client that asks
// (Hello.path_leases) gets a PathLease in the reply of a stat, access or
// readlink of a path whose walk crossed only gofer files, when it wants
// one (Syscall.path_lease_wanted): one lease per
// client on readlease.Namespace, which every change of a name or of a
// file's attributes through this server revokes (the attribute cache's
// observer: leaseObserver), as do mount and umount.

// pathLeaseCalls are the calls whose answer a PathLease may cover.
var pathLeaseCalls = map[int32]bool{
	unix.SYS_STAT: true, unix.SYS_LSTAT: true, unix.SYS_NEWFSTATAT: true, unix.SYS_STATX: true,
	unix.SYS_ACCESS: true, unix.SYS_FACCESSAT: true, unix.SYS_FACCESSAT2: true,
	unix.SYS_READLINK: true, unix.SYS_READLINKAT: true,
	unix.SYS_OPEN: true, unix.SYS_OPENAT: true, // read-only (postopen.go)
}

// namespaceCalls change this client's mount table: the answers of its
// path calls may change with them.
var namespaceCalls = map[int32]bool{unix.SYS_MOUNT: true, unix.SYS_UMOUNT2: true}

// pathArgs are the indexes of a path call's dirfd (-1: none, the cwd)
// and path arguments.
var pathArgs = map[int32][2]int{
	unix.SYS_STAT: {-1, 0}, unix.SYS_LSTAT: {-1, 0}, unix.SYS_NEWFSTATAT: {0, 1}, unix.SYS_STATX: {0, 1},
	unix.SYS_ACCESS: {-1, 0}, unix.SYS_FACCESSAT: {0, 1}, unix.SYS_FACCESSAT2: {0, 1},
	unix.SYS_READLINK: {-1, 0}, unix.SYS_READLINKAT: {0, 1},
	unix.SYS_OPEN: {-1, 0}, unix.SYS_OPENAT: {0, 1},
}

// pathView is what a path call's answer depends on besides the
// namespace, as it was when the call began: the caller's credentials,
// and where a relative path starts (the cwd, or dirfd's description).
// The grant fails if it changed by the end (another thread's set*id,
// chdir or dup2), and the lease names it (PathLease.creds, cwd,
// dir_file).
type pathView struct {
	creds auth.Creds
	// cwd is the start of a path relative to the cwd; dir the
	// description of dirfd for one relative to it; both nil for an
	// absolute path.
	cwd *vfs.Dentry
	dir *file
}

// viewOf returns c's pathView (ok false: its answer gets no lease).
func (c *syscallCtx) viewOf() (pathView, bool) {
	v := pathView{creds: c.creds()}
	var path string
	dirfd := int32(atFDCWD)
	if c.sysno == unix.SYS_GETDENTS64 {
		path = c.listingPath
	} else {
		idx := pathArgs[c.sysno]
		p, err := c.pathArg(idx[1])
		if err != nil {
			return pathView{}, false
		}
		path = p
		if idx[0] >= 0 {
			dirfd = c.argInt(idx[0])
		}
	}
	switch {
	case strings.HasPrefix(path, "/"):
	case dirfd == atFDCWD:
		v.cwd = c.cwd()
	default:
		f, err := c.getFile(dirfd)
		if err != nil {
			return pathView{}, false
		}
		f.DecRef() // compared by identity only
		v.dir = f
	}
	return v, true
}

// sameView says whether w, taken at the end of the call, is v.
func (v pathView) same(w pathView) bool {
	return v.cwd == w.cwd && v.dir == w.dir && v.creds.RUID == w.creds.RUID && v.creds.EUID == w.creds.EUID &&
		v.creds.SUID == w.creds.SUID && v.creds.RGID == w.creds.RGID && v.creds.EGID == w.creds.EGID &&
		v.creds.SGID == w.creds.SGID && v.creds.FSUID == w.creds.FSUID && v.creds.FSGID == w.creds.FSGID &&
		v.creds.Caps == w.creds.Caps && slices.Equal(v.creds.Groups, w.creds.Groups)
}

// leaseView fills l's creds, cwd and dir_file from v (false: it cannot
// name v's start).
func (k *clientState) leaseView(l *sentrypb.PathLease, v pathView) bool {
	l.Creds = &sentrypb.ProcessState{
		Ruid: v.creds.RUID, Euid: v.creds.EUID, Suid: v.creds.SUID,
		Rgid: v.creds.RGID, Egid: v.creds.EGID, Sgid: v.creds.SGID,
		Groups: v.creds.Groups, Caps: capsProto(v.creds.Caps),
	}
	switch {
	case v.cwd != nil:
		l.Cwd = &sentrypb.FsState{Cwd: "/"}
		l.Cwd.Cwd, _ = k.vfs.PathOf(v.cwd)
		// As the fs record carries it (bound to the client).
		if fh := k.vfs.FileHandleOf(v.cwd); len(fh) > 0 {
			l.Cwd.CwdHandle = k.binder.Bind(fh)
		}
	case v.dir != nil:
		if l.DirFile = v.dir.ID.Load(); l.DirFile == 0 {
			return false
		}
	}
	return true
}

// leasableErrno says whether a path call's failure depends only on the
// names and attributes the lease covers (and the call's arguments).
func leasableErrno(sysno int32, e unix.Errno) bool {
	switch e {
	case 0, unix.ENOENT, unix.ENOTDIR, unix.EACCES, unix.ELOOP, unix.ENAMETOOLONG:
		return true
	case unix.EINVAL:
		// readlink of a file that is no symlink.
		return sysno == unix.SYS_READLINK || sysno == unix.SYS_READLINKAT
	}
	return false
}

// beginPathLease starts a path lease's grant for c, before its walk, if
// its client wants one (Syscall.path_lease_wanted): a change of anything
// in between makes the grant fail (readlease.Ticket). It returns nil
// when c gets none.
func (k *clientState) beginPathLease(c *syscallCtx, wanted bool, listingPath string) *readlease.Ticket {
	if !wanted || !k.pathLeases || k.leaseHolder.Disabled() {
		return nil
	}
	if c.sysno == unix.SYS_GETDENTS64 {
		if listingPath == "" {
			return nil
		}
		c.listingPath = listingPath
	} else if !pathLeaseCalls[c.sysno] || !c.openLeasable() {
		return nil
	}
	view, ok := c.viewOf()
	if !ok {
		return nil
	}
	c.pathView = &view
	t := k.readLeases.Begin(readlease.Namespace)
	return &t
}

// endPathLease ends the grant tk (nil: none) of c, which returned err, by
// adding a PathLease to its reply if its answer may be kept. A mount or
// umount revokes every path lease before its reply.
func (k *clientState) endPathLease(c *syscallCtx, tk *readlease.Ticket, skipped bool, err error) {
	if namespaceCalls[c.sysno] && err == nil && !skipped && k.readLeases != nil {
		leaseObserver{r: k.readLeases, log: k.log}.NamesChanged(k.ctx)
	}
	if tk == nil {
		return
	}
	reg := k.readLeases
	e := syserr.ErrnoOf(err)
	if skipped || c.notLeasable || !leasableErrno(c.sysno, e) || (err != nil && syserr.KeepsOutputs(err)) {
		reg.Abort(*tk)
		return
	}
	if end, ok := c.viewOf(); !ok || !c.pathView.same(end) {
		reg.Abort(*tk)
		return
	}
	var listed []*sentrypb.ListedStat
	if c.sysno == unix.SYS_GETDENTS64 {
		if listed = c.listedStats(); len(listed) == 0 {
			reg.Abort(*tk)
			return
		}
	}
	id, epoch, left, ok := reg.GrantShared(k.leaseHolder, *tk)
	if !ok || left <= 0 {
		return
	}
	l := &sentrypb.PathLease{Id: id, Epoch: epoch, TtlMs: uint32(left.Milliseconds())}
	if !k.leaseView(l, *c.pathView) {
		return // the lease stays until it expires; the client knows nothing of it
	}
	c.reply.PathLease = l
	c.reply.Listed = listed
}

// listedStats returns the lstat answers of c.listingPath/<name> for the
// entries getdents64 call c listed, if c.listingPath still names the
// directory listed, the caller may search it, and the listing brought
// each entry's attributes (vfs.ListedStat: no gofer call here). A
// directory with grafted mounts gets none (a name may be covered).
func (c *syscallCtx) listedStats() []*sentrypb.ListedStat {
	v := c.k.vfs
	if v.HasMounts() {
		return nil
	}
	f, err := c.getFile(c.argInt(0))
	if err != nil {
		return nil
	}
	dir := dentryOf(f)
	f.DecRef()
	d, _, err := c.lookupAt(atFDCWD, c.listingPath, true, false)
	if err != nil || d != dir || c.notLeasable || d.Kind != vfs.KindGofer || c.MaySearch(d) != nil {
		return nil
	}
	var out []*sentrypb.ListedStat
	for _, o := range c.mem.Outputs() {
		if o.Addr != c.args[1] {
			continue
		}
		for b := o.Data; len(b) >= 19; {
			reclen := int(binary.LittleEndian.Uint16(b[16:]))
			if reclen < 20 || reclen > len(b) {
				break
			}
			name := string(bytes.TrimRight(b[19:reclen], "\x00"))
			b = b[reclen:]
			if name == "." || name == ".." || name == "" {
				continue
			}
			ch := v.CachedChild(d, name)
			if ch == nil || ch.Kind != vfs.KindGofer {
				continue
			}
			st := v.ListedStat(ch)
			if st == nil || st.Ino != ch.Ino() {
				continue
			}
			ls := toLinuxStat(st)
			sb := make([]byte, ls.SizeBytes())
			ls.MarshalBytes(sb)
			out = append(out, &sentrypb.ListedStat{Name: name, Stat: sb})
		}
	}
	return out
}
