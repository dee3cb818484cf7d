package gofer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// The sandbox's set-user-ID and set-group-ID bits.
//
// The host file never carries a set-id bit the application asked for
// (stripSetID), so a hostile application cannot leave a setuid-root
// program for a local user to run. What the application set is kept in
// an extended attribute of the host file instead, setIDXattr, and added
// back to the mode the gofer reports (stat, walk, listings): the sandbox
// sees Linux's semantics, the host sees a plain file.
//
// The attribute is in the user. namespace, which a gofer without
// CAP_SYS_ADMIN can write (trusted. cannot), and which a local user who
// may write the file can write too: so its value is sealed with the
// handle key (handleKeys) over the file's inode number, owner, group and
// bits. A local user cannot forge it, copying it to another file or a
// chown on the host voids it, and a restarted gofer with the same key
// (--handle-key, by default a file beside the socket) still reads it.
// A gofer with another key reads the file without its bits.
//
// Value: setIDVersion, the bits (mode & 06000) as 2 little-endian bytes,
// then handleMACLen bytes of HMAC.
const setIDXattr = "user.runsc-decoupled.setid"

const (
	setIDVersion  = 1
	setIDValueLen = 3 + handleMACLen
	setIDBits     = unix.S_ISUID | unix.S_ISGID
)

// setIDMAC returns the seal of bits for the file with inode ino, owner
// uid and group gid. The domain string keeps it apart from file handle
// MACs, which the same key makes.
func (k *handleKeys) setIDMAC(ino uint64, uid, gid, bits uint32) []byte {
	var b [8 + 4 + 4 + 2]byte
	binary.LittleEndian.PutUint64(b[0:], ino)
	binary.LittleEndian.PutUint32(b[8:], uid)
	binary.LittleEndian.PutUint32(b[12:], gid)
	binary.LittleEndian.PutUint16(b[16:], uint16(bits))
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte("runsc-decoupled set-id bits v1\x00"))
	m.Write(b[:])
	return m.Sum(nil)[:handleMACLen]
}

// setIDValue returns the attribute value sealing bits for st's file.
func (k *handleKeys) setIDValue(st *goferpb.Stat, bits uint32) []byte {
	v := make([]byte, 3, setIDValueLen)
	v[0] = setIDVersion
	binary.LittleEndian.PutUint16(v[1:], uint16(bits))
	return append(v, k.setIDMAC(st.GetIno(), st.GetUid(), st.GetGid(), bits)...)
}

// setIDOf returns the bits a value read from setIDXattr seals for st's
// file, or 0 when it is not a valid seal of this file.
func (k *handleKeys) setIDOf(st *goferpb.Stat, v []byte) uint32 {
	if len(v) != setIDValueLen || v[0] != setIDVersion {
		return 0
	}
	bits := uint32(binary.LittleEndian.Uint16(v[1:]))
	if bits&^setIDBits != 0 || bits == 0 {
		return 0
	}
	if !hmac.Equal(v[3:], k.setIDMAC(st.GetIno(), st.GetUid(), st.GetGid(), bits)) {
		return 0
	}
	return bits
}

// mayHoldSetID reports whether a file of type ftype has its set-id bits
// in the attribute: only a regular file (stripSetID leaves the others'
// on the host, where they grant nothing).
func mayHoldSetID(ftype uint32) bool {
	return ftype == unix.S_IFREG
}

// addSetID adds the sandbox's set-id bits of the file fd (an O_PATH fd)
// to st, its stat.
func (s *Server) addSetID(fd int, st *goferpb.Stat) {
	if st != nil {
		st.Mode |= s.readSetID(fd, st)
	}
}

// readSetID returns the set-id bits the attribute of the file fd (an
// O_PATH fd, whose stat from the host is st) seals; a missing,
// unreadable or void attribute gives 0.
func (s *Server) readSetID(fd int, st *goferpb.Stat) uint32 {
	if s.allowSetuid || !mayHoldSetID(st.GetMode()&unix.S_IFMT) || !s.seals.mayExist() {
		return 0
	}
	bits, gen, ok := s.setIDs.get(st)
	if ok {
		return bits
	}
	var buf [setIDValueLen + 1]byte
	// f*xattr refuses O_PATH fds: go through the fd's magic link, which
	// names the inode already resolved.
	n, err := unix.Getxattr(procFDPath(fd), setIDXattr, buf[:])
	for err == unix.EINTR {
		n, err = unix.Getxattr(procFDPath(fd), setIDXattr, buf[:])
	}
	if err == nil {
		bits = s.keys.setIDOf(st, buf[:n])
	}
	if err == nil || err == unix.ENODATA {
		s.setIDs.put(st, bits, gen)
	}
	return bits
}

