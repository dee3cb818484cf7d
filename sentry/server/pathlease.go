package server

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Path leases (docs/ARCHITECTURE.md, "The client's path cache"): the glue
// between package readlease and the server. A client that asks
// (Hello.path_leases) gets a PathLease in the reply of a stat, access or
// readlink of a path whose walk crossed only gofer files, when it wants
// one (Syscall.path_lease_wanted): a lease per inode and kind the walk
// touched (readlease.PathKey: the directories it searched and the files
// it found, the attributes of the one it ended at, the names missing in
// the directory a lookup failed in), which the changes of those inodes
// and directories through this server revoke (the attribute cache's
// observer: leaseObserver); mount and umount revoke them all.

// pathLeaseCalls are the calls whose answer a PathLease may cover.
var pathLeaseCalls = map[int32]bool{
	unix.SYS_STAT: true, unix.SYS_LSTAT: true, unix.SYS_NEWFSTATAT: true, unix.SYS_STATX: true,
	unix.SYS_ACCESS: true, unix.SYS_FACCESSAT: true, unix.SYS_FACCESSAT2: true,
	unix.SYS_READLINK: true, unix.SYS_READLINKAT: true,
	unix.SYS_OPEN: true, unix.SYS_OPENAT: true, // read-only (postopen.go)
	unix.SYS_UNLINK: true, unix.SYS_UNLINKAT: true, // ENOENT (negunlink.go)
	unix.SYS_GETCWD: true, // the cwd's path (search leases of it and each directory above)
}

// modeOnlyCalls are the path calls whose answer depends on the file
// they end at by its type, mode and owner alone (access: the permission
// bits and ids; readlink: whether it is a symlink, whose target never
// changes), not on its times, size or link count: a directory they end
// at is held by its search lease (readlease.PathSearch), which names
// made or removed in it do not revoke, and not by its attributes'. gcc's
// access and readlink of /tmp, where each compilation makes and removes
// its temporary files, are answered on the client again and again.
var modeOnlyCalls = map[int32]bool{
	unix.SYS_ACCESS: true, unix.SYS_FACCESSAT: true, unix.SYS_FACCESSAT2: true,
	unix.SYS_READLINK: true, unix.SYS_READLINKAT: true,
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
	unix.SYS_MKDIR: {-1, 0}, unix.SYS_MKDIRAT: {0, 1}, unix.SYS_OPEN: {-1, 0}, unix.SYS_OPENAT: {0, 1},
	unix.SYS_UNLINK: {-1, 0}, unix.SYS_UNLINKAT: {0, 1},
}

// creationCall says whether c is a call whose success made a name
// (mkdir, mkdirat, an open or openat with O_CREAT|O_EXCL): its reply may
// carry the stat answer of the directory it made it in
// (Reply.parent_stat).
func creationCall(c *kernel.Task) bool {
	const excl = unix.O_CREAT | unix.O_EXCL
	switch c.Sysno {
	case unix.SYS_MKDIR, unix.SYS_MKDIRAT:
		return true
	case unix.SYS_OPEN:
		return c.Args[1]&excl == excl
	case unix.SYS_OPENAT:
		return c.Args[2]&excl == excl
	}
	return false
}

// pathView is what a path call's answer depends on besides the
// namespace (package kernel's PathView).
type pathView = kernel.PathView

// keySet collects path lease keys, each once, in order.
type keySet struct {
	keys []readlease.Key
	seen map[readlease.Key]bool
}

func (s *keySet) add(kind readlease.PathKind, ds ...*vfs.Dentry) {
	for _, d := range ds {
		if d != nil {
			s.addKey(readlease.PathKey(kind, d.Ino()))
		}
	}
}

// addKey adds k unless it is there.
func (s *keySet) addKey(k readlease.Key) {
	if s.seen == nil {
		s.seen = make(map[readlease.Key]bool)
	}
	if !s.seen[k] {
		s.seen[k] = true
		s.keys = append(s.keys, k)
	}
}

// walkKeys returns the keys of the answer of a walk that ended at final
// (nil: it failed with a lookup's error): the directories searched and
// files found (PathSearch, whose ids come first: nSearch of them), the
// final file's attributes, and, for a failure, the names of every
// directory searched (the missing name may be in any).
func walkKeys(v *pathView, final *vfs.Dentry) (keys []readlease.Key, nSearch int) {
	var s keySet
	s.add(readlease.PathSearch, v.Searched...)
	s.add(readlease.PathSearch, v.Found...)
	if final != nil {
		s.add(readlease.PathSearch, final)
	}
	nSearch = len(s.keys)
	if final != nil {
		s.addKey(readlease.AttrsKey(final.Ino(), final.IsDir()))
	} else {
		s.add(readlease.PathNames, v.Searched...)
	}
	return s.keys, nSearch
}

