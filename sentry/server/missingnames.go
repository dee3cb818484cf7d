package server

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
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
// each; when the lookup that failed was of a plain name of the call's
// path (no symbolic link followed, no "." or ".."), in a gofer directory
// other than the root (whose dev and proc are not the gofer's), with no
// mount grafted anywhere, the reply also carries that directory's
// complete names, listed now (one gofer Getdents, at most
// maxMissingInNames of them): the same calls of the same prefix and
// another name fail ENOENT at the same lookup while the lease holds, as
// every name made there revokes it.

// maxMissingInNames bounds the directories whose names an answer
// carries: a bigger one costs more to list than its lookups do.
const maxMissingInNames = 256

// missingInCalls are the calls whose ENOENT answer the client uses for
// other names (those that walk with the fs ids; a read-only open is the
// only open that gets a path lease).
var missingInCalls = map[int32]bool{
	unix.SYS_STAT: true, unix.SYS_LSTAT: true, unix.SYS_NEWFSTATAT: true, unix.SYS_STATX: true,
	unix.SYS_READLINK: true, unix.SYS_READLINKAT: true, unix.SYS_OPEN: true, unix.SYS_OPENAT: true,
}

// missingIn returns what PathLease.missing_in says of c's walk, which
// failed ENOENT (nil: nothing).
func missingIn(c *syscallCtx) *sentrypb.MissingIn {
	v := c.PathView
	if v == nil || c.NotLeasable || !missingInCalls[c.Sysno] || c.Kernel.VFS.HasMounts() {
		return nil
	}
	path, err := pathArg(c, pathArgs[c.Sysno][1])
	if err != nil || len(path) >= sysabi.PathMax {
		return nil
	}
	comps, ok := plainNames(path)
	// The walk searched its start and each name it found; the lookup of
	// the next name failed in the last directory searched.
	found := len(v.Found)
	if !ok || found >= len(comps) || len(v.Searched) != found+1 {
		return nil
	}
	for i, d := range v.Found {
		if d.IsSymlink() || v.Searched[i+1] != d {
			return nil
		}
	}
	dir := v.Searched[found]
	if dir.Kind != vfs.KindGofer || !dir.IsDir() || dir == c.Kernel.VFS.Root {
		return nil
	}
	names, ok := listNames(c, dir)
	if !ok {
		return nil
	}
	prefix := len(strings.Join(comps[:found], "/"))
	if path[0] == '/' {
		prefix++
	}
	return &sentrypb.MissingIn{Prefix: uint32(prefix), Names: names}
}

// plainNames splits path into its names, if each is a plain one (not
// empty, "." or ".."); a leading slash is allowed, a trailing one not.
func plainNames(path string) ([]string, bool) {
	comps := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, n := range comps {
		if n == "" || n == "." || n == ".." || len(n) > 255 {
			return nil, false
		}
	}
	return comps, true
}

// listNames returns the names of gofer directory dir, if it has at most
// maxMissingInNames.
func listNames(c *syscallCtx, dir *vfs.Dentry) ([]string, bool) {
	v := c.Kernel.VFS
	h, err := c.HandleOf(dir)
	if err != nil {
		return nil, false
	}
	var names []string
	for cookie := uint64(0); ; {
		ctx, cancel := v.RPCCtx()
		r, err := v.Gofer().Getdents(ctx, &goferpb.GetdentsRequest{Dir: h, Offset: cookie, Count: maxMissingInNames + 3})
		cancel()
		if syserr.FromGofer("getdents", r.GetErrno(), err) != nil {
			return nil, false
		}
		for _, e := range r.Entries {
			cookie = e.Offset
			if e.Name != "." && e.Name != ".." {
				names = append(names, e.Name)
			}
		}
		if len(names) > maxMissingInNames {
			return nil, false
		}
		if len(r.Entries) == 0 || r.Eof {
			return names, true
		}
	}
}