// addSetIDAt is addSetID for the entry name of directory dirFD, not
// following a symlink (a listing's attributes).
func (s *Server) addSetIDAt(dirFD int, name string, st *goferpb.Stat) {
	if st == nil || s.allowSetuid || !mayHoldSetID(st.GetMode()&unix.S_IFMT) || !s.seals.mayExist() {
		return
	}
	bits, gen, ok := s.setIDs.get(st)
	if ok {
		st.Mode |= bits
		return
	}
	var buf [setIDValueLen + 1]byte
	n, err := getxattrAt(dirFD, name, setIDXattr, buf[:])
	if err == unix.ENOSYS {
		// Kernels before 6.13: by path, through the directory's fd.
		n, err = unix.Lgetxattr(procFDPath(dirFD)+"/"+name, setIDXattr, buf[:])
	}
	if err == nil {
		bits = s.keys.setIDOf(st, buf[:n])
	}
	if err == nil || err == unix.ENODATA {
		s.setIDs.put(st, bits, gen)
	}
	st.Mode |= bits
}

// xattrArgs is Linux's struct xattr_args (getxattrat, setxattrat).
type xattrArgs struct {
	value uint64
	size  uint32
	flags uint32
}

// getxattrAt reads attribute attr of the entry name of dirFD without
// following a symlink (getxattrat(2), Linux 6.13).
func getxattrAt(dirFD int, name, attr string, buf []byte) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	a, err := unix.BytePtrFromString(attr)
	if err != nil {
		return 0, err
	}
	args := xattrArgs{value: uint64(uintptr(unsafe.Pointer(&buf[0]))), size: uint32(len(buf))}
	for {
		n, _, e := unix.Syscall6(unix.SYS_GETXATTRAT, uintptr(dirFD), uintptr(unsafe.Pointer(p)),
			unix.AT_SYMLINK_NOFOLLOW, uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args))
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

// storeSetID records bits (the set-id bits the application gave the file
// but the host file does not carry) for the file fd (an O_PATH fd) whose
// stat is st (owner and group as they are now): the attribute is written,
// or removed when bits is 0. A file system without user. attributes
// cannot record them: the bits are lost, as they were before the
// attribute existed, and that is logged once.
func (s *Server) storeSetID(fd int, st *goferpb.Stat, bits uint32) error {
	if s.allowSetuid || st == nil {
		return nil
	}
	bits &= setIDBits
	p := procFDPath(fd)
	// The change moves the file's ctime on: the next stat reads the
	// attribute again.
	defer s.setIDs.forget(fileID{dev: st.GetDev(), ino: st.GetIno()})
	if bits == 0 {
		if !mayHoldSetID(st.GetMode() & unix.S_IFMT) {
			return nil
		}
		s.setIDs.removals.Add(1)
		err := unix.Removexattr(p, setIDXattr)
		switch err {
		case nil, unix.ENODATA, unix.EOPNOTSUPP, unix.EPERM:
			return nil
		}
		return wrap(err, "remove set-id attribute")
	}
	if !mayHoldSetID(st.GetMode() & unix.S_IFMT) {
		return nil // the host file has them (stripSetID)
	}
	// Before the attribute lands: from now on attributes are read
	// (sealmark.go), and a handle that knew its new file held none
	// (handle.noSetIDSince) no longer trusts that.
	s.seals.note(s.log)
	s.setIDs.noteStore()
	err := unix.Setxattr(p, setIDXattr, s.keys.setIDValue(st, bits), 0)
	if err == unix.EOPNOTSUPP || err == unix.EPERM {
		s.setIDLostOnce.Do(func() {
			s.log.Warn("the served file system has no user. attributes: set-id bits the application sets are dropped", "err", err)
		})
		return nil
	}
	return wrap(err, "store set-id bits")
}

// clearSetID removes the set-id attribute of h's file, whose sandbox
// set-id bits are now none (a chmod without them). h's type says whether
// the file may hold one, so unlike storeSetIDOf it needs no stat. When
// the attribute is gone (removed, or there was none), it returns true
// and the set-id cache's generation right after the removal, with which
// a stat taken later may be cached as holding none (putNone) instead of
// reading the attribute back. A file the gofer created holds none until
// the gofer stores one (handle.noSetIDSince): nothing to remove (tar's
// chmod of every file it makes).
func (s *Server) clearSetID(h *handle) (gen uint64, gone bool, err error) {
	if s.allowSetuid || !mayHoldSetID(h.ftype) {
		return 0, false, nil
	}
	if gen, ok := s.setIDs.noneSince(h.noSetIDSince); ok {
		return gen, true, nil
	}
	s.setIDs.removals.Add(1)
	err = unix.Removexattr(procFDPath(h.fd), setIDXattr)
	// The change moves the file's ctime on; a read that raced with it
	// is not kept (forget moves gen on).
	gen = s.setIDs.forget(fileID{dev: h.dev, ino: h.ino})
	switch err {
	case nil, unix.ENODATA:
		return gen, true, nil
	case unix.EOPNOTSUPP, unix.EPERM:
		return 0, false, nil
	}
	return 0, false, wrap(err, "remove set-id attribute")
}

