package gofer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// maxDirentsPerReply caps GetdentsRequest.count, bounding the reply size
// (with NAME_MAX names, about 550 KiB).
const maxDirentsPerReply = 2048

// Getdents implements goferpb.GoferServer.Getdents.
//
// An entry's cookie (Dirent.offset) is the host's own d_off of it: the
// host directory's position after the entry, which a seek of the host
// directory fd to it continues from (as seekdir does), on any handle of
// the directory and in any gofer process. On the file systems a gofer
// serves (ext4's hashes, tmpfs's stable offsets) a position stays where
// it is when other entries are added or removed, so a listing continued
// from a cookie after a gofer or sentry restart, or after its handle was
// re-resolved, skips and repeats nothing that was there all along (as on
// Linux, entries added or removed meanwhile may or may not be seen).
// overlayfs has no such positions: it numbers a merged directory's
// entries by index in a list it builds at each open, which a removal
// shifts. A directory on overlayfs is therefore listed in the order of
// its names' hashes, each entry's cookie the hash of its name
// (nameCookie), as ext4 orders its hashed directories: continuing from a
// cookie lists the names hashed above it, wherever the host lists them.
//
// A listing at offset 0 reads the whole directory into a snapshot held by
// the handle, and one continued on that handle from a cookie the snapshot
// holds continues from the snapshot; any other offset reads the rest of
// the directory from that host position into a new snapshot. "." and ".."
// are never returned: the sentry synthesises them. Names are any bytes
// (Dirent.name is a bytes field), so a name that is not UTF-8 is listed
// as any other.
func (s *Server) Getdents(_ context.Context, req *goferpb.GetdentsRequest) (*goferpb.GetdentsReply, error) {
	if len(req.GetNames()) != 0 {
		r := s.getdentsOfSubs(req)
		if s.log.IsDebug() {
			s.log.Debug("getdents of subdirectories", "dir", req.GetDir(), "names", len(req.GetNames()), "count", req.GetCount(), "plus", req.GetPlus(), "errno", r.GetErrno())
		}
		return r, nil
	}
	if len(req.GetName()) != 0 {
		r, err := s.getdentsOfSub(req)
		if s.log.IsDebug() { // its arguments cost allocations (one call a directory find lists)
			s.log.Debug("getdents", "dir", req.GetDir(), "name", req.GetName(), "count", req.GetCount(), "plus", req.GetPlus(), "n", len(r.GetEntries()), "err", err)
		}
		if err != nil {
			return &goferpb.GetdentsReply{Errno: errnoOf(err)}, nil
		}
		return r, nil
	}
	ents, eof, err := s.getdents(req.GetDir(), req.GetOffset(), req.GetCount())
	if s.log.IsDebug() {
		s.log.Debug("getdents", "dir", req.GetDir(), "offset", req.GetOffset(), "count", req.GetCount(), "plus", req.GetPlus(), "n", len(ents), "err", err)
	}
	if err != nil {
		return &goferpb.GetdentsReply{Errno: errnoOf(err)}, nil
	}
	r := &goferpb.GetdentsReply{Entries: ents, Eof: eof}
	if wantStats(req, eof) && len(ents) > 0 {
		if r.Stats, err = s.statEntries(req.GetDir(), ents); err != nil {
			return &goferpb.GetdentsReply{Errno: errnoOf(err)}, nil
		}
	}
	return r, nil
}

// wantStats says whether a listing of req whose entries reach the end
// of the directory if eof comes with their attributes
// (GetdentsRequest.plus, plus_if_eof).
func wantStats(req *goferpb.GetdentsRequest, eof bool) bool {
	return req.GetPlus() && (eof || !req.GetPlusIfEof())
}

// statEntries returns the attributes of the entries of directory handle
// id, each looked up by its (single component) name without following a
// symlink; an entry gone meanwhile gets an empty Stat.
func (s *Server) statEntries(id uint64, ents []*goferpb.Dirent) ([]*goferpb.Stat, error) {
	h, err := s.lookupDir(id)
	if err != nil {
		return nil, wrap(err, "getdents")
	}
	defer h.decRef()
	return s.statEntriesAt(h.fd, ents), nil
}

// statEntriesAt returns the attributes of the entries of the directory
// of fd (statEntries').
func (s *Server) statEntriesAt(fd int, ents []*goferpb.Dirent) []*goferpb.Stat {
	out := make([]*goferpb.Stat, len(ents))
	// The listing's attributes in one allocation, not one (or two) an
	// entry: find's listings ahead are ~10 entries each, ~8,800 a walk.
	stats := make([]goferpb.Stat, len(ents))
	for i, e := range ents {
		out[i] = &stats[i]
		if !nameOK(e.GetName()) {
			continue
		}
		var stx unix.Statx_t
		err := statxName(fd, e.GetName(), unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, statxMask, &stx)
		for err == unix.EINTR {
			err = statxName(fd, e.GetName(), unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, statxMask, &stx)
		}
		if err == nil {
			setStatFromStatx(out[i], &stx)
			s.addSetIDAt(fd, string(e.GetName()), out[i])
		}
	}
	return out
}

