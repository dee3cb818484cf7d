package client

import (
	"bytes"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// The path cache (docs/ARCHITECTURE.md, "The client's path cache").
//
// find, make and tar ask the attributes of the same paths again and
// again: stat, lstat, newfstatat and statx of a path, access, faccessat
// and faccessat2, readlink and readlinkat. The server grants a PathLease
// (Hello.path_leases) in the reply of such a call whose walk crossed only
// gofer files: a lease per inode and kind the walk touched (the
// directories searched and files found, the attributes of the file it
// ended at, the names missing in a directory), each of which it revokes
// (LeaseRevoke) when that inode or directory changes through it, by any
// client, this one included, before that change's reply; a change made
// outside the server (the host, another server sharing the gofer) shows
// when the lease expires (1 s after the last heartbeat that renewed it,
// leaserenew.go; at most 10 s after its grant). While all the leases of an answer hold,
// the client answers the same call with the same arguments from the reply
// it kept: the result, the errno (ENOENT, ENOTDIR, EACCES, ELOOP,
// ENAMETOOLONG; EINVAL of readlink) and the bytes written to the buffer.
// A success also tells which of its leases the name's existence alone
// holds (PathLease.search_ids): while they do, a mkdir or mkdirat of the
// same path, start and credentials fails here with EEXIST (tar's mkdir
// of each leading directory of each file), as Linux, which reports
// EEXIST before EROFS or a missing write permission on the parent, once
// the walk to the parent (which the kept answer made) succeeded.
//
// A getdents64 of a directory whose description the client saw opened
// by a path (absolute or relative to the cwd: openPaths) names that path
// (Syscall.listing_path), and its reply brings, under its leases, the
// lstat answers of path/<name> for the entries listed (Reply.listed; the
// server checks that the path still names the directory): find's lstat
// of each entry is answered here (keepListed). Without such a path (a
// directory opened relative to a dirfd: GNU find's fts) the answers are
// those of newfstatat(fd, name, AT_SYMLINK_NOFOLLOW) of the fd listed.
//
// The key is what the answer depends on besides the namespace: the call
// and its arguments other than buffers (flags, access mode, statx mask,
// readlink's size; stat and lstat are keyed as the newfstatat that
// answers the same, and AT_NO_AUTOMOUNT, which changes no answer, is
// left out: statKeyOf), the path string, where a relative path starts (the
// caller's cwd, named by its fs record's path and file handle, or the
// description of dirfd, named by its FileState id), and the caller's
// credentials as its process record tells them (uids, gids, groups,
// capabilities: the walk's permission checks use them). Processes with
// the same credentials share answers of absolute paths, and of relative
// paths when they have the same cwd.
//
// A call is answered here only when the client knows the answer is the
// server's:
//   - the caller's process and fs records arrived (they come with or
//     before the reply of the call that changed them: set*id, setgroups,
//     capset, a set-id exec, chdir), and no process of this client
//     called setfsuid or setfsgid (the fs ids are in no record);
//   - no posted call that may change a file (a write behind, chmod,
//     chown, utimensat) is without a reply, and no shared mapping has
//     dirty pages (a write-back changes the mtime); but while the only
//     posted calls without a reply change regular files' attributes,
//     a stat that found a directory and a walk that failed ENOENT are
//     answered, and any answer that arrived before the files those
//     calls change were created (answerScope); and a posted chmod, chown or utimensat
//     of a directory this client made, once its mkdir's reply named
//     the inode, holds back only the answers holding a lease on that
//     inode (dirattrs.go);
//   - dirfd, if any, is in an fd table only its process uses.
//
// The calls that change names or attributes through the gofer (rename,
// unlink, mkdir, chmod, an open that creates...) need nothing here: the
// server revokes the leases they change, and its revocation precedes
// their reply. The client drops everything itself before it forwards a
// call whose changes the server does not revoke per inode (mount, bind,
// the xattr calls, setfsuid), and when its connection dies: a new server
// granted nothing.
//
// A process with several threads uses the cache too, unlike the read
// cache: an answer does not depend on a description's offset, which
// another thread could move, and another thread's change is either
// forwarded (its revocation precedes its reply) or posted (nothing is
// answered until its reply).

// maxPathAnswers bounds the answers kept (keys: a listed entry has 2);
// beyond it, the gone ones are forgotten, and all of them if that frees
// less than a quarter (evictLocked). find lists ~7,000 entries a second
// and stats each while it walks the subdirectories listed before it:
// with 16,384 keys a drop of everything in the middle of a directory
// cost it ~300 more waited calls (of 3,500) over /usr/include.
// pathWastedLimit drops in a row of answers none of which was used make
// the client want no lease for a while (pathCache.quietFor).
const (
	maxPathAnswers  = 65536
	pathWastedLimit = 16
	pathQuiet       = time.Second
	pathQuietMax    = 16 * time.Second
)

// pathCache holds the kept answers. mu is a leaf lock (the receiving
// goroutine takes it to fold records and revocations, tasks to answer
// and keep).
type pathCache struct {
	mu sync.Mutex
	// renewal extends the leases' expiry (leaserenew.go). Immutable.
	renewal *leaseRenewal
	// sendHeld sends the connection's queue of posted calls now if it
	// holds a call waiting for the next one (remoteSession.sendHeld; nil
	// in tests): a call about to wait for a posted creation's reply
	// sends it (waitCreations). Set before the first call.
	sendHeld func()
	// answers are the kept answers (the existence of names among
	// them: existsCall). Protected by mu.
	answers map[pathKey]*pathAnswer
	// byLease are the holds each lease id's revocation marks (some of
	// their answers may have been replaced or dropped since);
	// byLeaseLen counts their entries. A revocation marks holds rather
	// than deleting answers by key: a listing's answers (8,000 for a
	// find of /usr/include) then cost a pointer per lease of each
	// entry, not a key per lease of each answer. Protected by mu.
	byLease    map[uint64][]*pathHold
	byLeaseLen int
	// gen counts recoveries (a grant from a call sent before one is
	// dropped); lastEpoch is the latest LeaseRevoke epoch of the current
	// server. Protected by mu.
	gen       uint64
	lastEpoch uint64
	// creds is each process's credentials as a key part, fs its fs
	// record's id; cwds is each fs record's cwd as the start of a
	// key relative to it (cwdStart).
	// Protected by mu.
	creds map[int32]string
	fs    map[int32]uint64
	cwds  map[uint64]string
	// rootedFS are the fs records whose context chroot(2) gave a root of
	// its own (FsState.root), or that is in a mount namespace other than
	// the sandbox's first (FsState.mnt_ns: unshare or clone with
	// CLONE_NEWNS, where other mounts cover the same paths): the paths
	// of its processes do not name what the same paths of the others
	// name, so none of their calls is keyed (answered from, or kept in,
	// this cache; noteOpen notes no path). Protected by mu.
	rootedFS map[uint64]bool
	// searchAll says the process's effective capabilities let it
	// search any directory (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
	// no chmod changes its walks. Protected by mu.
	searchAll map[int32]bool
	// fsIDsChanged is set once a process called setfsuid or setfsgid:
	// nothing is answered any more. Protected by mu.
	fsIDsChanged bool
	// sweeps counts evictLocked's sweeps (pathHold.swept).
	// Protected by mu.
	sweeps uint64
	// hitsSinceDrop counts the hits since the answers were last
	// dropped; wasted counts the drops in a row of answers none of
	// which was used. Once wasted reaches pathWastedLimit, no lease is
	// wanted for quietFor (from pathQuiet, doubled each time up to
	// pathQuietMax, back to nothing after a hit), until quietUntil: the
	// workload changes names faster than it asks again (tar), and a
	// lease it holds only makes other clients' changes wait for its
	// revocation. Protected by mu.
	hitsSinceDrop, wasted int
	quietFor              time.Duration
	quietUntil            time.Time
	// creations is the count of creations sent (readCache.creations),
	// read when an answer is kept (pathAnswer.nextCreation; nil: not
	// known). Immutable.
	creations *atomic.Uint64

	// dirsChanging counts, by a directory's inode number, the posted
	// creations in it without a reply, while which no answer holding a
	// lease on its attributes or missing names is given
	// (pathHold.dirs); creationDone is closed (and cleared) when a
	// posted creation's reply came, for the calls waiting for one
	// (postcreate.go). Protected by mu.
	dirsChanging map[uint64]int
	creationDone chan struct{}
	// inosChanging counts, by inode number, the posted removals of a
	// name of the inode and the posted attribute changes of it (a
	// directory this client made: dirattrs.go) without a reply, while
	// which no answer holding a lease on it is given (pathHold.inos;
	// postunlink.go). Protected by mu.
	inosChanging map[uint64]int
	// dirAttrsByIno counts the posted attribute changes of directories
	// this client made that inosChanging counts; dirAttrsPending those
	// counted as any file's until their mkdir's reply names the inode
	// (dirattrs.go). Protected by mu.
	dirAttrsByIno, dirAttrsPending int
	// renewing counts the posted creations in flight whose reply is to
	// bring the answer kept under a key (the stat of the directory,
	// Reply.parent_stat). Protected by mu.
	renewing map[pathKey]int

	// copies are the copies of the complete names of the directories
	// this client made (completenames.go), by the mkdir's path key
	// (copyKey); writeAll says the process's effective capabilities
	// let it write any directory (CAP_DAC_OVERRIDE). Protected by mu.
	copies   map[pathKey]*namesCopy
	writeAll map[int32]bool

	// openPaths is the path each description was opened by (absolute,
	// or relative to the opener's cwd), for the listings of
	// directories (listingPath). Protected by mu.
	openPaths map[uint64]string
	// openedStats are the kept stat answers of the paths descriptions
	// were opened by, which answer their fstat (openstat.go).
	// Protected by mu.
	openedStats map[uint64]openedStat
	// listingEnds are the descriptions at their listing's end
	// (direof.go). Protected by mu.
	listingEnds map[uint64]bool
	// missing indexes the kept answers that say a path is missing
	// (missingprefix.go). Protected by mu.
	missing map[missingKey]missingRef
	// missingIn indexes those that also name the directory the name is
	// missing from and its complete names, by the path of that
	// directory (missingprefix.go). Protected by mu.
	missingIn map[missingKey]missingRef
	// missingInNames counts the names those answers hold (bounded by
	// maxMissingInNames). Protected by mu.
	missingInNames int
	// listedDirs are the directories (listedDirKey) whose listing the
	// client was given, until the listing's leases expire
	// (dirlisting.go). Protected by mu.
	listedDirs map[string]time.Time
	// aheadFresh are the descriptions whose listing has not begun
	// (opened, no getdents64, getdents or lseek since), ahead counts the
	// listings sent ahead and their use (dirahead.go). Protected by mu.
	aheadFresh map[uint64]bool
	// pathProofs are, for the descriptions opened relative to a dirfd
	// whose path openPaths derives from the dirfd's, the answers that
	// showed it; aheadListed, the shared hold of the listing ahead each
	// description's getdents64 was answered from; settled, the
	// server's description of each provisional one whose open's reply
	// came (dirfdpaths.go). Protected by mu.
	pathProofs  map[uint64]pathProof
	aheadListed map[uint64]*pathHold
	settled     map[uint64]uint64
	// dirNames are the existence answers of paths whose lstat answer
	// said a directory when a proof was made of them, with that
	// directory's mode and owner (dirfdpaths.go). Protected by mu.
	dirNames map[pathKey]dirName
	// aheadSources are the descriptions posted opens made from a
	// listing's answer whose first read may ask leases ahead
	// (dataahead.go). Protected by mu.
	aheadSources map[uint64]aheadSource
	ahead        aheadUse
	// noAhead: no listing ahead is asked for (Config.NoListingsAhead).
	// Immutable.
	noAhead bool
	// aheadComing counts, by key, the listings ahead asked for by
	// posted calls without a reply; aheadArrived is closed (and
	// cleared) when such a reply came (dirahead.go). Protected by mu.
	aheadComing  map[pathKey]int
	aheadArrived chan struct{}
	// aheadRest are, by the key of a listing ahead of its path, the
	// subdirectories of a directory not asked to be listed ahead yet
	// (dirahead.go). Protected by mu.
	aheadRest map[pathKey]aheadRest

	// hits counts the calls answered here, kept the answers kept, for
	// the end-of-session log line. Atomic.
	hits, kept atomic.Uint64
	// aheadCounts counts the listings ahead used (dirahead.go), for the
	// end-of-session log line.
	aheadCounts aheadCounts
	// aheadWaitTimes are how long those waits took (end-of-run counts).
	aheadWaitTimes waitTimes
	// creationWaits counts the calls that waited for a posted
	// creation's reply (waitCreations), creationWaitsLate those of
	// them whose wait ran out, for the end-of-session log line. Atomic.
	creationWaits, creationWaitsLate atomic.Uint64
}

// pathKey is what a kept answer depends on besides the namespace.
type pathKey struct {
	// sysno is the call; existsCall for the existence of the path's
	// name.
	sysno uintptr
	// creds are the caller's credentials; start is "/" for an absolute
	// path, else "cwd " and the cwd's key part, or "fd " and dirfd's
	// description id.
	creds, start, path string
	// args are the call's arguments other than the path, buffers and
	// dirfd (flags, mode, mask, size).
	args [3]uint64
}

// pathAnswer is a kept answer: the result, the errno, the bytes written
// to the call's buffer, until expires (or a revocation of one of its
// leases).
type pathAnswer struct {
	ret     uint64
	errno   unix.Errno
	out     []byte
	expires time.Time
	// holds are what the revocations of its leases mark (nil: none):
	// its own (own), and a listing's answers also the hold of the
	// leases they all share. Set before the answer is kept, under
	// pc.mu.
	holds [2]*pathHold
	own   pathHold
	// copy is the copy of a directory's complete names whose absence
	// of a name this answer is (completenames.go), nil for the
	// server's answers. Set before the answer is kept.
	copy *namesCopy
	// listedDesc is the description whose listing by path brought it
	// (0: none): the answer relative to that description's fd too
	// (fdAnswerLocked). Set before the answer is kept.
	listedDesc uint64
	// missingIn are the complete names of the directory an ENOENT
	// answer's walk found its name missing in (PathLease.missing_in;
	// nil: not known). Set before the answer is kept.
	missingIn *missingDir
	// statx is the struct statx of the same walk (a listing's,
	// ListedStat.statx), the answer of statx with AT_SYMLINK_NOFOLLOW
	// and any mask under this answer's key and leases (answerLocked);
	// nil: none. Set before the answer is kept.
	statx []byte
	// handle is a kept open's gofer handle, out's tail (keepOpen), as a
	// string made once: openAnswer hands it to each posted open ("":
	// made from out).
	handle string
	// nextCreation is the number (readCache.creationSent) of the first
	// creation sent after the answer arrived (0: not known): the files
	// it and the later ones make are not the answer's
	// (answerScope.changedFrom). Set when the answer is kept.
	nextCreation uint64
}

// pathHold is marked when one of the leases an answer (or a set of
// answers) holds is revoked: the answer is then gone, and deleted when
// next looked up (answerLocked) or with all of them.
type pathHold struct {
	// revoked is set by revoke under pathCache.mu.
	revoked bool
	// unasked says the hold is of an answer kept from an open of a key
	// made for the first time (openToKeep): most files are opened once,
	// so its revocation is no sign of waste (pathCache.wasted). Set
	// before the answer is kept.
	unasked bool
	// dir and dirs are the directories (inode numbers; dir 0: none)
	// whose attributes or missing names its leases are on, and
	// kindsUnknown says some lease's is not known (PathLease.kinds): a
	// posted creation in one holds the answer back (postcreate.go). Set
	// before the answer is kept, under pathCache.mu.
	kindsUnknown bool
	dir          uint64
	dirs         []uint64
	// swept is the last sweep (pathCache.sweeps) that found a live
	// answer holding it. Set under pathCache.mu.
	swept uint64
	// ino and inos are the inodes its leases are on (any kind; ino 0:
	// none, a listed entry's one without an allocation): a posted
	// removal of one holds the answer back (postunlink.go). Set
	// before the answer is kept, under pathCache.mu.
	ino  uint64
	inos []uint64
	// listing is what a listing's leases (the hold its entries'
	// answers share) say of the directory listed; nil for other holds.
	// Set before the answer is kept.
	listing *listedDir
}

// listedDir is what a listing's reply says of the directory it listed
// (PathLease.writable, removable, dir_ino).
type listedDir struct {
	ino                 uint64
	writable, removable bool
	// lookup says the listing came with the reply of a lookup
	// (dirlisting.go), not a getdents64: a regular file of it found
	// by no listing the application made is opened waited
	// (statOpenAnswer), as its reply brings the file's data and an
	// open answer its later opens are posted on with the file's
	// read lease.
	lookup bool
	// listed are the entries of a listing a getdents64 brought, until
	// files, the sorted names of its small regular files, are made from
	// them for leases ahead (dataahead.go). Protected by the path
	// cache's mu.
	listed []*pb.ListedStat
	files  []string
}

// revoked says whether a revocation ended one of a's leases.
func (a *pathAnswer) revoked() bool {
	return (a.holds[0] != nil && a.holds[0].revoked) || (a.holds[1] != nil && a.holds[1].revoked)
}

// lstatArgs are the key arguments of lstat (newfstatat with
// AT_SYMLINK_NOFOLLOW: statKeyOf), and of statx with AT_SYMLINK_NOFOLLOW
// and a valid mask.
var lstatArgs = [3]uint64{unix.AT_SYMLINK_NOFOLLOW}

// statxReserved is statx's reserved mask bit (EINVAL).
const statxReserved = 0x80000000

// existsCall is the pathKey.sysno of the existence of a name.
const existsCall = 0

// Linux's capabilities that let a process search any directory.
const (
	capDACOverride   = 1
	capDACReadSearch = 2
)

func newPathCache(renewal *leaseRenewal) *pathCache {
	return &pathCache{renewal: renewal, answers: make(map[pathKey]*pathAnswer), openPaths: make(map[uint64]string),
		byLease: make(map[uint64][]*pathHold), creds: make(map[int32]string), fs: make(map[int32]uint64),
		cwds: make(map[uint64]string), rootedFS: make(map[uint64]bool), searchAll: make(map[int32]bool), writeAll: make(map[int32]bool)}
}

// pathCallShape is where a path call's path, dirfd and buffer are and
// which other arguments its answer depends on (indexes into args; -1 for
// none).
type pathCallShape struct {
	dirfd, path, buf, size int
	others                 []int
}

var pathCallShapes = map[uintptr]pathCallShape{
	unix.SYS_STAT:       {dirfd: -1, path: 0, buf: 1, size: -1},
	unix.SYS_LSTAT:      {dirfd: -1, path: 0, buf: 1, size: -1},
	unix.SYS_NEWFSTATAT: {dirfd: 0, path: 1, buf: 2, size: -1, others: []int{3}},
	unix.SYS_STATX:      {dirfd: 0, path: 1, buf: 4, size: -1, others: []int{2, 3}},
	unix.SYS_ACCESS:     {dirfd: -1, path: 0, buf: -1, size: -1, others: []int{1}},
	unix.SYS_FACCESSAT:  {dirfd: 0, path: 1, buf: -1, size: -1, others: []int{2}},
	unix.SYS_FACCESSAT2: {dirfd: 0, path: 1, buf: -1, size: -1, others: []int{2, 3}},
	unix.SYS_READLINK:   {dirfd: -1, path: 0, buf: 1, size: 2, others: []int{2}},
	unix.SYS_READLINKAT: {dirfd: 0, path: 1, buf: 2, size: 3, others: []int{3}},
	// getcwd names no path: its answer is the cwd's (its key's start),
	// held by the search leases of the cwd and each directory above it,
	// which a rename of any of them revokes.
	unix.SYS_GETCWD: {dirfd: -1, path: -1, buf: 0, size: 1, others: []int{1}},
	// Only their failure with ENOENT is kept (postcreate.go).
	unix.SYS_UNLINK:   {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_UNLINKAT: {dirfd: 0, path: 1, buf: -1, size: -1, others: []int{2}},
}

// pathMutators are the calls before whose forwarding the client drops
// every answer: they may change names, attributes or mounts in ways the
// server does not revoke per inode (the calls that change names or
// attributes through the gofer are not among them: the server revokes
// the leases they change before their reply; nor are writes, which are
// posted, and nothing is answered until their reply). The xattr calls
// are not either: a set or remove changes a gofer file's ctime through
// the gofer, whose reply the server's attribute cache sees (a revocation
// of the inode's leases), and no other file's.
var pathMutators = map[uintptr]bool{
	unix.SYS_MOUNT: true, unix.SYS_UMOUNT2: true, unix.SYS_BIND: true,
	unix.SYS_SETFSUID: true, unix.SYS_SETFSGID: true,
}

// stamp returns the stamp (readcache.go's leaseStamp, in the path
// cache's recovery generation) of a call about to be sent (nil cache:
// zero).
func (pc *pathCache) stamp() leaseStamp {
	if pc == nil {
		return leaseStamp{}
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return leaseStamp{sent: time.Now(), gen: pc.gen}
}

// observe folds the process and fs records among recs (the credentials
// and cwd answers are keyed by); a mount record drops every answer.
func (pc *pathCache) observe(recs []*pb.StateRecord) {
	if pc == nil {
		return
	}
	for _, rec := range recs {
		key, err := statekey.Parse(rec.GetKey())
		if err != nil {
			continue
		}
		switch key.Kind {
		case statekey.KindProc, statekey.KindFS, statekey.KindMount:
		default:
			continue
		}
		pc.mu.Lock()
		switch key.Kind {
		case statekey.KindProc:
			pid := key.PID()
			if st := rec.GetProcess(); !rec.Deleted && st != nil && !st.Zombie {
				pc.creds[pid] = credsKey(st)
				pc.fs[pid] = st.Fs
				pc.searchAll[pid] = st.GetCaps().GetEffective()&(1<<capDACOverride|1<<capDACReadSearch) != 0
				pc.writeAll[pid] = st.GetCaps().GetEffective()&(1<<capDACOverride) != 0
			} else {
				delete(pc.creds, pid)
				delete(pc.fs, pid)
				delete(pc.searchAll, pid)
				delete(pc.writeAll, pid)
			}
		case statekey.KindFS:
			if st := rec.GetFs(); !rec.Deleted && st != nil {
				pc.cwds[key.ID] = cwdStart(st)
				if len(st.Root) != 0 || st.MntNs != 0 {
					// A root of its own, or a mount namespace:
					// its paths are not the others'.
					pc.rootedFS[key.ID] = true
				} else {
					delete(pc.rootedFS, key.ID)
				}
			} else {
				delete(pc.cwds, key.ID)
				delete(pc.rootedFS, key.ID)
			}
		case statekey.KindMount:
			pc.dropLocked()
		}
		pc.mu.Unlock()
	}
}

// credsKey is the key part of a process's credentials.
func credsKey(st *pb.ProcessState) string {
	return string(appendCredsKey(make([]byte, 0, 96), st))
}

// appendCredsKey appends credsKey(st) to b (grantedAs compares it in a
// buffer on its stack: it runs for each grant a reply brings).
func appendCredsKey(b []byte, st *pb.ProcessState) []byte {
	for _, id := range []uint32{st.Ruid, st.Euid, st.Suid, st.Rgid, st.Egid, st.Sgid} {
		b = strconv.AppendUint(b, uint64(id), 10)
		b = append(b, ' ')
	}
	b = append(b, '[')
	for i, g := range st.Groups {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendUint(b, uint64(g), 10)
	}
	b = append(b, ']')
	if c := st.GetCaps(); c != nil {
		for _, v := range []uint64{c.Effective, c.Permitted, c.Inheritable, c.Bounding, c.Ambient, uint64(c.Securebits)} {
			b = append(b, ' ')
			b = strconv.AppendUint(b, v, 16)
		}
	}
	if realWalksAsFS(st) {
		b = append(b, realAsFSMark...)
	}
	return b
}

// fdStart is the key part of a path relative to the fd of description
// desc.
func fdStart(desc uint64) string { return string(appendFdStart(nil, desc)) }

// appendFdStart appends fdStart(desc) to b.
func appendFdStart(b []byte, desc uint64) []byte {
	return strconv.AppendUint(append(b, "fd "...), desc, 10)
}

// cwdStart is the key part (pathKey.start) of a path relative to an fs
// record's cwd, made once per record (pathCache.cwds): a key relative to
// the cwd then allocates no start of its own (each cached stat's did).
func cwdStart(st *pb.FsState) string { return string(appendCwdStart(nil, st.Cwd, st.CwdHandle)) }

// appendCwdStart appends the start of a path relative to cwd, of file
// handle handle, to b: fmt's "cwd %q %x", made without fmt (grantedAs
// compares one for each grant a reply brings).
func appendCwdStart(b []byte, cwd, handle []byte) []byte {
	b = append(b, "cwd "...)
	plain := true
	for _, c := range cwd {
		if c < ' ' || c > '~' || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		// What %q makes of printable ASCII: the bytes quoted.
		b = append(append(append(b, '"'), cwd...), '"')
	} else {
		b = strconv.AppendQuote(b, string(cwd))
	}
	return hex.AppendEncode(append(b, ' '), handle)
}

// grantedAs says whether the lease l names the credentials and start
// of key k: the server answered the call as the client believed when it
// sent it (another thread's set*id, chdir or dup2 may have come before
// the call on the server, and its records after its reply here). An fs
// record made before the cwd's file handle was known names none: the
// cwd's path then has to match alone.
//
// It runs for each grant a reply brings (a creation's parent): the keys
// are compared in a buffer on its stack, not made as strings.
func grantedAs(k pathKey, l *pb.PathLease) bool {
	var buf [256]byte
	if l.Creds == nil || string(appendCredsKey(buf[:0], l.Creds)) != k.creds {
		return false
	}
	switch {
	case l.Cwd != nil:
		return l.DirFile == 0 && (k.start == string(appendCwdStart(buf[:0], l.Cwd.Cwd, l.Cwd.CwdHandle)) ||
			k.start == string(appendCwdStart(buf[:0], l.Cwd.Cwd, nil)))
	case l.DirFile != 0:
		return k.start == string(appendFdStart(buf[:0], l.DirFile))
	}
	return k.start == "/"
}

// dropLocked drops every answer. Precondition: pc.mu.
func (pc *pathCache) dropLocked() {
	clear(pc.byLease)
	pc.byLeaseLen = 0
	pc.dropCopiesLocked()
	if len(pc.answers) == 0 {
		return
	}
	clear(pc.answers)
	clear(pc.missing)
	clear(pc.missingIn)
	pc.missingInNames = 0
	pc.droppedLocked()
}

// droppedLocked counts a drop of answers for pathCache.wasted.
// Precondition: pc.mu.
func (pc *pathCache) droppedLocked() {
	if pc.hitsSinceDrop > 0 {
		pc.wasted = 0
	} else if pc.wasted++; pc.wasted >= pathWastedLimit {
		pc.wasted = 0
		pc.quietFor = min(max(2*pc.quietFor, pathQuiet), pathQuietMax)
		pc.quietUntil = time.Now().Add(pc.quietFor)
	}
	pc.hitsSinceDrop = 0
}

// dropAll drops every answer and lease (a recovery: the new server
// granted none).
func (pc *pathCache) dropAll() {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.gen++
	pc.lastEpoch = 0
	pc.dropLocked()
	clear(pc.listingEnds) // a new server's cursors are its own
	clear(pc.aheadFresh)
	clear(pc.aheadSources)
	clear(pc.pathProofs)
	clear(pc.aheadListed)
	clear(pc.dirNames)
}

// revoke ends the path leases r names (the receiving goroutine, in order
// with the replies); every answer goes with them.
func (pc *pathCache) revoke(r *pb.LeaseRevoke) {
	if pc == nil || r == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.lastEpoch = max(pc.lastEpoch, r.Epoch)
	// A revocation that a posted change of this client without a reply
	// may have brought ends answers that change used (rm -r's unlink of
	// each entry its listing told): no waste. Counted as waste, a burst
	// of them after a directory's unlinks made rm -r of /usr/include
	// quiet for 1, 2, ... 16 s: its listings then came without
	// answers, and its opens and listings of subdirectories waited.
	changing := pc.changingAnyLocked()
	dropped := false
	for _, id := range r.Ids {
		for _, h := range pc.byLease[id] {
			if !h.revoked {
				h.revoked = true
				dropped = dropped || !h.unasked && !(changing && pc.changingLocked(h))
			}
		}
		pc.byLeaseLen -= len(pc.byLease[id])
		delete(pc.byLease, id)
	}
	if dropped {
		pc.droppedLocked()
	}
}

// roomLocked makes room for answers more answers and refs more holds
// under leases: beyond the bounds, the gone answers are forgotten, and
// every answer if that freed less than a quarter. A keep calls it once,
// before it adds its holds (a drop forgets them). Precondition: pc.mu.
func (pc *pathCache) roomLocked(answers, refs int) {
	full := func() bool {
		return len(pc.answers)+answers > maxPathAnswers || pc.byLeaseLen+refs > 8*maxPathAnswers
	}
	if !full() {
		return
	}
	pc.evictLocked()
	if full() || len(pc.answers) > maxPathAnswers*3/4 || pc.byLeaseLen > 6*maxPathAnswers {
		pc.dropLocked()
	}
}

// evictLocked forgets the answers that expired or lost a lease, and the
// holds no live answer points to. Precondition: pc.mu.
func (pc *pathCache) evictLocked() {
	pc.sweeps++
	now := time.Now()
	for k, a := range pc.answers {
		if a.revoked() || !pc.renewal.live(a.expires, now) {
			delete(pc.answers, k)
			continue
		}
		for _, h := range a.holds {
			if h != nil {
				h.swept = pc.sweeps
			}
		}
	}
	for k, c := range pc.copies {
		if !c.live() {
			delete(pc.copies, k)
			continue
		}
		c.hold.swept = pc.sweeps
	}
	pc.byLeaseLen = 0
	for id, hs := range pc.byLease {
		hs = slices.DeleteFunc(hs, func(h *pathHold) bool { return h.swept != pc.sweeps })
		if len(hs) == 0 {
			delete(pc.byLease, id)
			continue
		}
		pc.byLease[id] = hs
		pc.byLeaseLen += len(hs)
	}
}

// holdSliceLocked has id's revocation mark the holds hs, a slice whose
// capacity is its length: the lease index's entry of id if it has none
// (a listed entry's, listedEntry.refs: no allocation), else appended to
// it (copied). Precondition: pc.mu.
func (pc *pathCache) holdSliceLocked(id uint64, hs []*pathHold) {
	if held, ok := pc.byLease[id]; ok {
		hs = append(held, hs...)
	}
	pc.byLease[id] = hs
	pc.byLeaseLen += len(hs)
}

// holdLocked has each of ids' revocations mark h. Precondition: pc.mu.
func (pc *pathCache) holdLocked(h *pathHold, ids []uint64) {
	for _, id := range ids {
		pc.byLease[id] = append(pc.byLease[id], h)
	}
	pc.byLeaseLen += len(ids)
}

// keepOwnLocked keeps a under k, held by its own hold under ids (after
// roomLocked). Precondition: pc.mu.
func (pc *pathCache) keepOwnLocked(k pathKey, a *pathAnswer, ids []uint64) {
	a.holds[0] = &a.own
	a.nextCreation = pc.nextCreation()
	pc.holdLocked(&a.own, ids)
	pc.answers[k] = a
	pc.noteMissingLocked(k, a)
}

// keptLocked returns the answer kept for key k of a call of process pid
// (answerLocked), or, for a path relative to a dirfd, the answer a
// listing of that description by path kept under the path's key
// (fdAnswerLocked).
// Precondition: pc.mu.
func (pc *pathCache) keptLocked(k pathKey, pid int32) *pathAnswer {
	if a := pc.answerLocked(k); a != nil || !strings.HasPrefix(k.start, "fd ") {
		return a
	}
	return pc.fdAnswerLocked(k, pid)
}

// fdAnswerLocked returns the answer of key k, relative to the fd of a
// description ("fd N") that the process pid listed by path, kept by that
// listing under the path's key: the answer relative to the fd held while
// the directory's search and the entry's leases do, which the path's
// leases include, and it is the same listing's (pathAnswer.listedDesc),
// so the path naming another directory since cannot answer for the fd.
// A listing's entries then cost 2 keys, not 4. Precondition: pc.mu.
func (pc *pathCache) fdAnswerLocked(k pathKey, pid int32) *pathAnswer {
	a, _ := pc.fdAnswerKeyLocked(k, pid)
	return a
}

// fdAnswerKeyLocked is fdAnswerLocked, with the path's key the answer was
// found under. A listing ahead that answered the description's
// getdents64 counts as its own listing (listedForLocked). Precondition:
// pc.mu.
func (pc *pathCache) fdAnswerKeyLocked(k pathKey, pid int32) (*pathAnswer, pathKey) {
	desc, dir, start, ok := pc.fdDirLocked(k, pid)
	if !ok {
		return nil, pathKey{}
	}
	k.start = start
	k.path = listedPrefix(dir) + k.path
	if a := pc.answerLocked(k); a != nil && pc.listedForLocked(a, desc) {
		return a, k
	}
	return nil, pathKey{}
}

// fdDirLocked returns the description whose fd key k's path is relative
// to ("fd N"), the path it was opened by (openPaths) and the key part of
// where that path starts for process pid ("/" or its cwd's), if known.
// Precondition: pc.mu.
func (pc *pathCache) fdDirLocked(k pathKey, pid int32) (desc uint64, dir, start string, ok bool) {
	desc, err := strconv.ParseUint(strings.TrimPrefix(k.start, "fd "), 10, 64)
	dir, opened := pc.openPaths[desc]
	if err != nil || !opened || dir == "" {
		return 0, "", "", false
	}
	if strings.HasPrefix(dir, "/") {
		return desc, dir, "/", true
	}
	start, known := pc.cwds[pc.fs[pid]]
	if !known {
		return 0, "", "", false
	}
	return desc, dir, start, true
}

// nextCreation returns the number the next creation sent will have
// (readCache.creationSent; 0: not known), for an answer that arrived:
// the file that creation or a later one makes is not the answer's.
func (pc *pathCache) nextCreation() uint64 {
	if pc.creations == nil {
		return 0
	}
	return pc.creations.Load() + 1
}

// answerLocked returns the answer kept under k if it still holds (not
// expired, none of its leases revoked); a gone one is deleted.
// Precondition: pc.mu.
func (pc *pathCache) answerLocked(k pathKey) *pathAnswer {
	a := pc.answers[k]
	if a == nil && k.sysno == unix.SYS_STATX && k.args == lstatArgs {
		// A listing's statx answer is its lstat answer's
		// (keepListedLocked), under its leases.
		k.sysno = unix.SYS_NEWFSTATAT
		if a = pc.answerLocked(k); a == nil || a.statx == nil {
			return nil
		}
		x := *a
		x.out, x.statx = a.statx, nil
		return &x
	}
	if a != nil && (a.revoked() || !pc.renewal.live(a.expires, time.Now())) {
		delete(pc.answers, k)
		return nil
	}
	return a
}

// leaseIDs are the leases an answer under l holds.
func leaseIDs(l *pb.PathLease) []uint64 {
	if len(l.Ids) > 0 {
		return l.Ids
	}
	return []uint64{l.Id}
}

// beforeForward drops every answer before a call that may change names,
// attributes or mounts in a way the server does not revoke per inode is
// forwarded (pathMutators).
func (pc *pathCache) beforeForward(sysno uintptr, args [6]uint64) {
	if pc == nil || !pathMutators[sysno] {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if sysno == unix.SYS_SETFSUID || sysno == unix.SYS_SETFSGID {
		pc.fsIDsChanged = true
	}
	pc.dropLocked()
}

// pathKeyOf returns the key of path call sysno of t, if the cache may
// keep or give its answer.
func (t *task) pathKeyOf(sysno uintptr, args [6]uint64) (pathKey, bool) {
	shape, isPath := pathCallShapes[sysno]
	if !isPath {
		return pathKey{}, false
	}
	return t.pathKeyShaped(sysno, shape, args)
}

// pathKeyShaped is pathKeyOf for a call of the given shape.
func (t *task) pathKeyShaped(sysno uintptr, shape pathCallShape, args [6]uint64) (pathKey, bool) {
	pc := t.c.pcache
	if pc == nil {
		return pathKey{}, false
	}
	var k pathKey
	if shape.path >= 0 {
		raw, err := appMemory{t}.ReadString(args[shape.path], sysabi.PathMax)
		if err != nil || len(raw) < 2 {
			// Unreadable, too long or empty (an empty path names dirfd's
			// file: the read cache's fstat): the server decides.
			return pathKey{}, false
		}
		if p := raw[:len(raw)-1]; string(p) == t.lastPath {
			k.path = t.lastPath
		} else {
			k.path = string(p)
			t.lastPath = k.path
		}
	}
	k.sysno = sysno
	for i, a := range shape.others {
		k.args[i] = args[a]
	}
	k.sysno, k.args = statKeyOf(sysno, k.args)
	relative := !strings.HasPrefix(k.path, "/")
	dirfd := int32(unix.AT_FDCWD)
	if shape.dirfd >= 0 {
		dirfd = int32(args[shape.dirfd])
	}
	if relative && dirfd != unix.AT_FDCWD {
		desc, ok := t.c.ids.soleFD(t.proc.pid, dirfd)
		if !ok {
			return pathKey{}, false
		}
		k.start = fdStart(desc)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	creds, ok := pc.creds[t.proc.pid]
	if pc.fsIDsChanged || !ok || pc.rootedLocked(t.proc.pid) {
		return pathKey{}, false
	}
	k.creds = creds
	switch {
	case !relative:
		k.start = "/"
	case dirfd == unix.AT_FDCWD:
		start, known := pc.cwds[pc.fs[t.proc.pid]]
		if !known {
			return pathKey{}, false
		}
		k.start = start
	}
	return k, true
}

// rootedLocked says process pid's fs context has a root of its own
// (chroot) or is in a mount namespace of its own (rootedFS): the cache
// answers and keeps none of its path calls, whose paths, absolute or
// relative (a symbolic link's absolute target, ".." at its root), may
// name other files than the same paths of the others.
// The server grants them no lease either. Precondition: pc.mu.
func (pc *pathCache) rootedLocked(pid int32) bool {
	fs, ok := pc.fs[pid]
	return ok && pc.rootedFS[fs]
}

// rooted is rootedLocked taking pc.mu (false without a path cache).
func (pc *pathCache) rooted(pid int32) bool {
	if pc == nil {
		return false
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.rootedLocked(pid)
}

// statKeyOf returns the call and arguments that key a call sysno with
// key arguments args (pathCallShape.others): stat and lstat as the
// newfstatat(AT_FDCWD) that answers the same (flags 0 and
// AT_SYMLINK_NOFOLLOW), newfstatat's and statx's flags without
// AT_NO_AUTOMOUNT (the server has no automount points: no answer
// depends on it), statx's mask 0 when it is valid (the server's answer
// is the same for every valid mask: ListedStat.statx). A listing's
// answers then need fewer keys (listedView).
func statKeyOf(sysno uintptr, args [3]uint64) (uintptr, [3]uint64) {
	switch sysno {
	case unix.SYS_STAT:
		return unix.SYS_NEWFSTATAT, [3]uint64{}
	case unix.SYS_LSTAT:
		return unix.SYS_NEWFSTATAT, [3]uint64{unix.AT_SYMLINK_NOFOLLOW}
	case unix.SYS_NEWFSTATAT:
		args[0] &^= unix.AT_NO_AUTOMOUNT
	case unix.SYS_STATX:
		args[0] &^= unix.AT_NO_AUTOMOUNT
		if args[1]&statxReserved == 0 {
			args[1] = 0
		}
	}
	return sysno, args
}

// answerScope is which kept answers nothing this client has in flight
// may change (answerScope).
type answerScope struct {
	// all: none (no posted call that may change a file without its
	// reply, no dirty shared mapping). Else dirs says whether the posted
	// calls in flight change only regular files: the attributes of files
	// this process created with O_CREAT|O_EXCL (chmod, chown, utimensat:
	// pipelineMeta), or the data of files of known gofer handles
	// (writes behind, leased copies, which go to regular files only) or
	// of mapped files (dirty shared mappings): a
	// walk searches directories only and a regular file is never a
	// directory, so they change no walk and no directory's answer; the
	// answers of stats that found a directory and of walks that failed
	// ENOENT (dirAnswer) still hold.
	all, dirs bool
	// changedFrom, with dirs, is the lowest creation number
	// (readCache.creationSent) of the files those calls change (0: the
	// file of one is not known by its creation, readCache.newFilesFrom).
	// Each is a new inode, made by a creation sent after every answer
	// whose pathAnswer.nextCreation is at most changedFrom arrived: not
	// that answer's file, whose answer then holds too (cp -a's lstat of
	// each source name while the previous copy's chown, chmod and
	// utimensat are in flight).
	changedFrom uint64
}

// allows says whether kept answer a of call sysno holds in scope s.
func (s answerScope) allows(sysno uintptr, a *pathAnswer) bool {
	return s.all || s.dirs && (dirAnswer(sysno, a) || a.olderThan(s.changedFrom))
}

// olderThan says whether a arrived before the creation numbered from
// (readCache.creationSent) was sent, so is of no file made by it or a
// later one; from MaxUint64: none.
func (a *pathAnswer) olderThan(from uint64) bool {
	return from == math.MaxUint64 || a.nextCreation != 0 && a.nextCreation <= from
}

// answerScope returns which kept answers nothing t's client has in
// flight may change.
func (t *task) answerScope() answerScope {
	s := t.c.rcache.answerScope()
	if t.c.files.pending() {
		// A dirty shared mapping changes the data of a mapped file,
		// never a directory, as a write behind to a file not known
		// by its creation: the answers of directories and of failed
		// walks hold (the go command's telemetry counters, a mapped
		// file it writes all along, held every answer of the build).
		s.all, s.changedFrom = false, 0
	}
	return s
}

// answerScope returns which kept answers the posted changes counted in rc
// without a reply leave answerable (all: none, or no cache).
func (rc *readCache) answerScope() answerScope {
	if rc == nil {
		return answerScope{all: true, dirs: true}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.attrsPostedAny != 0 || rc.dataPosted[""] != 0 {
		return answerScope{}
	}
	if rc.attrsPosted == 0 && rc.dataPostedAll == 0 {
		return answerScope{all: true, dirs: true}
	}
	return answerScope{dirs: true, changedFrom: rc.newFilesFromLocked()}
}

// pathAnswerScope is answerScope's all and dirs.
func (t *task) pathAnswerScope() (all, dirs bool) {
	s := t.answerScope()
	return s.all, s.dirs
}

// dirAnswer says whether kept answer a of call sysno holds while posted
// changes of regular files' attributes are unanswered: a stat that found
// a directory, or a walk that failed ENOENT (the directories it searched
// are all the files it touched).
func dirAnswer(sysno uintptr, a *pathAnswer) bool {
	if a.errno == unix.ENOENT {
		return true
	}
	if a.errno != 0 {
		return false
	}
	switch sysno {
	case unix.SYS_GETCWD, aheadKey:
		return true // the names of directories alone
	case unix.SYS_STAT, unix.SYS_LSTAT, unix.SYS_NEWFSTATAT:
		dir, _ := isDirAnswer(a)
		return dir
	case unix.SYS_STATX:
		var stx linux.Statx
		if len(a.out) < stx.SizeBytes() {
			return false
		}
		stx.UnmarshalBytes(a.out)
		return stx.Mask&linux.STATX_TYPE != 0 && uint32(stx.Mode)&linux.S_IFMT == linux.S_IFDIR
	}
	return false
}

// cachedPath answers path call sysno from a kept answer, if it may. It
// returns the call's key (keyed false: the answer may not be kept
// either), whether its forwarded call wants a lease (not while quiet:
// see pathCache.wasted) and, on a hit, the result.
func (t *task) cachedPath(sysno uintptr, args [6]uint64) (k pathKey, keyed, wanted bool, ret uint64, errno unix.Errno, hit bool) {
	k, keyed = t.pathKeyOf(sysno, args)
	if !keyed {
		return k, false, false, 0, 0, false
	}
	scope := t.answerScope()
	pc := t.c.pcache
	pc.mu.Lock()
	a := pc.keptLocked(k, t.proc.pid)
	if a == nil {
		a = pc.lstatAsStatLocked(k, t.proc.pid)
	}
	if a == nil {
		a = pc.readlinkOfLstatLocked(k, t.proc.pid)
	}
	if a == nil && scope.dirs && walkFirst(sysno, args) {
		a = pc.missingPrefixLocked(k, t.proc.pid)
	}
	if a != nil && a.errno == unix.ENOENT && len(pc.dirsChanging) > 0 && pc.blockedLocked(a) && scope.dirs && walkFirst(sysno, args) {
		// A missing name's answer a posted creation holds back (its
		// directory's names change): that creation's reply, on its
		// way, settles it; then a copy of the directory's complete
		// names, which applies this client's own creations, answers
		// (busybox cp -a's lstat of each name it is about to make
		// while the previous one's creation is in flight).
		pc.mu.Unlock()
		pc.waitCreations()
		scope = t.answerScope()
		pc.mu.Lock()
		if a = pc.keptLocked(k, t.proc.pid); (a == nil || pc.blockedLocked(a)) && scope.dirs {
			a = pc.missingPrefixLocked(k, t.proc.pid)
		}
	}
	// Posted attribute changes of a directory a posted mkdir made hold
	// every answer back until its reply names the directory's inode
	// (dirattrs.go), which is the reply a renewed answer waits for.
	settling := pc.dirAttrsPending > 0
	if pc.renewing[k] > 0 && (a == nil && (scope.dirs || settling) || a != nil && (settling || scope.allows(sysno, a) && pc.blockedLocked(a))) {
		// A posted creation's reply, on its way, renews it
		// (postcreate.go): wait for that rather than ask again (the
		// server would answer only after the creation anyway). Also
		// when the answer is gone already: the creation's revocation
		// of the directory's attributes comes before its reply, and a
		// stat between the two found nothing kept (tar re-asked the
		// stat of the directory it extracts into for 1.5 of each 100
		// members).
		pc.mu.Unlock()
		pc.waitCreationsWhile(func() bool { return pc.renewing[k] > 0 })
		scope = t.answerScope()
		pc.mu.Lock()
		a = pc.keptLocked(k, t.proc.pid)
	}
	if a == nil || !scope.allows(sysno, a) || pc.blockedLocked(a) {
		wanted = !time.Now().Before(pc.quietUntil)
		pc.mu.Unlock()
		return k, true, wanted, 0, 0, false
	}
	pc.usedLocked()
	pc.mu.Unlock()
	shape := pathCallShapes[sysno]
	if len(a.out) > 0 {
		if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(args[shape.buf]), a.out, usermem.IOOpts{}); err != nil {
			// A fault: the server says what it makes of it.
			return k, true, true, 0, 0, false
		}
	}
	pc.hits.Add(1)
	t.cached = true
	return k, true, false, a.ret, a.errno, true
}

// lstatAsStatLocked returns, for a stat or statx key k that follows a
// last symbolic link, the kept answer of the same call that does not
// (AT_SYMLINK_NOFOLLOW) if it found no symbolic link: the two walks are
// the same, and so is the file they find (a listing keeps the lstat of
// each entry; Python stats each module file of a directory it listed).
// Precondition: pc.mu.
func (pc *pathCache) lstatAsStatLocked(k pathKey, pid int32) *pathAnswer {
	if k.sysno != unix.SYS_NEWFSTATAT && k.sysno != unix.SYS_STATX || k.args[0]&unix.AT_SYMLINK_NOFOLLOW != 0 {
		return nil
	}
	k.args[0] |= unix.AT_SYMLINK_NOFOLLOW
	a := pc.keptLocked(k, pid)
	if a == nil || a.errno == unix.ENOENT {
		return a // no name at the end: neither walk follows anything there
	}
	if a.errno != 0 {
		return nil
	}
	var mode uint32
	switch k.sysno {
	case unix.SYS_NEWFSTATAT:
		var st linux.Stat
		if len(a.out) < st.SizeBytes() {
			return nil
		}
		st.UnmarshalBytes(a.out)
		mode = st.Mode
	default:
		var stx linux.Statx
		if len(a.out) < stx.SizeBytes() {
			return nil
		}
		stx.UnmarshalBytes(a.out)
		if stx.Mask&linux.STATX_TYPE == 0 {
			return nil
		}
		mode = uint32(stx.Mode)
	}
	if mode&linux.S_IFMT == linux.S_IFLNK {
		return nil
	}
	return a
}

// existsFrom are the path calls whose success keeps the existence of
// the name (PathLease.search_ids): those that walk with the caller's
// effective (fs) credentials, as mkdir does; access and faccessat walk
// with the real ones.
var existsFrom = map[uintptr]bool{
	unix.SYS_STAT: true, unix.SYS_LSTAT: true, unix.SYS_NEWFSTATAT: true, unix.SYS_STATX: true,
	unix.SYS_READLINK: true, unix.SYS_READLINKAT: true,
}

// existsShapes are the creations the cache fails with EEXIST when it
// holds the existence of their path's name.
var existsShapes = map[uintptr]pathCallShape{
	unix.SYS_MKDIR:   {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_MKDIRAT: {dirfd: 0, path: 1, buf: -1, size: -1},
}

// cachedExists says whether t's mkdir or mkdirat fails with EEXIST by
// the existence of its path's name the cache holds (same path, start and
// credentials: the walk to the parent succeeded, and Linux reports
// EEXIST before the parent's EROFS or EACCES of writing): an answer of
// a call that found it, or the copy of the names of the directory this
// client made by that path (completenames.go). While a posted mkdir of
// the path is without a reply (postmkdir.go), it waits for that reply,
// which brings the copy. It answers while posted calls are unanswered
// too when the caller may search any directory (a chmod, chown,
// utimensat or write changes no name and, for such a caller, no walk)
// or when they change only regular files' attributes (no walk searches
// a regular file).
func (t *task) cachedExists(sysno uintptr, args [6]uint64) bool {
	shape, ok := existsShapes[sysno]
	if !ok || t.c.pcache == nil {
		return false
	}
	k, keyed := t.pathKeyShaped(existsCall, shape, args)
	if !keyed {
		return false
	}
	_, dirs := t.pathAnswerScope()
	pc := t.c.pcache
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if !pc.walksSettledLocked(dirs, t.proc.pid) {
		return false
	}
	if !pc.existsLocked(k) && pc.renewing[k] > 0 {
		pc.mu.Unlock()
		pc.waitCreationsWhile(func() bool { return !pc.existsLocked(k) && pc.renewing[k] > 0 })
		pc.mu.Lock()
	}
	if !pc.existsLocked(k) {
		return false
	}
	t.answeredLocked(pc)
	return true
}

// existsLocked says whether the cache holds the existence of the name of
// key k (existsCall). Precondition: pc.mu.
func (pc *pathCache) existsLocked(k pathKey) bool {
	if a := pc.answerLocked(k); a != nil && !pc.blockedLocked(a) {
		return true
	}
	p, ok := copyPath(k.path)
	return ok && pc.copyLocked(copyKey(k, p)) != nil
}

// usedLocked notes that a kept answer was used: the client wants leases
// again (wasted). Precondition: pc.mu.
func (pc *pathCache) usedLocked() {
	pc.hitsSinceDrop++
	pc.quietFor, pc.quietUntil = 0, time.Time{}
}

// answeredLocked notes that t's call was answered from pc: the client
// wants leases again (wasted), and the strace says so. Precondition:
// pc.mu.
func (t *task) answeredLocked(pc *pathCache) {
	pc.usedLocked()
	pc.hits.Add(1)
	t.cached = true
}

// parentStatShapes are the creations whose reply may carry the stat
// answer of the directory they made their name in (Reply.parent_stat).
var parentStatShapes = map[uintptr]pathCallShape{
	unix.SYS_MKDIR:   {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_MKDIRAT: {dirfd: 0, path: 1, buf: -1, size: -1},
	unix.SYS_OPEN:    {dirfd: -1, path: 0, buf: -1, size: -1},
	unix.SYS_OPENAT:  {dirfd: 0, path: 1, buf: -1, size: -1},
}

// parentStatKey returns the key of stat of the directory t's creation
// call (mkdir, mkdirat, open or openat with O_CREAT|O_EXCL) makes its
// name in, if the call is one and should ask for that answer
// (Reply.parent_stat: tar stats the directory before each file it
// extracts into it). A mkdir asks while leases are not wanted too
// (quietUntil): its reply brings the new directory's complete names
// (completenames.go), by which every mkdir and creation in it is
// posted, and the directory is new, so no other client's change waits
// for that lease's revocation. Without it, a process that made its
// directory during the back-off (a Go program after many reads that
// used none of their answers) waited for each name it made there.
func (t *task) parentStatKey(sysno uintptr, args [6]uint64) (pathKey, bool) {
	shape, ok := parentStatShapes[sysno]
	if !ok || t.c.pcache == nil {
		return pathKey{}, false
	}
	const excl = unix.O_CREAT | unix.O_EXCL
	if (sysno == unix.SYS_OPEN && args[1]&excl != excl) || (sysno == unix.SYS_OPENAT && args[2]&excl != excl) {
		return pathKey{}, false
	}
	k, keyed := t.pathKeyShaped(unix.SYS_NEWFSTATAT, shape, args)
	if !keyed {
		return pathKey{}, false
	}
	parent, ok := sysabi.ParentPath(k.path)
	if !ok {
		return pathKey{}, false
	}
	k.path, k.args = parent, [3]uint64{}
	if sysno == unix.SYS_MKDIR || sysno == unix.SYS_MKDIRAT {
		return k, true
	}
	pc := t.c.pcache
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return k, !time.Now().Before(pc.quietUntil)
}

// parentKeys are the keys the stat answer of the directory a creation
// made its name in is kept under (keepParent) and renewed by the
// creation's reply: k (parentStatKey), and its path with a trailing
// slash, which a stat of a directory answers the same (tar's "top/":
// busybox spells so the leading directories of each member it makes
// again).
func parentKeys(k pathKey) []pathKey {
	if strings.HasSuffix(k.path, "/") {
		return []pathKey{k}
	}
	slash := k
	slash.path += "/"
	return []pathKey{k, slash}
}

// keepParent keeps the stat answer of the directory a creation made its
// name in (reply.parent_stat), under the keys parentKeys(k) (k:
// parentStatKey's), with the existence of its name.
func (pc *pathCache) keepParent(k pathKey, reply *pb.Reply, at leaseStamp) {
	l := reply.GetPathLease()
	if pc == nil || l == nil || l.Id == 0 || l.TtlMs == 0 || len(reply.ParentStat) == 0 || len(l.Ids) == 0 || !grantedAs(k, l) {
		return
	}
	expires := at.sent.Add(time.Duration(l.TtlMs) * time.Millisecond)
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if at.gen != pc.gen || l.Epoch < pc.lastEpoch {
		return
	}
	keys := parentKeys(k)
	pc.roomLocked(2*len(keys), len(keys)*(len(l.Ids)+len(l.SearchIds)))
	for _, k := range keys {
		pc.keepLeasedLocked(k, &pathAnswer{out: reply.ParentStat, expires: expires}, l, l.Ids)
		if len(l.SearchIds) > 0 {
			e := k
			e.sysno = existsCall
			pc.keepLeasedLocked(e, &pathAnswer{expires: expires}, l, l.SearchIds)
		}
	}
	pc.kept.Add(1)
}

// keep keeps the answer reply gave to call sysno with key k, sent at at,
// if it carries a path lease that no revocation or recovery overtook and
// its outputs are the call's buffer alone.
func (pc *pathCache) keep(k pathKey, sysno uintptr, args [6]uint64, reply *pb.Reply, at leaseStamp) {
	l := reply.GetPathLease()
	if pc == nil || l == nil || l.Id == 0 || l.TtlMs == 0 {
		return
	}
	shape := pathCallShapes[sysno]
	var out []byte
	switch len(reply.Outputs) {
	case 0:
	case 1:
		o := reply.Outputs[0]
		if shape.buf < 0 || o.Addr != args[shape.buf] {
			return
		}
		out = o.Data
	default:
		return
	}
	if shape.size >= 0 && reply.Errno == 0 && uint64(len(out)) != uint64(reply.Ret) {
		return
	}
	if sysno == unix.SYS_UNLINK || sysno == unix.SYS_UNLINKAT {
		if reply.Errno != int32(unix.ENOENT) {
			return // a removal is never answered here
		}
		pc.keepMissing(k, l, at)
	}
	pc.keepAnswer(k, l, at, pathAnswer{ret: uint64(reply.Ret), errno: unix.Errno(reply.Errno), out: out},
		reply.Errno == 0 && existsFrom[sysno])
}

// keepAnswer keeps a under key k, held by the leases l names, of a call
// sent at at, if l names k's credentials and start and no revocation or
// recovery overtook it; exists keeps that the path exists too.
func (pc *pathCache) keepAnswer(k pathKey, l *pb.PathLease, at leaseStamp, a pathAnswer, exists bool) {
	if !grantedAs(k, l) {
		return
	}
	expires := at.sent.Add(time.Duration(l.TtlMs) * time.Millisecond)
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if at.gen != pc.gen || l.Epoch < pc.lastEpoch {
		return
	}
	ids := leaseIDs(l)
	pc.roomLocked(2, len(ids)+len(l.SearchIds))
	a.expires = expires
	a.missingIn = missingDirOf(k, a.errno, l.GetMissingIn())
	pc.keepLeasedLocked(k, &a, l, ids)
	if exists && len(l.SearchIds) > 0 {
		e := existsKeyOf(k)
		wasDir := pc.dirNameLiveLocked(e)
		ea := &pathAnswer{expires: expires}
		ea.own.unasked = a.own.unasked
		pc.keepLeasedLocked(e, ea, l, l.SearchIds)
		if dir, _ := isDirAnswer(&a); wasDir || dir && k.sysno == unix.SYS_NEWFSTATAT && k.args == lstatArgs {
			// Its name's existence outlives the lstat answer a
			// change inside the directory revokes: the proof of a
			// path derived from it (dirfdpaths.go; rm -r's climb
			// back to the directory it was given). Its mode and
			// owner: a stat's of that name (the same inode when
			// wasDir), not another call's output.
			var st *pathAnswer
			if k.sysno == unix.SYS_NEWFSTATAT {
				st = &a
			}
			pc.noteDirNameLocked(e, ea, st)
		}
	}
	pc.kept.Add(1)
}

// maxOpenPaths bounds pathCache.openPaths (closed descriptions are not
// announced to the cache); beyond it, all are forgotten.
const maxOpenPaths = 4096

// noteOpen remembers the path the description t's successful open or
// openat (result fd) opened, when it is absolute or relative to the cwd
// (or, for a directory opened by name relative to a dirfd, derived from
// the dirfd's: dirfdpaths.go), and the kept stat answer of that path (openstat.go), also when it is
// relative to a dirfd (fts's openat of each subdirectory it lists, whose
// lstat it just had answered under the same dirfd).
func (t *task) noteOpen(sysno uintptr, args [6]uint64, fd uint64) {
	pc := t.c.pcache
	if pc == nil || (sysno != unix.SYS_OPEN && sysno != unix.SYS_OPENAT) || pc.rooted(t.proc.pid) {
		// A rooted process's path names another file than the
		// others' (rootedLocked): no listing by it.
		return
	}
	dirfd, pathArg, flags := atFDCWD, args[0], uint32(args[1])
	if sysno == unix.SYS_OPENAT {
		dirfd, pathArg, flags = args[0], args[1], uint32(args[2])
	}
	var path string
	var statKeys [2]pathKey
	var statKeyed bool
	var dirfdKey pathKey // the open's key, relative to a dirfd
	if k, _, ok := t.openKeyOf(sysno, args); ok && (k.start == "/" || strings.HasPrefix(k.start, "cwd ")) {
		// The open's key names the path, and its stat's keys are the
		// key's as openedStatKeys would make them.
		path, statKeys, statKeyed = k.path, openedStatKeysOf(k), true
	} else {
		if ok && strings.HasPrefix(k.start, "fd ") {
			dirfdKey = k
		}
		raw, err := appMemory{t}.ReadString(pathArg, sysabi.PathMax)
		if err != nil || len(raw) < 2 {
			return
		}
		path = string(raw[:len(raw)-1])
		if !strings.HasPrefix(path, "/") && int32(dirfd) != unix.AT_FDCWD {
			// No path a listing can name (Syscall.listing_path).
			path = ""
		}
		statKeys, statKeyed = t.openedStatKeys(dirfd, pathArg, flags)
	}
	desc, ok := t.c.ids.soleFD(t.proc.pid, int32(fd))
	if !ok {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if path != "" {
		if len(pc.openPaths) >= maxOpenPaths {
			clear(pc.openPaths)
		}
		pc.openPaths[desc] = path
		pc.noteFreshDirLocked(desc)
	} else {
		pc.noteDirfdOpenLocked(desc, dirfdKey, t.proc.pid, flags&unix.O_DIRECTORY != 0)
	}
	if statKeyed && dirfdKey.path == ".." {
		// fts's climb out of a directory: the directory opened is the
		// one at the parent path (dirfdpaths.go), whose answers are
		// its stat.
		if parent, _, ok := pc.parentStatKeysLocked(dirfdKey, t.proc.pid); ok {
			statKeys = lstatAndStatKeys(parent)
		}
	}
	if statKeyed {
		pc.noteOpenedStatLocked(desc, statKeys, t.proc.pid)
	} else {
		delete(pc.openedStats, desc)
	}
}

// listing is what a getdents64 asks of the path cache: the answers of
// its entries by path (Syscall.listing_path), or, with no path, relative
// to the description listed, desc; ahead: listings of its subdirectories
// too (dirahead.go).
type listing struct {
	wanted, ahead bool
	path          string
	desc          uint64
}

// listingOf returns what t's getdents64 of fd asks for its entries'
// answers, if the cache may keep them: by the path the client saw the
// directory opened by, else by its description.
func (t *task) listingOf(sysno uintptr, args [6]uint64) listing {
	pc := t.c.pcache
	if pc == nil || sysno != unix.SYS_GETDENTS64 {
		return listing{}
	}
	desc, ok := t.c.ids.soleFD(t.proc.pid, int32(args[0]))
	if !ok {
		return listing{}
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if time.Now().Before(pc.quietUntil) || pc.rootedLocked(t.proc.pid) {
		return listing{}
	}
	path := pc.openPaths[desc]
	return listing{wanted: true, ahead: path != "" && pc.aheadWantedLocked(), path: path, desc: desc}
}

// keepListed keeps the lstat answers of the entries a getdents64's reply
// carried (Reply.listed), sent at at: for a listing by path dir, under
// the key of lstat of dir/<name> (newfstatat(AT_FDCWD, dir/<name>,
// AT_SYMLINK_NOFOLLOW)) of t's process, and relative to the fd listed;
// for one by description, under the key of newfstatat(fd, <name>,
// AT_SYMLINK_NOFOLLOW). The statx answers (ListedStat.statx) are kept as
// those of statx with AT_SYMLINK_NOFOLLOW and any mask, and the
// existence of each entry too.
func (t *task) keepListed(lst listing, reply *pb.Reply, at leaseStamp) {
	pc := t.c.pcache
	l := reply.GetPathLease()
	if pc == nil || !lst.wanted || l == nil || l.Id == 0 || l.TtlMs == 0 || len(reply.Listed) == 0 {
		return
	}
	expires := at.sent.Add(time.Duration(l.TtlMs) * time.Millisecond)
	pc.mu.Lock()
	defer pc.mu.Unlock()
	creds, ok := pc.creds[t.proc.pid]
	if !ok || pc.fsIDsChanged || at.gen != pc.gen || l.Epoch < pc.lastEpoch {
		return
	}
	// A provisional description's open came back before this reply.
	desc := pc.settledDescLocked(lst.desc)
	v := listedView{creds: creds}
	switch {
	case lst.path == "" && desc == 0:
		return
	case lst.path == "":
		v.start = fdStart(desc)
	case strings.HasPrefix(lst.path, "/"):
		v.start = "/"
	default:
		start, known := pc.cwds[pc.fs[t.proc.pid]]
		if !known {
			return
		}
		v.start = start
	}
	if lst.path != "" {
		v.prefix, v.desc = listedPrefix(lst.path), desc
	}
	if !grantedAs(pathKey{creds: creds, start: v.start}, l) {
		return
	}
	pc.keepListedLocked(v, l, reply.Listed, expires)
	if lst.path != "" {
		pc.noteListedDirLocked(pathKey{creds: creds, start: v.start}, strings.TrimSuffix(lst.path, "/"), expires)
	}
}

// listedPrefix returns what the paths of the entries of directory dir
// (a listing's path, not "") start with: dir and a slash, nothing for
// "." (a name in the start directory, as `cat f*` spells the names a
// shell's glob of "." listed: the same walk).
func listedPrefix(dir string) string {
	switch {
	case dir == "." || dir == "./":
		return ""
	case strings.HasSuffix(dir, "/"):
		return dir
	}
	return dir + "/"
}

// listedView is where a listing's answers are kept.
type listedView struct {
	// creds and start are the key parts of the listing's caller and of
	// where its paths start ("/", "cwd ..." or, for a listing by
	// description, "fd N").
	creds, start string
	// prefix is the listed directory's path and a slash (listedPrefix;
	// "" for a listing by description), desc the description listed.
	prefix string
	desc   uint64
	// lookup: the listing came with a lookup's reply (listedDir.lookup).
	lookup bool
	// ahead: the listing was sent ahead (dirahead.go), not asked for.
	ahead bool
}

// keepListedLocked keeps the answers of the entries listed under v,
// until expires: the leases of l (common) hold all of them, each entry's
// ListedStat.ids its own (the first alone its existence). The common
// leases mark one hold for the whole listing, so an entry costs two
// keys (its lstat answer, which carries its statx answer, and its
// existence), one allocation (listedEntry; its path is built in chunks:
// listedPaths) and three holds under leases. It returns the hold of the
// common leases, and, for a listing sent ahead, the hold of its records
// (the getdents64 answer keepAhead keeps). Precondition: pc.mu.
func (pc *pathCache) keepListedLocked(v listedView, l *pb.PathLease, listed []*pb.ListedStat, expires time.Time) (shared, records *pathHold) {
	common := leaseIDs(l)
	// Relative to the fd listed, a listing by path's answers are found
	// under the path's keys (fdAnswerLocked).
	refs := len(common) + 3*len(listed)
	if v.ahead {
		refs += len(common)
	}
	pc.roomLocked(2*len(listed), refs)
	next := pc.nextCreation()
	shared = &pathHold{listing: &listedDir{ino: l.DirIno, writable: l.Writable, removable: l.Removable && l.DirIno != 0, lookup: v.lookup}}
	if !v.lookup {
		// For leases ahead (dataahead.go): a listing sent ahead is
		// the one the application's getdents64 of that directory is
		// answered from (cp -r's of each directory it copies).
		shared.listing.listed = listed
	}
	// A lookup's listing, or one sent ahead, was not asked for entry
	// by entry: its revocation is no sign of waste (pathCache.wasted).
	unasked := v.lookup || v.ahead
	shared.unasked = unasked
	entries := common
	if !v.lookup {
		// A listing's entries hold no lease on the listed
		// directory's names or attributes (entryLeases): a
		// listing by path keeps no records, and a listing ahead's
		// records hold them (below).
		entries = entryLeases(l, common)
	}
	if v.ahead {
		// A listing ahead's leases on the directory's names and
		// attributes are for its records, which a creation or
		// removal there changes: they hold the records' own hold.
		// An entry's answer says nothing of the other names (its
		// own name's lease is its own), so a removal of another
		// name neither revokes nor, posted, holds it back (rm -r's
		// unlink of each name of a directory it listed ahead, and
		// its rmdir of each subdirectory).
		records = &pathHold{unasked: true}
		pc.holdLocked(records, common)
		records.dirs, records.inos, records.kindsUnknown = dirsOf(l, common)
	}
	pc.holdLocked(shared, entries)
	shared.dirs, shared.inos, shared.kindsUnknown = dirsOf(l, entries)
	kept := 0
	var paths listedPaths
	for _, ls := range listed {
		if len(ls.Name) == 0 || bytes.ContainsRune(ls.Name, '/') || len(ls.Stat) == 0 || len(ls.Ids) != 2 {
			continue
		}
		en := &listedEntry{
			lstat:  pathAnswer{out: ls.Stat, statx: ls.Statx, expires: expires, listedDesc: v.desc, nextCreation: next},
			exists: pathAnswer{expires: expires, listedDesc: v.desc, nextCreation: next},
		}
		a, e := &en.lstat, &en.exists
		a.holds = [2]*pathHold{shared, &a.own}
		a.own.ino, a.own.kindsUnknown, a.own.unasked = ls.Ino, ls.Ino == 0, unasked
		e.holds = [2]*pathHold{shared, &e.own}
		e.own.ino, e.own.kindsUnknown, e.own.unasked = a.own.ino, a.own.kindsUnknown, unasked
		// The first lease (its name) marks both, the second (its
		// attributes; a file's one lease for both is readlease's
		// AttrsKey) the lstat's.
		en.refs = [3]*pathHold{&a.own, &e.own, &a.own}
		pc.holdSliceLocked(ls.Ids[0], en.refs[:2:2])
		if ls.Ids[0] != ls.Ids[1] {
			pc.holdSliceLocked(ls.Ids[1], en.refs[2:3:3])
			// A directory's attributes (postcreate.go).
			a.own.dir = ls.Ino
		}
		k := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: v.creds, start: v.start, path: paths.join(v.prefix, string(ls.Name)),
			args: lstatArgs}
		pc.answers[k] = a
		k.sysno, k.args = existsCall, [3]uint64{}
		wasDir := pc.dirNameLiveLocked(k)
		pc.answers[k] = e
		if dir, _ := isDirAnswer(a); dir || wasDir {
			// The proof of a path derived from it (dirfdpaths.go).
			pc.noteDirNameLocked(k, e, a)
		}
		kept++
	}
	pc.kept.Add(uint64(kept))
	return shared, records
}

// entryLeases returns the leases of common, a listing's leases (l's),
// that its entries' answers depend on: all but those on the listed
// directory's own attributes and names (PathLease.dir_ino; all of them
// if the kinds are not known).
func entryLeases(l *pb.PathLease, common []uint64) []uint64 {
	if l.DirIno == 0 || len(l.Kinds) != len(l.Ids) || len(l.Inos) != len(l.Ids) {
		return common
	}
	out := make([]uint64, 0, len(common))
	for _, id := range common {
		i := slices.Index(l.Ids, id)
		if i >= 0 && l.Inos[i] == l.DirIno && l.Kinds[i] != pathSearchKind {
			continue
		}
		out = append(out, id)
	}
	return out
}

// listedPathChunk is the size of the chunks listedPaths builds paths in.
const listedPathChunk = 1024

// listedPaths builds the paths of a listing's entries in chunks of
// listedPathChunk bytes: an allocation per chunk (find's paths in
// /usr/include: per 25 entries), not per entry. A chunk lives while an
// answer keyed by one of its paths does, at most a chunk more per key.
type listedPaths struct {
	b strings.Builder
}

// join returns prefix+name, built in the current chunk (a new one when
// it is full).
func (p *listedPaths) join(prefix, name string) string {
	n := len(prefix) + len(name)
	if p.b.Cap()-p.b.Len() < n {
		// A strings.Builder's String shares its bytes, which later
		// writes do not change: the paths built stay valid.
		p.b = strings.Builder{}
		p.b.Grow(max(listedPathChunk, n))
	}
	start := p.b.Len()
	p.b.WriteString(prefix)
	p.b.WriteString(name)
	return p.b.String()[start:]
}

// listedEntry is what a listing keeps of one entry, in one allocation:
// its lstat answer (with its statx answer) and its existence, and the
// lease index's slices (pathCache.byLease) its two leases start with
// when no other answer holds them (holdSliceLocked).
type listedEntry struct {
	lstat, exists pathAnswer
	refs          [3]*pathHold
}

// hitCount is the calls answered here (0 without a cache).
func (pc *pathCache) hitCount() uint64 {
	if pc == nil {
		return 0
	}
	return pc.hits.Load()
}

// keptCount is the answers kept under a lease (0 without a cache).
func (pc *pathCache) keptCount() uint64 {
	if pc == nil {
		return 0
	}
	return pc.kept.Load()
}
