package server

import (
	"encoding/binary"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Listings sent ahead (docs/ARCHITECTURE.md, "The client's path cache",
// "Listings ahead"; Syscall.listing_ahead, Reply.ahead; client:
// sentry/client/dirahead.go).
//
// find, du and ls -R list a directory, then each of its subdirectories:
// every listing waited for a round trip to the server and the gofer, one
// after the other (busybox find over /usr/include: 834 of its 941 waited
// calls). A getdents64 by path whose client asks (listing_ahead) also
// brings the listings of up to that many subdirectories of the
// directory: those the client names (ahead_names), else the first the
// call itself listed, then, in the room left, their own subdirectories
// ("s/g", listed through s's handle, their answers holding s's search
// key too: a rename of s revokes them). Each is what a getdents64 of a
// description of the subdirectory opened by that path, not listed
// before, returns (the records of ".", ".." and every entry, and the
// cursor's end), with the entries' lstat answers, under a lease of its own: the listing's walk
// keys to the directory, the subdirectory's search, attributes (its mode
// says who may read it) and names (a name made or removed there revokes
// it), and each entry's two keys, as a listing by path holds them. The
// client answers the subdirectory's getdents64 from it and posts the
// call with the cursor's end (Syscall.ahead_cookie, aheadAnswered in
// syscalls/getdents.go); that posted call asks for the listings of the
// subdirectory's own subdirectories and theirs in turn, so a walk keeps
// two levels ahead.
//
// Bounds: a subdirectory of at most maxMissingInNames entries (one found
// bigger is noted so, as a lookup's listing notes it), at most
// maxAheadDirs of them and maxAheadEntries entries in all per reply,
// only while the client's path budget keeps listingRoom (as a lookup's
// listing), and only gofer directories the caller may read and search.
// The subdirectories of one directory cost one gofer Getdents with their
// entries' attributes (GetdentsRequest.names: GNU find over
// /usr/include made 396 Getdents, 843 with one a listing), made before
// the grant: a change since the call began fails the grant, as for any
// listing.

// maxAheadDirs bounds the listings one reply carries ahead; most
// directories of /usr/include have fewer subdirectories (5 of 833 more).
// maxAheadEntries bounds their entries in all.
const (
	maxAheadDirs    = 16
	maxAheadEntries = 2048
)

// aheadListing is one listing a getdents64's reply carries ahead.
type aheadListing struct {
	name    string
	dir     *vfs.Dentry
	dirents []byte
	cookie  uint64
	// listed are the entries' lstat answers, entries their dentries;
	// keys the leases the listing holds (aheadKeys), then each
	// entry's two (appendEntryKeys).
	listed  []*sentrypb.ListedStat
	entries []*vfs.Dentry
	keys    []readlease.Key
	// sibling: name is in the directory above the one listed
	// (Syscall.ahead_siblings).
	sibling bool
	// noMount: the gofer said the directory is no mount point
	// (GetdentsReply.sub_no_mount).
	noMount bool
}

// selfListing returns the listing of dir itself that getdents64 call c,
// which listed it by path (its answers' keys common), made whole: from
// the description's start to the directory's end in this one call. Sent
// as a listing ahead of the path (AheadListing.name empty; its records
// the call's output, not sent twice), it answers a getdents64 of
// another description of the path whose listing has not begun: GNU rm
// -r opens and lists each directory twice (its emptiness check, then
// fts), and the second listing of the directory it was given waited for
// the server, which listed its subdirectories ahead again (a gofer
// statx of each of their entries). Its lease is a listing ahead's (the
// walk, the directory's search, attributes and names); the n keys the
// reply holds besides as count against the client's path budget.
func selfListing(k *kernel.Kernel, c *kernel.Task, dir *vfs.Dentry, common []readlease.Key, as []*aheadListing, n int) *aheadListing {
	if shm, _ := c.Kernel.VFS.ShmIfMade(); dir == shm {
		return nil // its SysV segments' files are not listed
	}
	for _, a := range as {
		n += len(a.keys)
	}
	if !aheadRoom(k, common, n) {
		return nil
	}
	var out []byte
	for _, o := range c.Mem.Outputs() {
		if o.Addr == c.Args[1] {
			out = o.Data
		}
	}
	// The whole listing begins with "." (emitted only from a
	// description's start, as record offset 1). A directory of more
	// entries than a listing ahead takes is left out as those are:
	// the entries' answers kept twice for a listing seldom made again.
	if len(out) < 24 || binary.LittleEndian.Uint64(out[8:]) != 1 || string(out[19:21]) != ".\x00" ||
		direntCount(out) > maxMissingInNames+2 {
		return nil
	}
	f, err := c.GetFile(syscalls.ArgInt(c, 0))
	if err != nil {
		return nil
	}
	f.OffMu.Lock()
	cur := f.Dir
	f.OffMu.Unlock()
	f.DecRef()
	if cur.Phase != 2 || !cur.EOF {
		return nil // cut short by the buffer (Reply.listing_eof false)
	}
	var s keySet
	s.keys = append(s.keys, common...) // with dir's search
	s.addKey(readlease.AttrsKey(dir.Ino(), true))
	s.add(readlease.PathNames, dir)
	return &aheadListing{dir: dir, cookie: cur.Cookie, keys: s.keys}
}

// direntCount returns how many struct linux_dirent64 records b holds.
func direntCount(b []byte) int {
	n := 0
	for len(b) >= 19 {
		reclen := int(binary.LittleEndian.Uint16(b[16:]))
		if reclen < 20 || reclen > len(b) {
			break
		}
		b = b[reclen:]
		n++
	}
	return n
}

// siblingsAhead returns the listings ahead of c's ahead_siblings, the
// subdirectories of the directory above dir, which c listed by path,
// when c's listing path without its last name names that directory
// (dir's parent), after the listings as (n keys besides).
func siblingsAhead(k *kernel.Kernel, c *kernel.Task, dir *vfs.Dentry, as []*aheadListing, n int) []*aheadListing {
	if len(c.AheadSiblings) == 0 {
		return nil
	}
	v := c.Kernel.VFS
	parentPath, ok := sysabi.ParentPath(c.ListingPath)
	if !ok {
		return nil
	}
	parent, _, err := syscalls.LookupAt(c, linux.AT_FDCWD, parentPath, true, false)
	if err != nil || parent == nil || c.NotLeasable || parent.Kind != vfs.KindGofer || v.ParentOf(dir) != parent || c.MaySearch(parent) != nil {
		return nil
	}
	for _, a := range as {
		n += len(a.keys)
	}
	sibs := listAhead(k, c, parent, 0, listedKeys(c.PathView, parent), c.AheadSiblings, n, false)
	for _, a := range sibs {
		a.sibling = true
	}
	return sibs
}

// listAhead returns the listings ahead of the subdirectories names of
// dir, which getdents64 call c listed by path, whose answers hold common
// (the walk's keys to dir and dir's search), while the client's path
// budget keeps listingRoom after the n keys the reply holds besides.
//
// The subdirectories are listed through handle h of dir (0: its dentry's,
// PinHandle). With deeper, what room is left after names goes to the
// subdirectories of those listed ("s/g", in their order): the client
// asks for those of the subdirectories it holds, so that a walk keeps
// two levels ahead, and this fills the second level the first time.
func listAhead(k *kernel.Kernel, c *kernel.Task, dir *vfs.Dentry, h uint64, common []readlease.Key, names []string, n int, deeper bool) []*aheadListing {
	out, entries := listAheadNames(k, c, dir, h, common, names, n, nil, 0)
	if !deeper {
		return out
	}
	var more []string
	for _, a := range out {
		if strings.ContainsRune(a.name, '/') {
			continue
		}
		for _, g := range subdirNames(a.listed, a.entries) {
			more = append(more, a.name+"/"+g)
		}
	}
	if len(more) == 0 {
		return out
	}
	for _, a := range out {
		n += len(a.keys)
	}
	out, _ = listAheadNames(k, c, dir, h, common, more, n, out, entries)
	return out
}

// listAheadNames is listAhead's listing of names, after out (entries
// entries in all, their keys counted in n); it returns out with them and
// the entries. The names are listed before their leases are counted:
// those of one directory in one gofer call (listSubs), so one the path
// budget or the entries' bound then has no room for was listed for
// nothing (the budget's check before the calls makes that rare).
func listAheadNames(k *kernel.Kernel, c *kernel.Task, dir *vfs.Dentry, h uint64, common []readlease.Key, names []string, n int,
	out []*aheadListing, entries int) ([]*aheadListing, int) {
	v := c.Kernel.VFS
	shm, _ := v.ShmIfMade()
	for i := 0; i < len(names) && len(out) < c.AheadWanted && entries < maxAheadEntries && aheadRoom(k, common, n); {
		// The subdirectories to list, in names' order, as many as
		// the reply may still take (more after those that fail): a
		// name "s/g" is subdirectory g of subdirectory s, listed
		// through s's handle, its answers holding s's search too.
		var subs []aheadSub
		for ; i < len(names) && len(out)+len(subs) < c.AheadWanted; i++ {
			name := names[i]
			parent, last, via := dir, name, h
			var crossed *vfs.Dentry
			if first, rest, two := strings.Cut(name, "/"); two {
				if !aheadName(first) || !aheadName(rest) {
					continue
				}
				p := v.CachedChild(dir, first)
				if p == nil || p.Kind != vfs.KindGofer || !p.IsDir() || p == shm || c.MaySearch(p) != nil {
					continue
				}
				parent, last, via, crossed = p, rest, 0, p
			} else if !aheadName(name) {
				continue
			}
			sub := v.CachedChild(parent, last)
			if sub == nil || sub.Kind != vfs.KindGofer || !sub.IsDir() || sub == shm || v.TooBig(sub) ||
				c.MayAccess(sub, auth.MayRead|auth.MayExec) != nil {
				continue
			}
			subs = append(subs, aheadSub{name: name, parent: parent, last: last, via: via, crossed: crossed, sub: sub})
		}
		listSubs(c, subs)
		for _, sd := range subs {
			a := sd.listing
			if a == nil {
				continue
			}
			if len(out) >= c.AheadWanted || entries >= maxAheadEntries || !aheadRoom(k, common, n) {
				break
			}
			a.name = sd.name
			var s keySet
			s.keys = append(s.keys, common...)
			s.add(readlease.PathSearch, sd.crossed)
			s.add(readlease.PathSearch, sd.sub)
			s.addKey(readlease.AttrsKey(sd.sub.Ino(), true))
			s.add(readlease.PathNames, sd.sub)
			if k.CompleteNames && a.noMount && !v.HasMounts() {
				// Its complete names (the client's copy, kept through
				// its own changes: rm -r posts the rmdir of a
				// directory it listed and emptied,
				// sentry/client/postunlink.go). Not of a mount point,
				// whose rmdir fails with EBUSY.
				s.add(readlease.PathComplete, sd.sub)
			}
			a.keys = appendEntryKeys(s.keys, a.entries)
			n += len(a.keys)
			entries += len(a.entries)
			out = append(out, a)
		}
	}
	return out, entries
}

// aheadRoom says whether the client's path budget keeps listingRoom
// after one more listing's most keys, besides common and the n keys
// the reply holds.
func aheadRoom(k *kernel.Kernel, common []readlease.Key, n int) bool {
	return k.LeaseHolder.PathRoom()-n-(len(common)+4+2*maxMissingInNames) >= listingRoom
}

// aheadSub is a subdirectory listAheadNames lists: sub, the entry last
// of parent, asked for as name, listed through handle via of parent (0:
// listSub's), its answers holding crossed's search too (nil: none), and
// its listing (nil: none).
type aheadSub struct {
	name    string
	parent  *vfs.Dentry
	last    string
	via     uint64
	crossed *vfs.Dentry
	sub     *vfs.Dentry
	listing *aheadListing
}

// aheadName says whether name may be one name of a listing ahead's path
// (Syscall.ahead_names): a directory entry's.
func aheadName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsRune(name, '/')
}

// listSubs sets each of subs' listing: those of one parent through one
// handle in one gofer call (listSub), in the order of their first. They
// are at most c.AheadWanted (maxAheadDirs), within the gofer's bound of
// names a call.
func listSubs(c *kernel.Task, subs []aheadSub) {
	grouped := make([]bool, len(subs))
	for i := range subs {
		if grouped[i] {
			continue
		}
		var group []*aheadSub
		for j := i; j < len(subs); j++ {
			if !grouped[j] && subs[j].parent == subs[i].parent && subs[j].via == subs[i].via {
				grouped[j] = true
				group = append(group, &subs[j])
			}
		}
		listSub(c, subs[i].parent, subs[i].via, group)
	}
}

// listSub lists gofer directories subs, entries of dir, which a call
// listed, with their entries' attributes, in one gofer call through
// dir's handle h (GetdentsRequest.name, or names for several: no Walk to
// them; it brings a handle of each, kept for its open), and sets each
// one's listing: none if it has more than maxMissingInNames entries
// (noted so for tooBigLife) or the gofer failed. With h 0, through the
// handle dir's own listing ahead left on it (a second level's "s/g": dir
// is s, listed ahead, maybe not opened yet), else its dentry's.
func listSub(c *kernel.Task, dir *vfs.Dentry, h uint64, subs []*aheadSub) {
	v := c.Kernel.VFS
	if h == 0 {
		// Not taken: an open of dir may take it meanwhile and its close
		// release it, and this listing then fails (the inode check
		// makes the handle's name not matter).
		h = v.KeptHandle(dir)
	}
	if h == 0 {
		var err error
		if h, err = v.PinHandle(dir); err != nil {
			return
		}
		defer v.Unpin(dir)
	}
	req := &goferpb.GetdentsRequest{Dir: h, Count: maxMissingInNames + 1, Plus: true, PlusIfEof: true, WantHandle: true}
	if len(subs) == 1 {
		req.Name, req.Ino = []byte(subs[0].last), subs[0].sub.Ino()
	} else {
		req.Names, req.Inos = make([][]byte, len(subs)), make([]uint64, len(subs))
		for i, sd := range subs {
			req.Names[i], req.Inos[i] = []byte(sd.last), sd.sub.Ino()
		}
	}
	ctx, cancel := v.RPCCtx()
	conf := v.ConfirmStart()
	seen := v.RemovalsSeen()
	r, seq, err := c.Kernel.Attrs.GetdentsSeq(ctx, req)
	cancel()
	if syserr.FromGofer("getdents", r.GetErrno(), err) != nil {
		return
	}
	replies := []*goferpb.GetdentsReply{r}
	if len(subs) > 1 {
		replies = r.GetSubs()
	}
	for i, sr := range replies {
		if i >= len(subs) {
			// More than asked for (a gofer's bug): their handles go.
			if id := sr.GetSub().GetHandle().GetId(); id != 0 {
				v.Releases().Release([]uint64{id})
			}
			continue
		}
		subs[i].listing = listedSub(v, subs[i].sub, sr, seq, conf, seen)
	}
}

// listedSub returns the listing ahead of gofer directory sub that the
// gofer's reply r of a listing by name brought (nil: none), keeping the
// handle it brought for sub's open; seq, conf and seen were read before
// the call.
func listedSub(v *vfs.VFS, sub *vfs.Dentry, r *goferpb.GetdentsReply, seq uint64, conf vfs.Confirmed, seen uint64) *aheadListing {
	if wf := r.GetSub(); wf.GetHandle().GetId() != 0 {
		// For the application's open of sub, which then needs no Walk.
		if wf.GetStat().GetIno() == sub.Ino() {
			v.KeepListed(sub, wf.GetHandle().GetId(), wf.GetHandle().GetFileHandle(), conf)
		} else {
			v.Releases().Release([]uint64{wf.GetHandle().GetId()})
		}
	}
	if syserr.FromGofer("getdents", r.GetErrno(), nil) != nil {
		return nil
	}
	var ents []*goferpb.Dirent
	for _, e := range r.Entries {
		if name := string(e.Name); name != "." && name != ".." && name != "" {
			ents = append(ents, e)
		}
	}
	if !r.Eof || len(ents) > maxMissingInNames {
		v.NoteTooBig(sub, max(len(ents)-maxMissingInNames, 1), tooBigLife)
		return nil
	}
	v.NoteListing(sub, r.Entries, r.Stats, seq, seen)
	a := &aheadListing{dir: sub, noMount: r.GetSubNoMount()}
	// As Getdents64 lists from the start with room for everything.
	a.dirents = syscalls.AppendDirent(a.dirents, ".", sub.Ino(), unix.DT_DIR, 1)
	a.dirents = syscalls.AppendDirent(a.dirents, "..", v.ParentOf(sub).Ino(), unix.DT_DIR, 2)
	alloc := listedAlloc{hint: len(ents)}
	for _, e := range ents {
		name := string(e.Name)
		a.dirents = syscalls.AppendDirent(a.dirents, name, e.Ino, uint8(e.Type), uint64(fdesc.CookieOffset(e.Offset)))
		a.cookie = e.Offset
		if ls, ch := listedStatOf(v, sub, name, &alloc); ls != nil {
			a.listed = append(a.listed, ls)
			a.entries = append(a.entries, ch)
		}
	}
	return a
}

// subdirNames returns the names of the directories among entries (a
// listing's, in its order).
func subdirNames(listed []*sentrypb.ListedStat, entries []*vfs.Dentry) []string {
	var names []string
	for i, d := range entries {
		if d.IsDir() {
			names = append(names, string(listed[i].Name))
		}
	}
	return names
}

// replyAhead sets c's Reply.ahead from as, whose keys the grant leased as
// ids (as' keys in order), under lease l's grant (its epoch, life and
// view).
func replyAhead(c *kernel.Task, l *sentrypb.PathLease, as []*aheadListing, ids []uint64) {
	for _, a := range as {
		aids := ids[:len(a.keys)]
		ids = ids[len(a.keys):]
		ll := &sentrypb.PathLease{Id: aids[0], Epoch: l.Epoch, TtlMs: l.TtlMs, Creds: l.Creds, Cwd: l.Cwd, DirFile: l.DirFile}
		leaseListing(c, ll, a.dir, a.keys, aids, a.listed)
		c.Reply.Ahead = append(c.Reply.Ahead, &sentrypb.AheadListing{Name: []byte(a.name), Dirents: a.dirents, Cookie: a.cookie, Lease: ll, Listed: a.listed,
			Sibling: a.sibling})
	}
}

// listedHandle returns the gofer handle of the directory description
// getdents64 call c lists (0: none), through which its subdirectories
// are listed ahead: its dentry may have none (a cached name opened by
// one Walk that opened it).
func listedHandle(c *kernel.Task) uint64 {
	f, err := c.GetFile(syscalls.ArgInt(c, 0))
	if err != nil {
		return 0
	}
	defer f.DecRef()
	if g, ok := f.Impl.(*vfs.GoferDir); ok {
		return g.Handle
	}
	return 0
}