// nameOK says whether checkName accepts name, without the conversion
// its error would keep (an allocation a listed entry).
func nameOK(name []byte) bool {
	return len(name) > 0 && len(name) <= maxNameLen && string(name) != "." && string(name) != ".." &&
		bytes.IndexByte(name, '/') < 0 && bytes.IndexByte(name, 0) < 0
}

// statxName is unix.Statx of name (a checked single component) in the
// directory of dirfd, its path made on the stack: unix.Statx allocates
// one for each call, one a listed entry.
func statxName(dirfd int, name []byte, flags, mask int, stx *unix.Statx_t) error {
	var path [maxNameLen + 1]byte
	if len(name) >= len(path) {
		return unix.Statx(dirfd, string(name), flags, mask, stx)
	}
	copy(path[:], name)
	path[len(name)] = 0
	_, _, errno := unix.Syscall6(unix.SYS_STATX, uintptr(dirfd), uintptr(unsafe.Pointer(&path[0])), uintptr(flags), uintptr(mask), uintptr(unsafe.Pointer(stx)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// unlinkatName is unix.Unlinkat of name (a checked single component) in
// the directory of dirfd, its path made on the stack as statxName's:
// unix.Unlinkat allocates one for each call, one a file rm -r removes.
func unlinkatName(dirfd int, name []byte, flags int) error {
	var path [maxNameLen + 1]byte
	if len(name) >= len(path) {
		return unix.Unlinkat(dirfd, string(name), flags)
	}
	copy(path[:], name)
	path[len(name)] = 0
	_, _, errno := unix.Syscall(unix.SYS_UNLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(&path[0])), uintptr(flags))
	if errno != 0 {
		return errno
	}
	return nil
}

// getdents returns up to count entries of directory handle id after
// cookie offset (0: from the start), and whether they reach the end.
func (s *Server) getdents(id, offset uint64, count uint32) ([]*goferpb.Dirent, bool, error) {
	if count == 0 {
		return nil, false, errorf(unix.EINVAL, "getdents: count 0")
	}
	count = min(count, maxDirentsPerReply)
	h, err := s.lookupDir(id)
	if err != nil {
		return nil, false, wrap(err, "getdents")
	}
	defer h.decRef()

	h.mu.Lock()
	defer h.mu.Unlock()
	next, ok := h.snapshotNextLocked(offset)
	if !ok {
		ents, err := s.readDir(h, offset)
		if err != nil {
			return nil, false, err
		}
		h.dirents, h.direntsFrom, h.direntsValid = ents, offset, true
		next = 0
	}
	end := min(next+int(count), len(h.dirents))
	h.direntsNext = end
	// Copy: the slice must not alias a snapshot a later call replaces
	// while this reply is being marshalled (the entries themselves are
	// never modified).
	return append([]*goferpb.Dirent(nil), h.dirents[next:end]...), end == len(h.dirents), nil
}

// snapshotNextLocked returns the index in h's snapshot of the entry
// after cookie offset, if the snapshot holds that position: the
// position it was read from, or one of its entries' cookies. Offset 0
// always reads the directory anew. The entry is looked for back from
// the last one returned, then on: a listing continues after that entry
// or, when the application's buffer filled first, after one of the
// last reply's. Precondition: h.mu is held.
func (h *handle) snapshotNextLocked(offset uint64) (int, bool) {
	if offset == 0 || !h.direntsValid {
		return 0, false
	}
	if offset == h.direntsFrom {
		return 0, true
	}
	last := min(h.direntsNext, len(h.dirents))
	for i := last - 1; i >= 0; i-- {
		if h.dirents[i].Offset == offset {
			return i + 1, true
		}
	}
	for i := last; i < len(h.dirents); i++ {
		if h.dirents[i].Offset == offset {
			return i + 1, true
		}
	}
	return 0, false
}

// readDir reads h's directory entries but "." and ".." from host
// position from (0: the start) to the end; on overlayfs, all those after
// cookie from in the order of their names' cookies (namesAfter).
// Precondition: h.mu is held for writing.
func (s *Server) readDir(h *handle, from uint64) ([]*goferpb.Dirent, error) {
	fd, err := h.anyFDLocked()
	if err != nil {
		return nil, wrap(err, "getdents: open handle %d", h.id)
	}
	return s.readDirAt(h, fd, from, false)
}

// readDirAt is readDir through h's directory fd fd; fresh says fd was
// just opened (at the directory's start: from 0 needs no seek).
// Precondition: h.mu is held for writing.
func (s *Server) readDirAt(h *handle, fd int, from uint64, fresh bool) ([]*goferpb.Dirent, error) {
	if from > math.MaxInt64 {
		return nil, errorf(unix.EINVAL, "getdents: handle %d: cookie %#x is no directory position", h.id, from)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return nil, wrap(err, "getdents: statfs handle %d", h.id)
	}
	if sfs.Type == unix.OVERLAYFS_SUPER_MAGIC {
		ents, err := s.readDirFrom(h, fd, 0, fresh)
		if err != nil {
			return nil, err
		}
		return namesAfter(ents, from), nil
	}
	return s.readDirFrom(h, fd, from, fresh && from == 0)
}

// readDirFrom reads the entries of directory fd from host position from
// to the end (fd is there already if at).
func (s *Server) readDirFrom(h *handle, fd int, from uint64, at bool) ([]*goferpb.Dirent, error) {
	if !at {
		if _, err := unix.Seek(fd, int64(from), unix.SEEK_SET); err != nil {
			return nil, wrap(err, "getdents: seek handle %d to %#x", h.id, from)
		}
	}
	var ents []*goferpb.Dirent
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, wrap(err, "getdents handle %d", h.id)
		}
		if n <= 0 {
			return s.hideSillyDir(h, ents), nil
		}
		ents = s.parseDirents(buf[:n], ents)
	}
}

