package gofer

import (
	"context"
	"encoding/binary"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// maxDirentsPerReply caps GetdentsRequest.count, bounding the reply size
// (with NAME_MAX names, about 550 KiB).
const maxDirentsPerReply = 2048

// Getdents implements goferpb.GoferServer.Getdents.
//
// A listing at offset 0 reads the whole directory into a snapshot held by
// the handle; entry i of the snapshot has cookie i+1, and a listing at a
// non-zero offset continues from the snapshot, so a listing continued from
// an entry's cookie neither skips nor repeats entries, whatever happens to
// the directory meanwhile (POSIX leaves it unspecified whether entries added
// or removed after the listing started are seen; here they are not). If the
// handle has no snapshot (the listing started on another handle, or the
// gofer restarted), a new one is taken and offset is used as an index into
// it, which is exact if the directory has not changed. "." and ".." are
// never returned: the sentry synthesises them. Names that are not valid
// UTF-8 cannot be carried by the protocol's string field and are left out
// (and logged).
func (s *Server) Getdents(_ context.Context, req *goferpb.GetdentsRequest) (*goferpb.GetdentsReply, error) {
	ents, eof, err := s.getdents(req.GetDir(), req.GetOffset(), req.GetCount())
	s.log.Debug("getdents", "dir", req.GetDir(), "offset", req.GetOffset(), "count", req.GetCount(), "plus", req.GetPlus(), "n", len(ents), "err", err)
	if err != nil {
		return &goferpb.GetdentsReply{Errno: errnoOf(err)}, nil
	}
	r := &goferpb.GetdentsReply{Entries: ents, Eof: eof}
	if req.GetPlus() && len(ents) > 0 {
		if r.Stats, err = s.statEntries(req.GetDir(), ents); err != nil {
			return &goferpb.GetdentsReply{Errno: errnoOf(err)}, nil
		}
	}
	return r, nil
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
	out := make([]*goferpb.Stat, len(ents))
	for i, e := range ents {
		out[i] = &goferpb.Stat{}
		if checkName(e.GetName()) != nil {
			continue
		}
		var stx unix.Statx_t
		err := unix.Statx(h.fd, e.GetName(), unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, statxMask, &stx)
		for err == unix.EINTR {
			err = unix.Statx(h.fd, e.GetName(), unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, statxMask, &stx)
		}
		if err == nil {
			out[i] = statFromStatx(&stx)
			s.addSetIDAt(h.fd, e.GetName(), out[i])
		}
	}
	return out, nil
}

// getdents returns up to count entries of directory handle id from
// offset, and whether they reach the end.
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
	if offset == 0 || !h.direntsValid {
		ents, err := s.readDir(h)
		if err != nil {
			return nil, false, err
		}
		h.dirents, h.direntsValid = ents, true
	}
	if offset >= uint64(len(h.dirents)) {
		return nil, true, nil
	}
	end := offset + uint64(count)
	if end > uint64(len(h.dirents)) {
		end = uint64(len(h.dirents))
	}
	// Copy: the slice must not alias a snapshot a later call replaces
	// while this reply is being marshalled (the entries themselves are
	// never modified).
	return append([]*goferpb.Dirent(nil), h.dirents[offset:end]...), end == uint64(len(h.dirents)), nil
}

// readDir reads all of h's directory entries but "." and "..", numbering
// them from 1. Precondition: h.mu is held for writing.
func (s *Server) readDir(h *handle) ([]*goferpb.Dirent, error) {
	fd, err := h.anyFDLocked()
	if err != nil {
		return nil, wrap(err, "getdents: open handle %d", h.id)
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_SET); err != nil {
		return nil, wrap(err, "getdents: rewind handle %d", h.id)
	}
	var ents []*goferpb.Dirent
	buf := make([]byte, 64<<10)
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

// parseDirents appends the struct linux_dirent64 records in b to ents.
func (s *Server) parseDirents(b []byte, ents []*goferpb.Dirent) []*goferpb.Dirent {
	const (
		inoOff    = 0  // u64 d_ino
		reclenOff = 16 // u16 d_reclen (after s64 d_off)
		typeOff   = 18 // u8 d_type
		nameOff   = 19 // char d_name[]
	)
	for len(b) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(b[reclenOff:]))
		if reclen < nameOff || reclen > len(b) {
			s.log.Warn("getdents: malformed record", "reclen", reclen, "left", len(b))
			break
		}
		rec := b[:reclen]
		b = b[reclen:]
		name := rec[nameOff:]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if string(name) == "." || string(name) == ".." {
			continue
		}
		if !utf8.Valid(name) {
			s.log.Warn("getdents: skipping name that is not UTF-8", "name", name)
			continue
		}
		ents = append(ents, &goferpb.Dirent{
			Name:   string(name),
			Ino:    binary.NativeEndian.Uint64(rec[inoOff:]),
			Type:   uint32(rec[typeOff]),
			Offset: uint64(len(ents) + 1),
		})
	}
	return ents
}
