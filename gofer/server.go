package gofer

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// maxHandles bounds the handle table. Each handle holds one O_PATH fd and up
// to two open fds, so this also bounds the gofer's fd usage. Beyond it,
// operations that would create a handle fail with ENFILE.
const maxHandles = 1 << 16

// Server serves the files under one root directory. It implements
// goferpb.GoferServer; all methods are safe for concurrent use.
type Server struct {
	goferpb.UnimplementedGoferServer

	// log is immutable after NewServer.
	log hclog.Logger

	// root is the host path of the root directory, for logs only. Immutable.
	root string

	// rootFD is an O_PATH fd of the root directory. Immutable; closed by
	// Close once no Attach can use it (Close takes mu and sets closed).
	rootFD int

	// rootID is the root directory's inode. Immutable.
	rootID fileID

	// isRoot is whether the gofer runs with euid 0; when it does not, EPERM
	// from chown of a new file is ignored. Immutable.
	isRoot bool

	// euid is the gofer's effective uid, the owner of a file it makes
	// (finishCreate: another owner is set before the file's statx).
	// Immutable.
	euid uint32

	// umask is the gofer's umask when it started (processUmask), or 0
	// once ClearUmask made it so: the permission bits its creations lose
	// (finishCreate: they are set again before the file's statx). A
	// guess: finishCreate checks the file's mode after. Set before the
	// Server serves; immutable after.
	umask uint32

	// mu protects the fields below. It is held only for table updates,
	// never across a system call.
	mu sync.Mutex

	// handles maps handle ids to handles. Protected by mu.
	handles map[uint64]*handle

	// idPrefix is the high 32 bits of the ids this Server hands out: a
	// random, non-zero boot prefix drawn from crypto/rand (a new one if
	// nextID's 32-bit counter ever wraps). Protected by mu.
	idPrefix uint32

	// nextID is the counter (low 32 bits) of the id the next handle gets.
	// Ids are idPrefix<<32 | nextID, never reused within one Server and,
	// thanks to the random prefix, not reused by a later gofer process
	// either: a sentry holding an id of a gofer that died gets EBADF from
	// its successor, never another file. Protected by mu.
	nextID uint32

	// closed is set by Close; after it every operation fails. Protected by mu.
	closed bool
	// closing is set by Close before it tears anything down (read
	// without mu): a result made meanwhile is not sent on a call channel
	// (callWorkers.channelCall).
	closing atomic.Bool

	// sessions maps the ids of open sessions to them. Protected by mu.
	sessions map[uint64]*session

	// nextSession is the counter (low 32 bits) of the last session id
	// handed out; the high 32 bits are idPrefix. Protected by mu.
	nextSession uint32

	// orphans are the handles of unlinked files whose session ended, kept
	// in handles until they expire so that a successor sentry can Reopen
	// them. Protected by mu.
	orphans map[uint64]orphan

	// orphanTimer runs expireOrphans while there are orphans. Protected by
	// mu.
	orphanTimer *time.Timer

	// orphanLinger is how long orphans are kept. Immutable after NewServer.
	orphanLinger time.Duration

	// opens counts, per inode, the handles in the table a sentry opened;
	// silly maps inodes renamed by an unlink while open to their silly
	// name (silly.go). Protected by mu.
	opens map[fileID]int
	silly map[fileID]sillyName

	// sillyDirMu protects sillyDirs, the handles of the SillyDirName
	// directories made so far, by the mount id of the mount they top
	// (silly.go); each holds a reference dropped by Close. Lock order:
	// sillyDirMu before mu.
	sillyDirMu sync.Mutex
	sillyDirs  map[uint64]*handle

	// cache is the reply cache of mutations carrying an Origin. It has its
	// own lock. Immutable pointer.
	cache *replyCache

	// loose maps a principal to the pseudo-session that owns the handles
	// its calls without a session made: they are usable only by calls of
	// the same principal without a session, and released only by Release.
	// Protected by mu.
	loose map[string]*session

	// keyFile is where the handle MAC key lives ("" for a key in memory
	// only); keys seals and checks file handles (handlekey.go). Both are
	// immutable after NewServer.
	keyFile string
	keys    *handleKeys

	// allowSetuid keeps setuid/setgid bits on chmod, create and chown
	// (stripped by default: see stripSetID; the sandbox's view is kept in
	// an attribute, setid.go). Immutable after NewServer.
	allowSetuid bool

	// setIDLostOnce logs, once, that set-id bits could not be recorded
	// (setid.go: storeSetID).
	setIDLostOnce sync.Once
	// setIDs caches the set-id bits read per file (setid.go); own lock.
	setIDs setIDCache
	// seals says whether a set-id seal of the key may exist: until one
	// does, none is read (sealmark.go). Set by NewServer.
	seals *sealMark

	// noopAttrSkips counts the chowns and chmods SetStat left out as
	// no-ops (metadata.go: skippableAttrs), so tests can tell one spared.
	// Atomic.
	noopAttrSkips atomic.Uint64

	// donateFDs says whether opened files' host fds are donated to a
	// sentry that asks on a stream that can carry them, and maxDonated
	// bounds the donations a session holds (donate.go). Immutable after
	// NewServer.
	donateFDs  bool
	maxDonated int
}