// direntBufs are the buffers readDirFrom reads a directory's records
// into: one a listing, which parseDirents copies out of, so that a
// listing of a few entries (most directories) does not allocate and
// clear 64 KiB.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// The fields of a struct linux_dirent64 record.
const (
	direntInoOff    = 0  // u64 d_ino
	direntOffOff    = 8  // s64 d_off
	direntReclenOff = 16 // u16 d_reclen
	direntTypeOff   = 18 // u8 d_type
	direntNameOff   = 19 // char d_name[]
)

// parseDirents appends the struct linux_dirent64 records in b to ents.
// The records' entries and names are made in one allocation each (a
// walk lists ~8,800 entries, each was two).
func (s *Server) parseDirents(b []byte, ents []*goferpb.Dirent) []*goferpb.Dirent {
	n, nameBytes := countDirents(b)
	recs := make([]goferpb.Dirent, 0, n)
	names := make([]byte, 0, nameBytes)
	for len(b) >= direntNameOff {
		reclen := int(binary.NativeEndian.Uint16(b[direntReclenOff:]))
		if reclen < direntNameOff || reclen > len(b) {
			s.log.Warn("getdents: malformed record", "reclen", reclen, "left", len(b))
			break
		}
		rec := b[:reclen]
		b = b[reclen:]
		name := direntName(rec)
		if string(name) == "." || string(name) == ".." {
			continue
		}
		off := binary.NativeEndian.Uint64(rec[direntOffOff:])
		if off == 0 || off > math.MaxInt64 {
			// Not a position a listing can continue from (0 is the
			// start); no Linux file system gives one.
			s.log.Warn("getdents: directory position out of range: a listing continued after it may repeat entries", "name", name, "d_off", off)
		}
		if len(recs) == cap(recs) || len(names)+len(name) > cap(names) {
			// Not as counted (a malformed record): no more.
			break
		}
		start := len(names)
		names = append(names, name...)
		recs = recs[:len(recs)+1]
		d := &recs[len(recs)-1]
		d.Name = names[start:len(names):len(names)]
		d.Ino = binary.NativeEndian.Uint64(rec[direntInoOff:])
		d.Type = uint32(rec[direntTypeOff])
		d.Offset = off
		ents = append(ents, d)
	}
	return ents
}

// direntName returns the name of struct linux_dirent64 record rec (its
// d_name up to its NUL).
func direntName(rec []byte) []byte {
	name := rec[direntNameOff:]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return name
}

// countDirents returns how many struct linux_dirent64 records in b
// parseDirents keeps (not "." and "..") and their names' bytes.
func countDirents(b []byte) (n, nameBytes int) {
	for len(b) >= direntNameOff {
		reclen := int(binary.NativeEndian.Uint16(b[direntReclenOff:]))
		if reclen < direntNameOff || reclen > len(b) {
			break
		}
		name := direntName(b[:reclen])
		b = b[reclen:]
		if string(name) == "." || string(name) == ".." {
			continue
		}
		n++
		nameBytes += len(name)
	}
	return n, nameBytes
}

// namesAfter renumbers a whole listing by name (each cookie becomes
// nameCookie of its name), sorts it by cookie, and returns the entries
// after cookie from (0: all). Two names of one hash are ordered by name,
// and a listing cut between them skips the second: with 62 bits, about
// one chance in 10^10 for a directory of 100,000 names.
func namesAfter(ents []*goferpb.Dirent, from uint64) []*goferpb.Dirent {
	for _, e := range ents {
		e.Offset = nameCookie(string(e.GetName()))
	}
	slices.SortFunc(ents, func(a, b *goferpb.Dirent) int {
		if c := cmp.Compare(a.GetOffset(), b.GetOffset()); c != 0 {
			return c
		}
		return bytes.Compare(a.GetName(), b.GetName())
	})
	i, _ := slices.BinarySearchFunc(ents, from, func(e *goferpb.Dirent, from uint64) int {
		if e.GetOffset() <= from {
			return -1
		}
		return 1
	})
	return ents[i:]
}

// nameCookie is the cookie of name in a directory listed by name: its
// FNV-1a hash in [1, 2^62), so that it is never the start (0) and the
// sentry's d_off (2 + cookie) stays a positive int64.
func nameCookie(name string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(name))
	return max(f.Sum64()>>2, 1)
}