// storeSetIDOf is storeSetID for the file fd as it is now.
func (s *Server) storeSetIDOf(fd int, bits uint32) error {
	if s.allowSetuid {
		return nil
	}
	st, err := statFD(fd)
	if err != nil {
		return err
	}
	return s.storeSetID(fd, st, bits)
}

// setIDCacheMax bounds setIDCache (emptied when full).
const setIDCacheMax = 1 << 16

// setIDCache remembers the set-id bits read for a file, valid while its
// ctime, owner and group are those they were read with: writing or
// removing an attribute (as chown and chmod) moves the ctime on, so a
// stat that finds them unchanged need not read the attribute again
// (reading it through /proc costs several times a statx). A change made
// by another process within one ctime tick (coarse timestamps) can go
// unseen until the next change; the gofer's own changes forget the
// entry, and a read that raced with one is not kept (gen). Safe for
// concurrent use.
type setIDCache struct {
	// mu is a leaf lock. It protects m and gen.
	mu sync.Mutex
	m  map[fileID]setIDEntry
	// gen counts the gofer's own changes of attributes.
	gen uint64
	// stores counts the set-id attributes the gofer wrote (not removed),
	// on any file: a new file's handle knows it holds none while stores
	// stays what it was at the creation (handle.noSetIDSince).
	stores uint64
	// misses counts the lookups that found nothing valid (each one an
	// attribute read), so tests can tell a read spared.
	misses uint64
	// removals counts the attribute removals tried, so tests can tell
	// one spared. Atomic.
	removals atomic.Uint64
}

type setIDEntry struct {
	ctimeNs  int64
	uid, gid uint32
	bits     uint32
}

// get returns the bits cached for st's file, if still valid; else the
// generation a read of the attribute must give put.
func (c *setIDCache) get(st *goferpb.Stat) (bits uint32, gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[fileID{dev: st.GetDev(), ino: st.GetIno()}]
	if !ok || e.ctimeNs != st.GetCtimeNs() || e.uid != st.GetUid() || e.gid != st.GetGid() {
		c.misses++
		return 0, c.gen, false
	}
	return e.bits, c.gen, true
}

// put caches bits read for st's file, unless the gofer changed an
// attribute since get returned gen (the read may predate the change
// within the same ctime tick).
func (c *setIDCache) put(st *goferpb.Stat, bits uint32, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= setIDCacheMax {
		c.m = make(map[fileID]setIDEntry)
	}
	c.m[fileID{dev: st.GetDev(), ino: st.GetIno()}] = setIDEntry{ctimeNs: st.GetCtimeNs(), uid: st.GetUid(), gid: st.GetGid(), bits: bits}
}

// putNone caches that st's file holds no set-id bits, known since the
// gofer removed its attribute at generation gen (clearSetID), and
// reports whether it did: not if the gofer changed an attribute since,
// when the caller must read it.
func (c *setIDCache) putNone(st *goferpb.Stat, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return false
	}
	if c.m == nil || len(c.m) >= setIDCacheMax {
		c.m = make(map[fileID]setIDEntry)
	}
	c.m[fileID{dev: st.GetDev(), ino: st.GetIno()}] = setIDEntry{ctimeNs: st.GetCtimeNs(), uid: st.GetUid(), gid: st.GetGid()}
	return true
}

// forget drops file id, whose attribute the gofer is changing, and
// returns the generation after the change.
func (c *setIDCache) forget(id fileID) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, id)
	return c.gen
}

// storesMark returns the mark a handle of a file the gofer has just
// created, with no attribute, keeps as its noSetIDSince.
func (c *setIDCache) storesMark() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stores + 1
}

// noteStore counts an attribute the gofer is writing: every mark
// storesMark gave before is void.
func (c *setIDCache) noteStore() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stores++
}

// noneSince reports whether a handle's mark (storesMark; 0: none) still
// says its file holds no attribute, with the current generation for
// putNone.
func (c *setIDCache) noneSince(mark uint64) (gen uint64, ok bool) {
	if mark == 0 {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.stores+1 == mark
}