var _ goferpb.GoferServer = (*Server)(nil)

// NewServer returns a Server confined to the directory root. log may be nil.
func NewServer(root string, log hclog.Logger, opts ...Option) (*Server, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("gofer: opening root %q: %w", root, err)
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("gofer: /proc is required to reopen handles: %w", err)
	}
	var rootSt unix.Stat_t
	if err := unix.Fstat(fd, &rootSt); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("gofer: stat root %q: %w", root, err)
	}
	prefix, err := newIDPrefix(0)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	s := &Server{
		log:          log.Named("gofer"),
		root:         root,
		rootFD:       fd,
		rootID:       statID(&rootSt),
		isRoot:       os.Geteuid() == 0,
		euid:         uint32(os.Geteuid()),
		umask:        processUmask(),
		handles:      make(map[uint64]*handle),
		idPrefix:     prefix,
		nextID:       1,
		sessions:     make(map[uint64]*session),
		orphans:      make(map[uint64]orphan),
		orphanLinger: DefaultOrphanLinger,
		opens:        make(map[fileID]int),
		silly:        make(map[fileID]sillyName),
		sillyDirs:    make(map[uint64]*handle),
		cache:        newReplyCache(maxCachedReplies, maxCachedBytes),
		loose:        make(map[string]*session),
		donateFDs:    true,
		maxDonated:   DefaultMaxDonatedFDs,
	}
	for _, o := range opts {
		o(s)
	}
	if s.keys, err = newHandleKeys(s.keyFile); err != nil {
		unix.Close(fd)
		return nil, err
	}
	s.seals = openSealMark(s.keyFile)
	return s, nil
}

// newIDPrefix draws a random boot prefix for handle ids: never 0 and never
// old.
func newIDPrefix(old uint32) (uint32, error) {
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("gofer: drawing the handle id prefix: %w", err)
		}
		if p := binary.LittleEndian.Uint32(b[:]); p != 0 && p != old {
			return p, nil
		}
	}
}

// ClearUmask sets the process's umask to 0, so that a file the gofer
// creates has the permission bits the sentry asked for (the
// application's umask applied) without a chmod after it, where the
// gofer's own umask (022: a 0664 file, a 0775 directory) cut them, and
// notes it. For a gofer daemon, whose files after it (the sealed set-id
// marker) are made with explicit modes, before it serves: it changes the
// umask of the whole process.
func (s *Server) ClearUmask() {
	unix.Umask(0)
	s.umask = 0
}

// Register registers s as the Gofer service of g.
func (s *Server) Register(g *grpc.Server) {
	g.RegisterService(s.serviceDesc(), s)
}

// Close releases every handle and the root fd. Operations in flight finish
// on the fds they hold; later operations fail with EBADF (or ESHUTDOWN for
// Attach). Close is idempotent.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	hs := s.handles
	s.handles = nil
	s.orphans = nil
	if s.orphanTimer != nil {
		s.orphanTimer.Stop()
		s.orphanTimer = nil
	}
	rootFD := s.rootFD
	s.rootFD = -1
	s.mu.Unlock()
	s.seals.close()

	for _, h := range hs {
		h.decRef()
	}
	s.sillyDirMu.Lock()
	for _, h := range s.sillyDirs {
		h.decRef()
	}
	s.sillyDirs = nil
	s.sillyDirMu.Unlock()
	return unix.Close(rootFD)
}