// viewOf returns c's pathView (ok false: its answer gets no lease).
func viewOf(c *kernel.Task) (pathView, bool) {
	v := pathView{Creds: c.ProcessCreds()}
	var path string
	dirfd := int32(linux.AT_FDCWD)
	if c.Sysno == unix.SYS_GETCWD {
		v.Cwd = c.Cwd()
		return v, true
	}
	if c.Sysno == unix.SYS_GETDENTS64 {
		path = c.ListingPath
		if path == "" {
			// Answers relative to the fd listed.
			path, dirfd = ".", syscalls.ArgInt(c, 0)
		}
	} else {
		idx := pathArgs[c.Sysno]
		p, err := syscalls.PathArg(c, idx[1])
		if err != nil {
			return pathView{}, false
		}
		path = p
		if idx[0] >= 0 {
			dirfd = syscalls.ArgInt(c, idx[0])
		}
	}
	switch {
	case strings.HasPrefix(path, "/"):
	case dirfd == linux.AT_FDCWD:
		v.Cwd = c.Cwd()
	default:
		f, err := c.GetFile(dirfd)
		if err != nil {
			return pathView{}, false
		}
		f.DecRef() // compared by identity only
		v.Dir = f
	}
	return v, true
}

// leaseView fills l's creds, cwd and dir_file from v (false: it cannot
// name v's start).
func leaseView(k *kernel.Kernel, l *sentrypb.PathLease, v pathView) bool {
	l.Creds = &sentrypb.ProcessState{
		Ruid: v.Creds.RUID, Euid: v.Creds.EUID, Suid: v.Creds.SUID,
		Rgid: v.Creds.RGID, Egid: v.Creds.EGID, Sgid: v.Creds.SGID,
		Groups: v.Creds.Groups, Caps: kernel.CapsProto(v.Creds.Caps),
	}
	switch {
	case v.Cwd != nil:
		cwd, _ := k.VFS.PathOf(v.Cwd)
		l.Cwd = &sentrypb.FsState{Cwd: []byte(cwd)}
		// As the fs record carries it (bound to the client).
		if fh := k.VFS.FileHandleOf(v.Cwd); len(fh) > 0 {
			l.Cwd.CwdHandle = k.Binder.Bind(fh)
		}
	case v.Dir != nil:
		if l.DirFile = v.Dir.ID.Load(); l.DirFile == 0 {
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
func beginPathLease(k *kernel.Kernel, c *kernel.Task, wanted bool, listingPath string) *readlease.PathTicket {
	if !wanted || !k.PathLeases || k.LeaseHolder.Disabled() || c.FSRoot() != nil || c.MountNS() != 0 {
		// A chrooted caller's paths, or those of a caller in a mount
		// namespace of its own, name other files than the same paths
		// of the client's other processes, under which the client
		// would keep the answer: it gets no lease.
		return nil
	}
	if c.Sysno == unix.SYS_GETDENTS64 {
		c.ListingPath = listingPath // "": the answers of newfstatat(fd, name)
	} else if !(pathLeaseCalls[c.Sysno] && openLeasable(c)) && !creationCall(c) {
		return nil
	}
	view, ok := viewOf(c)
	if !ok {
		return nil
	}
	c.PathView = &view
	t := k.ReadLeases.BeginPath()
	return &t
}

// endPathLease ends the grant tk (nil: none) of c, which returned err, by
// adding a PathLease to its reply if its answer may be kept. A mount or
// umount revokes every path lease before its reply.
func endPathLease(k *kernel.Kernel, c *kernel.Task, tk *readlease.PathTicket, skipped bool, err error, listingWanted bool) {
	if namespaceCalls[c.Sysno] && err == nil && !skipped && k.ReadLeases != nil {
		leaseObserver{r: k.ReadLeases, log: k.Log}.logExpired(k.ReadLeases.ChangedPaths(k.Ctx))
	}
	if tk == nil {
		return
	}
	reg := k.ReadLeases
	e := syserr.ErrnoOf(err)
	if skipped || c.NotLeasable || !leasableErrno(c.Sysno, e) || (err != nil && syserr.KeepsOutputs(err)) || !unlinkLeasable(c.Sysno, e) {
		return
	}
	if end, ok := viewOf(c); !ok || !c.PathView.Same(end) {
		return
	}
	var keys []readlease.Key
	nSearch := 0
	var listed []*sentrypb.ListedStat
	var parentStat, openedStat []byte
	var madeDir uint64 // the inode of the directory a mkdir made
	var missing *sentrypb.MissingIn
	var listedDir *vfs.Dentry
	var dl *dirListing        // the listing of the directory of a walk's last lookup (dirlisting.go)
	var ahead []*aheadListing // listings ahead of subdirectories (dirahead.go)
	if c.Sysno == unix.SYS_GETDENTS64 {
		var entries []*vfs.Dentry
		listed, entries, keys, listedDir = listedStats(c)
		if listedDir != nil && c.AheadWanted > 0 && c.ListingPath != "" {
			names := c.AheadNames
			if len(names) == 0 {
				names = subdirNames(listed, entries)
			}
			n := len(keys) + 2*len(entries)
			ahead = listAhead(k, c, listedDir, listedHandle(c), keys, names, n, true)
			ahead = append(ahead, siblingsAhead(k, c, listedDir, ahead, n)...)
			if self := selfListing(k, c, listedDir, keys, ahead, n); self != nil {
				ahead = append(ahead, self)
			}
		}
		if len(listed) == 0 && len(ahead) == 0 {
			return
		}
		keys = appendEntryKeys(keys, entries)
		for _, a := range ahead {
			keys = append(keys, a.keys...)
		}
	} else if creationCall(c) {
		if err != nil {
			return
		}
		// The creation was one path change of this call's own: the
		// grant holds if no one else's came since it began.
		parentStat, keys = createdParentStat(c)
		if parentStat == nil {
			return
		}
		nSearch = len(keys) - 1
		*tk = tk.After(1)
		if k.CompleteNames {
			madeDir = createdDirIno(c)
		}
		if madeDir != 0 {
			keys = append(keys, readlease.PathKey(readlease.PathComplete, madeDir))
		}
	} else if c.MissingIn != nil {
		keys = missingKeys(c.PathView, c.MissingIn)
	} else if c.Sysno == unix.SYS_GETCWD {
		if err != nil {
			return
		}
		var s keySet
		s.add(readlease.PathSearch, c.PathView.Searched...)
		keys = s.keys
	} else {
		final := c.PathView.Final
		if err == nil && final == nil {
			return // a walk whose end was not noted
		}
		if err != nil && e != unix.EINVAL {
			final = nil // a lookup's failure: nothing was found at the end
		}
		keys, nSearch = walkKeys(c.PathView, final)
		if final != nil && final.IsDir() && modeOnlyCalls[c.Sysno] {
			keys = slices.DeleteFunc(keys, func(k readlease.Key) bool { return k == readlease.PathKey(readlease.PathAttrs, final.Ino()) })
		}
		listingWanted = listingWanted && listingMayFit(k, c, len(keys))
		var missingDir *vfs.Dentry
		if err != nil {
			nSearch = 0 // no name exists
			if e == unix.ENOENT && k.CompleteNames {
				// Listed before the grant: a change since fails it.
				missing, missingDir = missingIn(c, listingWanted)
			}
		} else {
			openedStat = openedStatOf(c, final)
		}
		if found, ok := dirListingCall(c, e); ok && listingWanted {
			if dl = dirListingOf(c, found, missing, missingDir); dl != nil && k.LeaseHolder.PathRoom()-len(keys)-len(dl.keys) < listingRoom {
				dl = nil // the answers the client asks for first
			}
			if dl != nil {
				keys = append(keys, dl.keys...)
			}
		}
	}
	ids, epoch, left, ok := reg.GrantPath(k.LeaseHolder, *tk, keys)
	if !ok || left <= 0 {
		return
	}
	var listingIDs, aheadIDs []uint64
	if len(ahead) > 0 {
		n := len(keys)
		for _, a := range ahead {
			n -= len(a.keys)
		}
		ids, aheadIDs, keys = ids[:n], ids[n:], keys[:n]
	}
	if dl != nil {
		n := len(keys) - len(dl.keys)
		ids, listingIDs, keys = ids[:n], ids[n:], keys[:n]
	}
	// Creations are posted in a directory by one client at a time
	// (readlease.Registry.OthersHold).
	creatable := c.MissingIn != nil && !reg.OthersHold(k.LeaseHolder, readlease.CreationKeys(c.MissingIn.Ino()))
	l := &sentrypb.PathLease{Id: ids[0], Epoch: epoch, TtlMs: uint32(left.Milliseconds()), Creatable: creatable,
		MissingIn: missing}
	if !leaseView(k, l, *c.PathView) {
		return // the leases stay until they expire; the client knows nothing of them
	}
	if c.Sysno == unix.SYS_GETDENTS64 {
		leaseListing(c, l, listedDir, keys, ids, listed)
		replyAhead(c, l, ahead, aheadIDs)
	} else {
		if madeDir != 0 {
			last := len(ids) - 1
			// Its holder posts creations in the directory: not while
			// another client may (readlease.Registry.OthersHold). The
			// lease then stays unused until it expires.
			if !reg.OthersHold(k.LeaseHolder, readlease.CreationKeys(madeDir)) {
				c.Reply.CompleteNames = &sentrypb.PathLease{Id: ids[last], Epoch: epoch, TtlMs: l.TtlMs,
					Ids: ids[last:], Kinds: []uint32{uint32(readlease.PathComplete)}, Inos: []uint64{madeDir}}
			}
			ids, keys = ids[:last], keys[:last]
		}
		l.Ids = ids
		l.SearchIds = ids[:nSearch]
		l.Kinds, l.Inos = pathKinds(keys)
	}
	c.Reply.PathLease = l
	c.Reply.Listed = listed
	if dl != nil {
		dl.reply(c, l, listingIDs)
	}
	c.Reply.ParentStat = parentStat
	c.Reply.OpenedStat = openedStat
}

// isOpen says whether c is an open or openat.
func isOpen(c *kernel.Task) bool { return c.Sysno == unix.SYS_OPEN || c.Sysno == unix.SYS_OPENAT }

// openedStatOf returns the struct stat of the file d a successful open c
// (nil for any other call) opened, as stat of its path answers it (the
// open's walk followed a last symbolic link, as stat's does), for
// Reply.opened_stat: the lease's keys on the walk and d's attributes are
// a stat's. Read before the grant, so a change since fails it.
func openedStatOf(c *kernel.Task, d *vfs.Dentry) []byte {
	if !isOpen(c) {
		return nil
	}
	return statBytes(c, d)
}

// statBytes returns the struct stat of d as stat of a path that walks to
// it answers it (nil: an error).
func statBytes(c *kernel.Task, d *vfs.Dentry) []byte {
	st, err := syscalls.StatOf(c, d, nil)
	if err != nil {
		return nil
	}
	ls := syscalls.ToLinuxStat(st)
	b := make([]byte, ls.SizeBytes())
	ls.MarshalBytes(b)
	return b
}

// createdParentStat returns the struct stat of the directory creation
// call c made its name in, as stat of the call's path without its last
// component answers it now, and the keys that answer holds (the walk's
// searches, then the directory's attributes, last), if that path names a
// gofer directory the walk reaches without the gofer (nil: none).
func createdParentStat(c *kernel.Task) ([]byte, []readlease.Key) {
	idx := pathArgs[c.Sysno]
	path, err := syscalls.PathArg(c, idx[1])
	if err != nil {
		return nil, nil
	}
	parent, ok := sysabi.ParentPath(path)
	if !ok {
		return nil, nil
	}
	dirfd := int32(linux.AT_FDCWD)
	if idx[0] >= 0 {
		dirfd = syscalls.ArgInt(c, idx[0])
	}
	// The creation's own walk noted the same directories; this one
	// notes the end.
	d, _, err := syscalls.LookupAt(c, dirfd, parent, true, false)
	if err != nil || d == nil || c.NotLeasable || d.Kind != vfs.KindGofer || !d.IsDir() {
		return nil, nil
	}
	b := statBytes(c, d)
	if b == nil {
		return nil, nil
	}
	keys, _ := walkKeys(c.PathView, d)
	return b, keys
}

// createdDirIno returns the inode of the gofer directory mkdir or
// mkdirat call c made (0: c is no mkdir, or its path no longer names a
// gofer directory). Its names are complete at birth: it is empty.
func createdDirIno(c *kernel.Task) uint64 {
	if c.Sysno != unix.SYS_MKDIR && c.Sysno != unix.SYS_MKDIRAT {
		return 0
	}
	idx := pathArgs[c.Sysno]
	path, err := syscalls.PathArg(c, idx[1])
	if err != nil {
		return 0
	}
	dirfd := int32(linux.AT_FDCWD)
	if idx[0] >= 0 {
		dirfd = syscalls.ArgInt(c, idx[0])
	}
	d, _, err := syscalls.LookupAt(c, dirfd, path, true, false)
	if err != nil || d == nil || c.NotLeasable || d.Kind != vfs.KindGofer || !d.IsDir() {
		return 0
	}
	return d.Ino()
}

// listedStats returns the lstat answers of c.listingPath/<name> (or,
// without a listing path, of newfstatat(fd, name, AT_SYMLINK_NOFOLLOW))
// for the entries getdents64 call c listed, with their dentries, the
// keys that the answers of all of them hold (the walk to the directory
// and the directory's search permission) and the directory, if
// c.listingPath still names the directory listed, the caller may search
// it, and the listing brought each entry's attributes (vfs.ListedStat:
// no gofer call here). A directory with grafted mounts gets none (a name
// may be covered).
func listedStats(c *kernel.Task) ([]*sentrypb.ListedStat, []*vfs.Dentry, []readlease.Key, *vfs.Dentry) {
	v := c.Kernel.VFS
	if v.HasMounts() {
		return nil, nil, nil, nil
	}
	f, err := c.GetFile(syscalls.ArgInt(c, 0))
	if err != nil {
		return nil, nil, nil, nil
	}
	dir := vfs.DentryOf(f)
	f.DecRef()
	if dir == nil || dir.Kind != vfs.KindGofer {
		return nil, nil, nil, nil
	}
	if c.ListingPath != "" {
		d, _, err := syscalls.LookupAt(c, linux.AT_FDCWD, c.ListingPath, true, false)
		if err != nil || d != dir {
			return nil, nil, nil, nil
		}
	}
	if c.NotLeasable || c.MaySearch(dir) != nil {
		return nil, nil, nil, nil
	}
	common, _ := walkKeys(c.PathView, dir)
	common = slices.DeleteFunc(common, func(k readlease.Key) bool { return k == readlease.PathKey(readlease.PathAttrs, dir.Ino()) })
	var out []*sentrypb.ListedStat
	var entries []*vfs.Dentry
	var alloc listedAlloc
	for _, o := range c.Mem.Outputs() {
		if o.Addr != c.Args[1] {
			continue
		}
		alloc.hint = len(o.Data) / 32 // a record of a name of up to 12 bytes
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
			if ls, ch := listedStatOf(v, dir, name, &alloc); ls != nil {
				out = append(out, ls)
				entries = append(entries, ch)
			}
		}
	}
	return out, entries, common, dir
}

// appendEntryKeys appends to keys, after the keys a whole listing holds,
// each listed entry's own: its existence, its attributes
// (ListedStat.ids).
func appendEntryKeys(keys []readlease.Key, entries []*vfs.Dentry) []readlease.Key {
	for _, d := range entries {
		keys = append(keys, readlease.PathKey(readlease.PathSearch, d.Ino()), readlease.AttrsKey(d.Ino(), d.IsDir()))
	}
	return keys
}

// leaseListing fills l, the lease of a listing of directory dir whose
// keys (appendEntryKeys' order) the grant leased as ids, and its entries'
// answers listed with their own ids and inodes.
func leaseListing(c *kernel.Task, l *sentrypb.PathLease, dir *vfs.Dentry, keys []readlease.Key, ids []uint64, listed []*sentrypb.ListedStat) {
	common := len(keys) - 2*len(listed)
	l.Ids = ids[:common]
	l.Kinds, l.Inos = pathKinds(keys[:common])
	l.DirIno = dir.Ino()
	l.Writable = !c.Kernel.VFS.ReadOnly(c.MountNS(), dir)
	l.Removable = l.Writable && mayRemoveAny(c, dir)
	for i, ls := range listed {
		ls.Ids = ids[common+2*i : common+2*i+2]
		ls.Ino = keys[common+2*i].Ino
	}
}

// listedStatOf returns the lstat answer of gofer directory dir's entry
// name from the attributes its listing brought (vfs.ListedStatShared: no
// gofer call), made by a (nil: on its own), with its dentry; nil if the
// listing brought none.
func listedStatOf(v *vfs.VFS, dir *vfs.Dentry, name string, a *listedAlloc) (*sentrypb.ListedStat, *vfs.Dentry) {
	ch := v.CachedChild(dir, name)
	if ch == nil || ch.Kind != vfs.KindGofer {
		return nil, nil
	}
	st := v.ListedStatShared(ch)
	if st == nil || st.Ino != ch.Ino() {
		return nil, nil
	}
	if a == nil {
		a = &listedAlloc{}
	}
	return a.make(name, st), ch
}

// mayRemoveAny says whether c's caller may remove any entry of dir that
// is no directory, as unlinkAt checks (kernel.Task.MayRemove): write
// and search permission, and no sticky bit, or one that the caller's
// owning dir or CAP_FOWNER lets past whoever owns the entry.
func mayRemoveAny(c *kernel.Task, dir *vfs.Dentry) bool {
	if c.MayWriteDir(dir) != nil {
		return false
	}
	cr := c.Creds()
	a := c.Kernel.VFS.AttrsOf(dir)
	return a.Mode&unix.S_ISVTX == 0 || cr.FSUID == a.UID || cr.Capable(linux.CAP_FOWNER)
}
