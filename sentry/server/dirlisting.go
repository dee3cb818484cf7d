package server

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The listing of the directory a cold lookup was in (docs/ARCHITECTURE.md,
// "The client's path cache", "Listings of cold lookups";
// Syscall.dir_listing_wanted, Reply.dir_listing).
//
// gcc readlinks and opens each header it finds, and Python stats each
// package's __init__.py after its lookups of the extension modules'
// names failed there: the first ask of each path waits, though most of
// them are in a few small directories nobody lists. When the client
// holds no listing of the directory a stat, access, readlink or
// read-only open looks its last name up in, the reply carries that
// directory's listing: each entry's lstat answer, as a getdents64 by
// path brings them (listedStats), under the same leases (the walk's
// searches up to the directory, each entry's existence and attributes),
// so that the next lookups there are answered on the client (readlink's
// EINVAL and stat from the lstat answer). The directory is listed with
// one gofer Getdents (with the entries' attributes) before the grant,
// which fails if a change since the walk began revoked one of its keys,
// the listing's among them; it is listed
// only if it has at most maxMissingInNames entries, is the gofer's, and
// the walk reached it without following a symbolic link, so that the
// prefix of the call's path spells it. What comes without a listing costs
// no gofer call the next time: a directory found bigger is noted so for
// tooBigLife (listNames), and a listing the client's path budget has no
// room for is not fetched (listingMayFit).

// listingRoom is how much room for more path leases
// (readlease.Holder.PathRoom) a client keeps after a lookup's listing is
// granted: a quarter of its path budget (32,768), so that the listings'
// leases (one or two per entry), which nobody asked for, do not fill it
// and make a grant of the answers the client asks for release the oldest
// quarter. Its read leases have a budget of their own: no listing
// crowds them out (make -j2 of 9 files holds under 4,000 path leases,
// listings included).
const listingRoom = 8192

// listingMayFit says whether a listing of the directory of c's last
// lookup may be granted with the n keys of the call's own answer and
// still leave listingRoom (dirListingOf's check after the listing),
// counting the most keys a listing holds (maxListingKeys): a listing
// refused for lack of room then costs no gofer call.
func listingMayFit(k *kernel.Kernel, c *kernel.Task, n int) bool {
	return k.LeaseHolder.PathRoom()-n-maxListingKeys(c.PathView) >= listingRoom
}

// maxListingKeys is the most keys a listing by a walk v noted holds
// (listedKeys, then two per entry of at most maxMissingInNames: the
// root's synthesized dev and proc are not listed).
func maxListingKeys(v *pathView) int {
	return len(v.Searched) + 1 + 2*maxMissingInNames
}

// dirListing is a listing a path call's reply carries.
type dirListing struct {
	// prefix is the length of the call's path that names the
	// directory (0: the start directory); dir is it.
	prefix int
	dir    *vfs.Dentry
	// listed are the entries' lstat answers, entries their dentries.
	listed  []*sentrypb.ListedStat
	entries []*vfs.Dentry
	// keys are the leases the whole listing holds (the walk's searches
	// to the directory: listedKeys), then each entry's two
	// (appendEntryKeys).
	keys []readlease.Key
}

// dirListingOf returns the listing of the directory of c's last lookup
// for its reply (nil: none). found says the lookup found its name; else
// it failed with ENOENT, and mi is what missingIn listed (with the
// entries' attributes) of missingDir, nil if nothing.
func dirListingOf(c *kernel.Task, found bool, mi *sentrypb.MissingIn, missingDir *vfs.Dentry) *dirListing {
	var dl dirListing
	var names []string
	if found {
		prefix, dir, ok := lookupDir(c, true)
		if !ok {
			return nil
		}
		if names, ok = listNames(c, dir, true); !ok {
			return nil
		}
		dl.prefix, dl.dir = prefix, dir
	} else {
		if mi == nil || missingDir == nil {
			return nil
		}
		dl.prefix, dl.dir, names = int(mi.Prefix), missingDir, sentrypb.StringList(mi.Names)
	}
	dl.fill(c, names)
	if len(dl.listed) == 0 {
		return nil
	}
	return &dl
}

// fill makes the answers of dl.dir's entries names (listedStatOf: the
// attributes the listing brought) and the keys they hold.
func (dl *dirListing) fill(c *kernel.Task, names []string) {
	if c.MaySearch(dl.dir) != nil {
		return
	}
	v := c.Kernel.VFS
	alloc := listedAlloc{hint: len(names)}
	for _, name := range names {
		if ls, ch := listedStatOf(v, dl.dir, name, &alloc); ls != nil {
			dl.listed = append(dl.listed, ls)
			dl.entries = append(dl.entries, ch)
		}
	}
	if len(dl.listed) == 0 {
		return
	}
	dl.keys = appendEntryKeys(listedKeys(c.PathView, dl.dir), dl.entries)
}

// listedKeys returns the keys every answer of a listing of dir by a path
// whose walk v noted holds: the directories searched to dir and dir's
// search (walkKeys' without dir's attributes: the entries' answers do not
// show them).
func listedKeys(v *pathView, dir *vfs.Dentry) []readlease.Key {
	var s keySet
	for _, d := range v.Searched {
		s.add(readlease.PathSearch, d)
		if d == dir {
			break
		}
	}
	s.add(readlease.PathSearch, dir)
	return s.keys
}

// reply sets c's Reply.dir_listing and listed from dl, whose keys the
// grant leased as ids (dl.keys' order), under lease l's grant (its
// epoch, life and view).
func (dl *dirListing) reply(c *kernel.Task, l *sentrypb.PathLease, ids []uint64) {
	ll := &sentrypb.PathLease{Id: ids[0], Epoch: l.Epoch, TtlMs: l.TtlMs, Creds: l.Creds, Cwd: l.Cwd, DirFile: l.DirFile}
	leaseListing(c, ll, dl.dir, dl.keys, ids, dl.listed)
	c.Reply.DirListing = ll
	c.Reply.DirListingPrefix = uint32(dl.prefix)
	c.Reply.Listed = dl.listed
}

// dirListingCall says whether c's reply may carry a listing of the
// directory of its last lookup, which returned errno e: a call of
// missingInCalls but the access calls that found its name (readlink's
// EINVAL too) or failed ENOENT.
func dirListingCall(c *kernel.Task, e unix.Errno) (found, ok bool) {
	switch c.Sysno {
	case unix.SYS_ACCESS, unix.SYS_FACCESSAT, unix.SYS_FACCESSAT2:
		// They walk with the real ids; the entries' answers are the fs
		// ids' (lstat's).
		return false, false
	}
	if !missingInCalls[c.Sysno] {
		return false, false
	}
	switch {
	case e == 0, e == unix.EINVAL && (c.Sysno == unix.SYS_READLINK || c.Sysno == unix.SYS_READLINKAT):
		return true, true
	case e == unix.ENOENT:
		return false, true
	}
	return false, false
}
