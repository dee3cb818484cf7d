package gofer

import (
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// handle is one file served to the sentry.
type handle struct {
	// id is the handle's id. Set once by Server.insert before the handle is
	// visible to other goroutines; immutable after.
	id uint64

	// fd is an O_PATH|O_NOFOLLOW fd of the file. Immutable; closed when refs
	// drops to zero, unless clones share it (sharedFD).
	fd int

	// sharedFD, once set, counts the handles that share fd (clone: a
	// second handle of the inode needs no fd of its own, since nothing
	// done through an O_PATH fd has state); the last of them to go closes
	// fd. Set once, by the first clone, while it holds a reference;
	// atomic.
	sharedFD atomic.Pointer[sharedFD]

	// ftype is the file type (S_IFMT bits), which never changes for an
	// inode. Immutable.
	ftype uint32

	// dev is the file's device (Stat.dev): which filesystem a syncfs of
	// it syncs. Immutable.
	dev uint64

	// ino is the file's inode number (Stat.ino): with dev, the key of
	// the set-id cache (setid.go). Immutable.
	ino uint64

	// fileHandle is the wire encoding of the file's name_to_handle_at
	// handle (see encodeFileHandle), or nil. Immutable.
	fileHandle []byte

	// noSetIDSince, when not 0, says the file has held no set-id
	// attribute since the gofer created it, as long as the gofer has
	// stored no attribute on any file since (setIDCache.storesMark):
	// a chmod then has none to remove. The handle's fd keeps the inode,
	// so its number names no other file meanwhile. Immutable; a clone
	// inherits it.
	noSetIDSince uint64

	// owner is the session the handle belongs to, or nil. Protected by
	// Server.mu.
	owner *session

	// sentryOpen is set once a sentry opened the handle (Open, Create):
	// it backs an open file description (see silly.go). fid is then the
	// inode's id. sentryOpen is atomic; fid is protected by Server.mu.
	sentryOpen atomic.Bool
	fid        fileID

	// donations counts the host fds donated for this handle to its
	// owner (donate.go), counted in owner.donated. Protected by
	// Server.mu.
	donations int

	// refs counts the handle table's reference plus one per operation in
	// flight. Atomic; when it reaches zero all fds are closed.
	refs atomic.Int64

	// mu protects the open fds and the directory snapshot. Read, Write and
	// Fsync hold it for reading while they use rfd/wfd, so that Open, which
	// holds it for writing to replace them, never closes an fd in use.
	// Getdents holds it for writing (it seeks the directory fd).
	mu sync.RWMutex

	// rfd is an fd open for reading (O_RDONLY or O_RDWR), or -1. Protected
	// by mu.
	rfd int

	// wfd is an fd open for writing (O_WRONLY or O_RDWR), or -1. It may be
	// the same fd as rfd. Protected by mu.
	wfd int

	// syncWrites is set once any Open or Create asks for O_SYNC or O_DSYNC;
	// writes through the handle are then followed by fsync (O_SYNC) or
	// fdatasync (O_DSYNC only). Protected by mu.
	syncWrites, dsyncOnly bool

	// dirents is the directory listing snapshot the last Getdents that
	// could not continue one read: the entries after host position
	// direntsFrom (0: the start) to the end, each with its host cookie.
	// direntsNext is the index after the last entry a Getdents returned.
	// direntsValid is whether dirents holds a snapshot. Protected by mu.
	dirents      []*goferpb.Dirent
	direntsFrom  uint64
	direntsNext  int
	direntsValid bool

	// seqMu protects the write sequence numbers below. Lock order:
	// mu before seqMu.
	seqMu sync.Mutex

	// maxSeq is the highest sequence number of a completed write through this
	// handle. Protected by seqMu.
	maxSeq uint64

	// inflight counts writes in flight by sequence number. Protected by seqMu.
	inflight map[uint64]int
}

// newHandle wraps the O_PATH fd fd, which it owns (closing it on failure), in
// a handle with one reference, and returns the file's stat too (with the
// sandbox's set-id bits, setid.go).
func (s *Server) newHandle(fd int) (*handle, *goferpb.Stat, error) {
	st, err := statFD(fd)
	if err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	s.addSetID(fd, st)
	return newHandleOf(fd, st), st, nil
}

// newHandleOf wraps the O_PATH fd fd, which it owns, whose stat the
// caller has just taken (st), in a handle with one reference.
func newHandleOf(fd int, st *goferpb.Stat) *handle {
	h := &handle{
		fd:         fd,
		ftype:      st.GetMode() & unix.S_IFMT,
		dev:        st.GetDev(),
		ino:        st.GetIno(),
		fileHandle: fileHandleOn(fd, st.GetDev()),
		rfd:        -1,
		wfd:        -1,
	}
	h.refs.Store(1)
	return h
}

// sharedFD counts the handles sharing one O_PATH fd (handle.sharedFD).
type sharedFD struct {
	// handles counts the handles whose fd it is. Atomic.
	handles atomic.Int32
}

// shareFD returns h's fd with one more sharer counted, for a clone of h
// to take as its own fd. Precondition: the caller holds a reference of h.
func (h *handle) shareFD() int {
	sh := h.sharedFD.Load()
	if sh == nil {
		sh = &sharedFD{}
		sh.handles.Store(1) // h's own
		if !h.sharedFD.CompareAndSwap(nil, sh) {
			sh = h.sharedFD.Load()
		}
	}
	sh.handles.Add(1)
	return h.fd
}

func (h *handle) incRef() {
	h.refs.Add(1)
}

// decRef drops a reference, closing the handle's fds with the last one.
func (h *handle) decRef() {
	if h.refs.Add(-1) != 0 {
		return
	}
	if h.wfd >= 0 && h.wfd != h.rfd {
		unix.Close(h.wfd)
	}
	if h.rfd >= 0 {
		unix.Close(h.rfd)
	}
	if sh := h.sharedFD.Load(); sh == nil || sh.handles.Add(-1) == 0 {
		unix.Close(h.fd)
	}
	h.rfd, h.wfd, h.fd = -1, -1, -1
	h.dirents = nil
}

// procPath returns the /proc/self/fd path of h's O_PATH fd. Opening it
// reaches the inode h already holds, without any path resolution inside the
// root, so it cannot escape.
func (h *handle) procPath() string {
	return procFDPath(h.fd)
}

func procFDPath(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}

// procSelfFD is an O_PATH fd of /proc/self/fd, opened at first use (after
// the daemon set up its namespaces), or -1 if it cannot be opened: fd's
// magic link reached through it is one path component, where
// "/proc/self/fd/N" is four and a symlink (a reopen took about half the
// time this way).
var procSelfFD = sync.OnceValue(func() int {
	fd, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
})

// procFD returns the directory fd and name, for an *at system call, of
// fd's magic link in /proc: the inode fd already holds, without any path
// resolution inside the root.
func procFD(fd int) (int, string) {
	if d := procSelfFD(); d >= 0 {
		return d, strconv.Itoa(fd)
	}
	return unix.AT_FDCWD, procFDPath(fd)
}

// checkOpenable reports whether h's file may be opened for I/O: only regular
// files and directories are served.
func (h *handle) checkOpenable() error {
	switch h.ftype {
	case unix.S_IFREG, unix.S_IFDIR:
		return nil
	case unix.S_IFLNK:
		return errorf(unix.ELOOP, "handle %d is a symlink", h.id)
	default:
		return errorf(unix.EPERM, "handle %d is a special file (mode %#o)", h.id, h.ftype)
	}
}

// reopen opens h's file with the given access mode (O_RDONLY, O_WRONLY or
// O_RDWR) through /proc/self/fd.
func (h *handle) reopen(acc int) (int, error) {
	flags := acc | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_LARGEFILE
	if h.ftype == unix.S_IFDIR {
		flags |= unix.O_DIRECTORY
	}
	dir, name := procFD(h.fd)
	fd, err := unix.Openat(dir, name, flags, 0)
	if err != nil {
		return -1, wrap(err, "reopen handle %d", h.id)
	}
	return fd, nil
}

// ensureOpenLocked makes sure h has an fd for reading (if read) and one for
// writing (if write), opening or upgrading to O_RDWR as needed.
// Precondition: h.mu is held for writing.
func (h *handle) ensureOpenLocked(read, write bool) error {
	needR := read && h.rfd < 0
	needW := write && h.wfd < 0
	if !needR && !needW {
		return nil
	}
	if write && h.ftype == unix.S_IFDIR {
		return errorf(unix.EISDIR, "open handle %d for writing", h.id)
	}
	// Prefer a single O_RDWR fd once both directions are wanted.
	if (read || h.rfd >= 0) && (write || h.wfd >= 0) {
		if fd, err := h.reopen(unix.O_RDWR); err == nil {
			h.installLocked(fd, fd)
			return nil
		}
		// Fall through: the file may be readable or writable only (for a
		// gofer not running as root); open the directions separately.
	}
	if needR {
		fd, err := h.reopen(unix.O_RDONLY)
		if err != nil {
			return err
		}
		h.installLocked(fd, h.wfd)
	}
	if needW {
		fd, err := h.reopen(unix.O_WRONLY)
		if err != nil {
			return err
		}
		h.installLocked(h.rfd, fd)
	}
	return nil
}

// installLocked replaces h's open fds by rfd and wfd, closing the ones no
// longer used. Precondition: h.mu is held for writing.
func (h *handle) installLocked(rfd, wfd int) {
	if h.rfd >= 0 && h.rfd != rfd && h.rfd != wfd {
		unix.Close(h.rfd)
	}
	if h.wfd >= 0 && h.wfd != h.rfd && h.wfd != rfd && h.wfd != wfd {
		unix.Close(h.wfd)
	}
	h.rfd, h.wfd = rfd, wfd
}

// anyFDLocked returns an open (non-O_PATH) fd of h, opening one for reading
// if there is none. Precondition: h.mu is held for writing.
func (h *handle) anyFDLocked() (int, error) {
	if h.rfd >= 0 {
		return h.rfd, nil
	}
	if h.wfd >= 0 {
		return h.wfd, nil
	}
	if err := h.ensureOpenLocked(true, false); err != nil {
		return -1, err
	}
	return h.rfd, nil
}

// fileHandleOf returns the encoded name_to_handle_at handle of fd, or nil
// when the filesystem cannot provide one. It makes one call into a buffer
// of the largest handle the kernel makes (MAX_HANDLE_SZ), on the stack:
// unix.NameToHandleAt's first call has room for 32 bytes, so a larger
// handle (NFS's) took a second call, and so did a filesystem that has
// none to give (EOVERFLOW, FILEID_INVALID: an overlay without
// nfs_export), to fail again; and it allocated its buffer and the path.
func fileHandleOf(fd int) []byte {
	return fileHandleOfDev(fd, noDev)
}

// noDev is a device number no file has: fileHandleOf's, which does not
// know the file's, and leaves noHandles be.
const noDev = ^uint64(0)

// fileHandleOfDev is fileHandleOf of an fd of a file on device dev, which
// it notes in noHandles when the filesystem has no handles to give, and
// drops from it when it gives one.
func fileHandleOfDev(fd int, dev uint64) []byte {
	var fh struct {
		bytes uint32
		typ   int32
		f     [maxHandleBytes]byte
	}
	fh.bytes = maxHandleBytes
	var mountID int32
	_, _, errno := unix.Syscall6(unix.SYS_NAME_TO_HANDLE_AT, uintptr(fd), uintptr(unsafe.Pointer(&emptyPath[0])),
		uintptr(unsafe.Pointer(&fh)), uintptr(unsafe.Pointer(&mountID)), unix.AT_EMPTY_PATH, 0)
	fileHandleCalls.Add(1)
	if errno != 0 || fh.bytes > maxHandleBytes {
		// EOPNOTSUPP (no export support), EOVERFLOW, ENOSYS, EPERM...: the
		// handle is optional.
		if (errno == unix.EOPNOTSUPP || errno == unix.EOVERFLOW) && dev != noDev {
			noHandles.note(dev)
		}
		return nil
	}
	if noHandles.any.Load() && dev != noDev {
		noHandles.forget(dev)
	}
	return encodeFileHandle(fh.typ, fh.f[:fh.bytes])
}

// fileHandleOn is fileHandleOf for an fd of a file on device dev, where
// it does not ask while dev's filesystem has been found to give none
// (noHandles).
func fileHandleOn(fd int, dev uint64) []byte {
	if noHandles.any.Load() && noHandles.skip(dev) {
		return nil
	}
	return fileHandleOfDev(fd, dev)
}

// fileHandleCalls counts name_to_handle_at calls (tests).
var fileHandleCalls atomic.Uint64

// noHandleProbe is how often fileHandleOn asks a device noHandles holds
// again: every noHandleProbe-th handle there.
const noHandleProbe = 64

// noHandles holds the devices whose filesystem gave no file handle for
// what is a property of the filesystem, not of the file: EOPNOTSUPP (no
// export operations) or EOVERFLOW into a buffer of the largest handle
// there is (FILEID_INVALID: an overlay without nfs_export), so that the
// handles of their files are made without asking each time (a Walk of
// such a file took openat2, statx and a name_to_handle_at that failed).
// Every noHandleProbe-th handle on such a device asks again, and a handle
// that comes drops the device: a device number an unmounted filesystem
// left, taken by one that gives handles, costs at most that many files
// their file handle (they are found again by name, not by handle, after
// a gofer restart).
var noHandles = noHandleDevs{devs: make(map[uint64]*atomic.Uint32)}

type noHandleDevs struct {
	// any says devs is not empty. Atomic.
	any atomic.Bool
	mu  sync.RWMutex
	// devs counts, for each device, the handles made there since it
	// was noted (skip). Protected by mu; the counts are atomic.
	devs map[uint64]*atomic.Uint32
}

// note records that dev's filesystem gave no handle.
func (n *noHandleDevs) note(dev uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.devs[dev] == nil {
		n.devs[dev] = new(atomic.Uint32)
	}
	n.any.Store(true)
}

// forget drops dev, whose filesystem gave a handle.
func (n *noHandleDevs) forget(dev uint64) {
	n.mu.RLock()
	c := n.devs[dev]
	n.mu.RUnlock()
	if c == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.devs, dev)
	n.any.Store(len(n.devs) > 0)
}

// skip says whether a handle of a file on dev is made without asking,
// and counts it: not if dev is not noted, nor every noHandleProbe-th
// time.
func (n *noHandleDevs) skip(dev uint64) bool {
	n.mu.RLock()
	c := n.devs[dev]
	n.mu.RUnlock()
	return c != nil && c.Add(1)%noHandleProbe != 0
}

// emptyPath is the C string "", for an *at call with AT_EMPTY_PATH.
var emptyPath = [1]byte{}

// encodeFileHandle encodes a struct file_handle for Handle.file_handle:
// handle_type as 4 little-endian bytes followed by f_handle. (The proto has
// no field for handle_type, which open_by_handle_at needs.)
func encodeFileHandle(typ int32, b []byte) []byte {
	out := make([]byte, 4+len(b))
	binary.LittleEndian.PutUint32(out, uint32(typ))
	copy(out[4:], b)
	return out
}