// Attach implements goferpb.GoferServer.Attach.
func (s *Server) Attach(ctx context.Context, _ *goferpb.AttachRequest) (*goferpb.AttachReply, error) {
	h, st, err := s.attach()
	s.log.Debug("attach", "root", s.root, "err", err)
	if err != nil {
		return &goferpb.AttachReply{Errno: errnoOf(err)}, nil
	}
	return &goferpb.AttachReply{Root: h, Stat: st, BindingKey: s.keys.bindingKey(principalOf(ctx))}, nil
}

func (s *Server) attach() (*goferpb.Handle, *goferpb.Stat, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, errorf(unix.ESHUTDOWN, "attach")
	}
	// Dup under mu: Close cannot close rootFD concurrently.
	fd, err := unix.FcntlInt(uintptr(s.rootFD), unix.F_DUPFD_CLOEXEC, 0)
	s.mu.Unlock()
	if err != nil {
		return nil, nil, wrap(err, "attach: dup root fd")
	}
	return s.install(fd)
}

// Release implements goferpb.GoferServer.Release. Unknown ids are ignored.
func (s *Server) Release(_ context.Context, req *goferpb.ReleaseRequest) (*goferpb.ReleaseReply, error) {
	ids := req.GetHandles()
	var dropped []*handle
	s.mu.Lock()
	for _, id := range ids {
		if h, ok := s.handles[id]; ok {
			dropped = append(dropped, h)
		}
	}
	s.mu.Unlock()
	s.drop(dropped)
	if s.log.IsDebug() { // its arguments cost allocations
		s.log.Debug("release", "handles", ids, "released", len(dropped))
	}
	return &goferpb.ReleaseReply{}, nil
}

// drop removes handles from the table (those still in it) and drops the
// table's references; the silly names of files no sentry has open any more
// are removed.
func (s *Server) drop(hs []*handle) {
	type gone struct {
		sn  *sillyName
		fid fileID
	}
	var names []gone
	var dropped []*handle
	s.mu.Lock()
	for _, h := range hs {
		if s.handles[h.id] != h {
			continue
		}
		delete(s.handles, h.id)
		s.disownLocked(h)
		if sn := s.openLeftLocked(h); sn != nil {
			names = append(names, gone{sn, h.fid})
		}
		dropped = append(dropped, h)
	}
	s.mu.Unlock()
	for _, g := range names {
		s.removeSilly(g.sn, g.fid)
	}
	for _, h := range dropped {
		h.decRef()
	}
}

// install makes a handle of the O_PATH fd fd (which it takes ownership of,
// closing it on failure) and returns its wire form and stat.
func (s *Server) install(fd int) (*goferpb.Handle, *goferpb.Stat, error) {
	h, st, err := s.newHandle(fd)
	if err != nil {
		return nil, nil, err
	}
	id, err := s.insert(h)
	if err != nil {
		h.decRef()
		return nil, nil, err
	}
	return &goferpb.Handle{Id: id, FileHandle: h.fileHandle}, st, nil
}

// insert adds h to the handle table, which takes over h's initial
// reference, and returns h's id.
func (s *Server) insert(h *handle) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errorf(unix.EBADF, "server closed")
	}
	if len(s.handles) >= maxHandles {
		return 0, errorf(unix.ENFILE, "handle table full (%d handles)", len(s.handles))
	}
	if s.nextID == 0 {
		// The counter wrapped: continue under a new prefix.
		p, err := newIDPrefix(s.idPrefix)
		if err != nil {
			return 0, errorf(unix.ENFILE, "%v", err)
		}
		s.idPrefix, s.nextID = p, 1
	}
	id := uint64(s.idPrefix)<<32 | uint64(s.nextID)
	s.nextID++
	h.id = id
	s.handles[id] = h
	return id, nil
}

// lookup returns the handle with the given id with an extra reference that
// the caller must drop with decRef, or EBADF.
func (s *Server) lookup(id uint64) (*handle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.handles[id]
	if !ok {
		return nil, errorf(unix.EBADF, "handle %d", id)
	}
	h.incRef()
	return h, nil
}

// lookupDir is lookup for a handle that must be a directory (else ENOTDIR).
func (s *Server) lookupDir(id uint64) (*handle, error) {
	h, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	if h.ftype != unix.S_IFDIR {
		h.decRef()
		return nil, errorf(unix.ENOTDIR, "handle %d", id)
	}
	return h, nil
}
