package client

import (
	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// File mappings under a read lease (docs/ARCHITECTURE.md, "Exec
// and file pages"; the lease is the read cache's, readcache.go).
//
// A file mmap is forwarded: the server resolves the fd, checks it and
// hands a plan, the id of the server file whose pages the client fetches
// (PageRead), one server reference per plan until FileRelease. ld.so maps
// each library it loads four or five times (the whole image, then its
// segments at fixed addresses), and every process of a build loads the
// same libraries: make -j2 of nine C files waited for 696 mmaps, 48% of
// its waited calls, 420 of them of an fd mapped just before.
//
// The plan of a file that has not changed is the same server file: the
// server hands the same id again for the same unchanged file (its
// MappedKey). So the client keeps the plan of a forwarded mmap on the
// read lease of the file (leasedFile.mmap) and maps a MAP_PRIVATE mmap
// of a description attached to that lease from it while the lease holds
// and the client still maps that server file (serverFile.refs > 0: the
// server's reference of an earlier plan is held, fileCache.reuse), with
// no call. The lease says the file did not change since the plan: a
// plan is kept only on the lease the client held before it sent the
// mmap (so its grant came before the server's plan; a lease revoked
// before the reply keeps it for nobody). A reused mapping takes a client
// reference alone: the plans the server counted are released as before,
// once nothing maps the file. While the client maps the file the server
// would hand the same id anyway (mapped.Table.Add), at the same gen
// unless someone else changed the file (which revokes the lease too), so
// a kept plan is never staler than a forwarded mmap; it serves only
// while the id's pages are of its gen (fileCache.reuse).
//
// A file no process maps any more (its last mapping went, and with it
// the server's references: FileRelease) is mapped from a kept plan too
// if the client caches all of it (helper makepages: ld.so.cache and each
// program's locale files, mapped once a process, and the libraries only
// the compilers load, 74 waited mmaps in make -j2): the mmap is then
// posted (task.postReplan), so the server takes its reference as for a
// forwarded one, before any later waited call; its reply is counted as
// the file's plan if it names the same id, size and gen while a process
// maps the file, and released at once otherwise (fileCache.replanned).
// Until it comes the file is mapped with no plan counted
// (serverFile.replans): a recovery then forgets the file (its id may go
// to another file on the restored server), and no page of it is read
// from the server (all are cached), so a mapping of it is the file as
// the lease saw it, before any change that revoked the lease since.
//
// A MAP_SHARED mapping without PROT_WRITE of a description open
// read-only can never be written (mprotect to PROT_WRITE is EACCES):
// both it and a private mapping map the client's one copy of the file's
// pages, so a kept plan serves it as it serves a private one (glibc maps
// gconv-modules.cache so, 31 waited mmaps in make -j2).
//
// What the server would check is checked here: the fd is open (the fd
// records), a regular gofer file's description not opened O_PATH or
// write-only (cachedFile), the mapping private or read-only shared of a
// read-only description, its offset page-aligned; any other mmap is
// forwarded. Nothing of a private mapping reaches the
// server (its stores stay in the client's copy-on-write pages), so a
// recovery has nothing of it to rebuild, and a recovery drops every
// lease, so no plan outlives the server that made it.

// mmapPlan is the server file a forwarded mmap of a leased file resolved
// to (MmapPlan.file_id, file_size and file_gen).
type mmapPlan struct {
	fileID, size, gen uint64
}

// mmapDesc returns the description of t's fd, its gofer handle and
// whether it is open read-only if a mapping of it may be served from a
// kept plan (see above).
func (t *task) mmapDesc(fd int32) (desc uint64, handle string, readOnly, ok bool) {
	if !t.singleThreaded() {
		return 0, "", false, false
	}
	desc, pf, ok := t.cachedFile(fd, false)
	if !ok || pf.flags&unix.O_ACCMODE == unix.O_WRONLY {
		return 0, "", false, false
	}
	return desc, pf.handle, pf.flags&unix.O_ACCMODE == unix.O_RDONLY, true
}

// mmapLease returns the live lease of description desc of a file of
// handle handle, if its attributes may be answered (nil: none).
func (rc *readCache) mmapLease(desc uint64, handle string) *leasedFile {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.mmapLeaseLocked(desc, handle)
}

// mmapLeaseLocked is mmapLease. Precondition: rc.mu.
func (rc *readCache) mmapLeaseLocked(desc uint64, handle string) *leasedFile {
	desc, ok := rc.currentLocked(desc)
	if !ok {
		return nil
	}
	return rc.liveLocked(desc, true, handle)
}

// keptMmapPlan returns the plan kept on the live lease of description
// desc (zero: none).
func (rc *readCache) keptMmapPlan(desc uint64, handle string) mmapPlan {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if lf := rc.mmapLeaseLocked(desc, handle); lf != nil {
		return lf.mmap
	}
	return mmapPlan{}
}

// keepMmapPlan keeps plan, which the server resolved for a private mmap
// sent while lease before was the live lease of its description, on that
// lease: its grant came before the plan, and a change since revokes it
// (a lease revoked meanwhile keeps the plan for nobody).
func (rc *readCache) keepMmapPlan(before *leasedFile, plan mmapPlan) {
	if before == nil || plan.fileID == 0 {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	before.mmap = plan
}

// privateMmapOf says whether mmap arguments a ask for a private mapping
// of a file that a kept plan may serve: MAP_PRIVATE, not anonymous nor
// hugetlb, a length and a page-aligned offset the server takes.
func privateMmapOf(a [6]uint64) bool {
	flags := a[3]
	return flags&3 == linux.MAP_PRIVATE && flags&(linux.MAP_ANONYMOUS|linux.MAP_HUGETLB) == 0 &&
		a[1] > 0 && int64(a[5]) >= 0 && hostarch.Addr(a[5]).RoundDown() == hostarch.Addr(a[5])
}

// readOnlySharedMmapOf says whether mmap arguments a ask for a
// MAP_SHARED mapping without PROT_WRITE that a kept plan may serve, if
// the description is open read-only: such a mapping can never be
// written (the server's plan says not writable, and mprotect to
// PROT_WRITE is EACCES), so it is a private one that never copies: both
// map the client's one copy of the file's pages. glibc maps
// gconv-modules.cache so in each process that converts a character set
// (31 waited mmaps in make -j2).
func readOnlySharedMmapOf(a [6]uint64) bool {
	prot, flags := a[2], a[3]
	return flags&3 == linux.MAP_SHARED && prot&linux.PROT_WRITE == 0 &&
		flags&(linux.MAP_ANONYMOUS|linux.MAP_HUGETLB) == 0 &&
		a[1] > 0 && int64(a[5]) >= 0 && hostarch.Addr(a[5]).RoundDown() == hostarch.Addr(a[5])
}

// keptPlanMmapDesc returns the description of mmap a's fd and its gofer
// handle if a kept plan may serve the mapping: a private one, or a
// read-only shared one of a read-only description.
func (t *task) keptPlanMmapDesc(a [6]uint64) (desc uint64, handle string, ok bool) {
	private, shared := privateMmapOf(a), readOnlySharedMmapOf(a)
	if !private && !shared {
		return 0, "", false
	}
	desc, handle, readOnly, ok := t.mmapDesc(int32(a[4]))
	if !ok || (shared && !readOnly) {
		return 0, "", false
	}
	return desc, handle, true
}

// reusedMmap maps a private or read-only shared mmap from the plan kept
// on its file's lease, if it may (see above). ok false: the caller
// forwards it.
func (t *task) reusedMmap(a [6]uint64) (addr uint64, errno unix.Errno, ok bool) {
	desc, handle, ok := t.keptPlanMmapDesc(a)
	if !ok {
		return 0, 0, false
	}
	plan := t.c.rcache.keptMmapPlan(desc, handle)
	if plan.fileID == 0 {
		return 0, 0, false
	}
	f, replan := t.c.files.reuse(plan.fileID, plan.size, plan.gen)
	if f == nil {
		return 0, 0, false
	}
	defer f.DecRef(t.gctx)
	opts, shared, errno := mmapOpts(a)
	if errno != 0 {
		return 0, errno, true
	}
	if shared {
		// As applyMmap maps a plan that is not writable.
		opts.MaxPerms.Write = false
	}
	if replan && !t.postReplan(a, f) {
		t.c.files.unreplan(f)
		return 0, 0, false
	}
	if opts.Perms.Execute {
		f.markCode()
	}
	opts.Mappable = f
	opts.MappingIdentity = f
	at, err := t.mm.MMap(t.gctx, opts)
	if err != nil {
		return 0, toErrno(err), true
	}
	t.c.mmapsReused.Add(1)
	if replan {
		t.c.mmapsReplanned.Add(1)
	}
	return uint64(at), 0, true
}

// postReplan posts mmap a, which a kept plan serves from f, a file the
// client caches whole but holds no server reference of (no process maps
// it, or one maps it from an earlier reuse whose plan is still to come):
// the server takes one by running the mmap, and the reply's plan is
// counted on f if it is f's (fileCache.replanned). False: it cannot be
// posted now (a recovery runs); the caller forwards the mmap.
func (t *task) postReplan(a [6]uint64, f *serverFile) bool {
	fc := t.c.files
	// Nothing waits for the reply: the server may hold it for its next
	// message (replyCanWait).
	pc := newPostedCall(t.tid, unix.SYS_MMAP, a, nil).replyCanWait()
	return t.postChange(pc, func(r *pb.Reply) {
		// Not on the receiving goroutine: fc.mu may wait for a file's
		// mu held across a PageRead, whose reply this goroutine brings.
		var plan mmapPlan
		if p := r.GetMmap(); r.Errno == 0 && p != nil {
			plan = mmapPlan{fileID: p.FileId, size: p.FileSize, gen: p.FileGen}
		}
		go fc.replanned(f, plan)
	}, "", 0, noChange, 0)
}

// forwardMmap forwards file mmap a and, for a mapping a kept plan may
// serve of a leased file, keeps the plan the server resolved on the
// lease it held before sending it.
func (t *task) forwardMmap(a [6]uint64) (uint64, unix.Errno) {
	var before *leasedFile
	if desc, handle, ok := t.keptPlanMmapDesc(a); ok {
		before = t.c.rcache.mmapLease(desc, handle)
	}
	t.mmapPlanned = mmapPlan{}
	t.c.mmapsForwarded.Add(1)
	addr, errno := t.forward(unix.SYS_MMAP, a)
	if errno == 0 && before != nil {
		t.c.rcache.keepMmapPlan(before, t.mmapPlanned)
	}
	return addr, errno
}

// reuse returns the file id, size bytes long, with one more reference
// held by the caller, if its pages are of generation gen (not refreshed
// since by a newer plan, nor due for a refresh: a kept plan's lease is
// revoked by a change anyway) and either the client maps it now with a
// plan counted (the server's reference of an earlier plan is held: no
// call), or it caches the whole file: replan then says the caller must
// post the mmap for the server's reference (task.postReplan) before it
// maps the file. Nil otherwise.
//
// Why whole: a fault of a page not cached would PageRead an id the
// server may have released (no process mapped it) and, if the file
// changed meanwhile, given no more; what is cached is the file as the
// lease saw it, so a mapping of it is the file's before that change. A
// file up to 4 MiB is read whole on its first fault: ld.so's libraries,
// ld.so.cache and the locale files are.
func (fc *fileCache) reuse(id, size, gen uint64) (f *serverFile, replan bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.forgetIdleLocked()
	f = fc.files[id]
	if f == nil {
		return nil, false
	}
	f.mu.Lock()
	same := f.size == size && f.gen == gen
	whole := same && f.cachedWholeLocked()
	f.mu.Unlock()
	switch {
	case !same:
		return nil, false
	case f.refs > 0 && (f.plans > 0 || f.replans > 0):
	case whole:
		if f.refs == 0 {
			fc.removeIdleLocked(f)
		}
		f.replans++
		replan = true
	default:
		return nil, false
	}
	f.refs++
	return f, replan
}

// unreplan undoes reuse's count of a replan that was not posted.
func (fc *fileCache) unreplan(f *serverFile) {
	fc.mu.Lock()
	f.replans--
	fc.mu.Unlock()
}

// replanned counts plan, the reply to a mmap posted for a reuse of f
// (task.postReplan; zero if it failed), as one of f's plans if it is f's
// and a process still maps f; otherwise the server's reference it took
// is released at once (the file changed, or its mapping went before the
// reply, or a recovery made f unknown to the server that answered).
func (fc *fileCache) replanned(f *serverFile, plan mmapPlan) {
	fc.mu.Lock()
	f.replans--
	fc.forgetIdleLocked()
	f.mu.Lock()
	same := f.id == plan.fileID && f.size == plan.size && f.gen == plan.gen
	f.mu.Unlock()
	if same && fc.files[f.id] == f && f.refs > 0 {
		f.plans++
		fc.mu.Unlock()
		return
	}
	fc.mu.Unlock()
	if plan.fileID != 0 {
		fc.release(plan.fileID, 1)
	}
}
