package server

import (
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// The names of the directory a failed walk found a name missing in
// (docs/ARCHITECTURE.md, "The client's path cache", "Under a missing
// name"; PathLease.missing_in).
//
// gcc and ld look for each header, library and program in each directory
// of a search list, and most of those lookups fail in a few small
// directories (/usr/local/include, the PATH's, gcc's own): each first ask
// of a path waits. The ENOENT answer of a walk already leases the names
// of every directory it searched (walkKeys: PathNames) and the search of
// each; when the walk found each name before the one whose lookup failed
// without following a symbolic link ("." and ".." are no lookups), in a
// gofer directory, with no mount grafted anywhere, the reply also
// carries that directory's complete names, listed now (one gofer
// Getdents, at most maxMissingInNames of them; the root's dev and proc
// too, served over the gofer's), and the prefix of the path that walked
// to it: the same calls of the same prefix and another name fail ENOENT
// at the same lookup while the lease holds, as every name made there
// revokes it.

// maxMissingInNames bounds the directories whose names an answer
// carries: a bigger one costs more to list than its lookups do.
const maxMissingInNames = 256

// tooBigLife is how long a directory a listing found more than
// maxMissingInNames names in is not listed again (vfs.VFS.NoteTooBig),
// unless the names its client removes from it bring it to the bound:
// gcc's and Python's cold lookups in /usr/include or a big
// site-packages would each fetch maxMissingInNames+3 entries with their
// attributes from the gofer and throw them away. A directory others
// shrank is listed again once it passed; till then its lookups come
// without its names, as they did while it was big.
const tooBigLife = time.Minute

// missingInCalls are the calls whose ENOENT answer the client uses for
// other names (a read-only open is the only open that gets a path
// lease; the access calls' answer only access calls).
var missingInCalls = map[int32]bool{
	unix.SYS_STAT: true, unix.SYS_LSTAT: true, unix.SYS_NEWFSTATAT: true, unix.SYS_STATX: true,
	unix.SYS_READLINK: true, unix.SYS_READLINKAT: true, unix.SYS_OPEN: true, unix.SYS_OPENAT: true,
	unix.SYS_ACCESS: true, unix.SYS_FACCESSAT: true, unix.SYS_FACCESSAT2: true,
}

// missingIn returns what PathLease.missing_in says of c's walk, which
// failed ENOENT (nil: nothing), and the directory it lists; with plus,
// the listing brings its entries' attributes (dirlisting.go).
func missingIn(c *kernel.Task, plus bool) (*sentrypb.MissingIn, *vfs.Dentry) {
	prefix, dir, ok := lookupDir(c, false)
	if !ok {
		return nil, nil
	}
	names, ok := listNames(c, dir, plus)
	if !ok {
		return nil, nil
	}
	if dir == c.Kernel.VFS.Root {
		// Served over the gofer's (vfs.lookupName).
		names = append(names, "dev", "proc")
	}
	return &sentrypb.MissingIn{Prefix: uint32(prefix), Names: sentrypb.BytesList(names)}, dir
}

// lookupDir returns the gofer directory the last lookup of c's walk
// looked its name up in, and the length of the prefix of c's path that
// names it (missingAt), if c is one of missingInCalls, no mount is
// grafted, and the walk found each name before that one without
// following a symbolic link; found says the walk found that last name
// (it ended there: a success, or readlink's EINVAL), else it failed
// there.
func lookupDir(c *kernel.Task, found bool) (prefix int, dir *vfs.Dentry, ok bool) {
	v := c.PathView
	if v == nil || c.NotLeasable || !missingInCalls[c.Sysno] || c.Kernel.VFS.HasMounts() {
		return 0, nil, false
	}
	path, err := syscalls.PathArg(c, pathArgs[c.Sysno][1])
	if err != nil || path == "" || len(path) >= sysabi.PathMax {
		return 0, nil, false
	}
	before := v.Found
	if found {
		if len(before) == 0 || before[len(before)-1] != v.Final {
			return 0, nil, false // the end was not the last lookup's (a followed symbolic link)
		}
		before = before[:len(before)-1]
	}
	prefix, dir, ok = missingAt(path, v.Searched, before)
	if !ok || dir.Kind != vfs.KindGofer || !dir.IsDir() {
		return 0, nil, false
	}
	return prefix, dir, true
}

// missingAt returns where the walk of path that searched searched and
// found found (kernel.PathView) failed: the length of the prefix of path
// before the name whose lookup failed and the directory it was looked up
// in, if each name before it was found without following a symbolic link
// (ok false: otherwise, or the walk did not fail at a lookup). The walk
// searches the directory it is in before each name ("." and ".." too)
// and notes each name it looks up (vfs.VFS.Resolve).
func missingAt(path string, searched, found []*vfs.Dentry) (prefix int, dir *vfs.Dentry, ok bool) {
	s, f := 0, 0
	for start := 0; start < len(path); {
		end := strings.IndexByte(path[start:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += start
		}
		name := path[start:end]
		switch {
		case name == "":
		case s == len(searched):
			return 0, nil, false
		case name == "." || name == "..":
			s++
		case f == len(found):
			// The lookup that failed: in the last directory searched.
			if s+1 != len(searched) || len(name) > linux.NAME_MAX {
				return 0, nil, false
			}
			switch prefix = start - 1; {
			case start == 0:
				prefix = 0 // the start directory
			case prefix == 0:
				prefix = 1 // the root, spelled "/"
			}
			return prefix, searched[s], true
		default:
			if found[f].IsSymlink() || s+1 >= len(searched) || searched[s+1] != found[f] {
				return 0, nil, false
			}
			s, f = s+1, f+1
		}
		start = end + 1
	}
	return 0, nil, false
}

// listNames returns the names of gofer directory dir, if it has at most
// maxMissingInNames; with plus, the listing brings each entry's
// attributes to its dentry too (vfs.NoteListing: listedStatOf's). A
// directory found to have more is noted so and not listed again while
// the note holds (tooBigLife).
func listNames(c *kernel.Task, dir *vfs.Dentry, plus bool) ([]string, bool) {
	v := c.Kernel.VFS
	if v.TooBig(dir) {
		return nil, false
	}
	// Pinned for the listing only: c.HandleOf's pins would last until
	// the reply is made.
	h, err := v.PinHandle(dir)
	if err != nil {
		return nil, false
	}
	defer v.Unpin(dir)
	var names []string
	for cookie := uint64(0); ; {
		ctx, cancel := v.RPCCtx()
		req := &goferpb.GetdentsRequest{Dir: h, Offset: cookie, Count: maxMissingInNames + 3, Plus: plus, PlusIfEof: plus}
		var r *goferpb.GetdentsReply
		var seq uint64
		seen := v.RemovalsSeen()
		if plus {
			r, seq, err = c.Kernel.Attrs.GetdentsSeq(ctx, req)
		} else {
			r, err = v.Gofer().Getdents(ctx, req)
		}
		cancel()
		if syserr.FromGofer("getdents", r.GetErrno(), err) != nil {
			return nil, false
		}
		if plus {
			v.NoteListing(dir, r.Entries, r.Stats, seq, seen)
		}
		for _, e := range r.Entries {
			cookie = e.Offset
			if name := string(e.Name); name != "." && name != ".." {
				names = append(names, name)
			}
		}
		if len(names) > maxMissingInNames {
			v.NoteTooBig(dir, len(names)-maxMissingInNames, tooBigLife)
			return nil, false
		}
		if len(r.Entries) == 0 || r.Eof {
			return names, true
		}
	}
}
