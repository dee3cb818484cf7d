package server

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Read leases (docs/ARCHITECTURE.md, "The client's read cache"): the glue
// between package readlease and the server. A client that asks
// (Hello.read_leases) gets a ReadLease in the reply of a read or fstat of
// a regular gofer file it opened for reading; the attribute cache tells the
// registry of every change (leaseObserver), which revokes the leases with
// a LeaseRevoke sent before any later message to their client: a push, or
// for the client's own changes' revocations the next reply
// (leaseRevokesLocked).

// Sizes of what a lease carries: the whole file up to leaseWholeFile,
// else leaseWindow bytes from the page of the next read; but an open's
// lease of a larger file only its first openHeadWindow bytes. A program
// that reads a large file right after opening it is mostly the dynamic
// loader reading a library's ELF header (832 bytes) before it maps the
// file, whose pages then come through the lent host fd
// (sentry/client/mappedfd.go): a 256 KiB window was read from the gofer
// and sent for nothing, 7 libraries for each gcc -c. A program that reads
// on past the head takes a window at that read.
const (
	leaseWholeFile = 256 << 10
	leaseWindow    = 256 << 10
	openHeadWindow = 16 << 10
)

// leaseGrantTimeout bounds the gofer calls a grant makes; after one that
// failed to reach the gofer, the client is granted nothing for
// leaseGrantPause.
const (
	leaseGrantTimeout = 500 * time.Millisecond
	leaseGrantPause   = 2 * time.Second
)

// leaseObserver is the attribute cache's goferclient.Observer: it tells
// the registry of changes. Immutable.
type leaseObserver struct {
	r   *readlease.Registry
	log hclog.Logger
}

func (o leaseObserver) Changed(ctx context.Context, dev, ino uint64) {
	o.logExpired(o.r.Changed(ctx, readlease.Key{Dev: dev, Ino: ino}))
}

// ChangedMany: a Rename's inodes, a run of unlinks' (UnlinkMany), told
// the registry as one (readlease.Registry.ChangedMany): one lock, one
// wait per holder.
func (o leaseObserver) ChangedMany(ctx context.Context, inodes []*goferpb.InodeID) {
	o.logExpired(o.r.ChangedMany(ctx, inodeKeys(inodes)))
}

func (o leaseObserver) ChangedAll(ctx context.Context) { o.logExpired(o.r.ChangedAll(ctx)) }

func (o leaseObserver) Observed(ctx context.Context, st *goferpb.Stat) {
	o.logExpired(o.r.Observed(ctx, readlease.Key{Dev: st.Dev, Ino: st.Ino}, versionOfStat(st)))
}

// NamesChanged: a name made in or removed from a directory changes no
// regular file's data or attributes (read leases), but what a path walk
// finds in it and the directory's attributes (path leases).
func (o leaseObserver) NamesChanged(ctx context.Context, _, ino uint64, known bool) {
	if !known {
		o.logExpired(o.r.ChangedPaths(ctx))
		return
	}
	o.logExpired(o.r.DirChanged(ctx, ino))
}

// Changing: a change that may make an open of inodes fail is made only
// once every other holder of a lease on them acknowledged its
// revocation (readlease.BeginChange), so that an open a holder posted
// on the strength of its path lease before that runs first.
func (o leaseObserver) Changing(ctx context.Context, inodes []*goferpb.InodeID) func() {
	end, expired := o.r.BeginChange(ctx, inodeKeys(inodes))
	o.logExpired(expired)
	return end
}

// NamesChanging: a name is made in a directory only once every other
// holder of a lease on the directory's names acknowledged its revocation
// (readlease.BeginNamesChange), so that a creation a holder posted on a
// name's absence before that is made first.
func (o leaseObserver) NamesChanging(ctx context.Context, _, ino uint64) func() {
	end, expired := o.r.BeginNamesChange(ctx, ino)
	o.logExpired(expired)
	return end
}

// inodeKeys returns the registry's keys of inodes.
func inodeKeys(inodes []*goferpb.InodeID) []readlease.Key {
	keys := make([]readlease.Key, len(inodes))
	for i, in := range inodes {
		keys[i] = readlease.Key{Dev: in.GetDev(), Ino: in.GetIno()}
	}
	return keys
}

func (o leaseObserver) logExpired(n int) {
	if n > 0 {
		o.log.Warn("a client did not acknowledge the revocation of its read leases; the change waited for their expiry", "clients", n)
	}
}

func versionOfStat(st *goferpb.Stat) readlease.Version {
	return readlease.Version{Size: st.Size, MtimeNs: st.MtimeNs, CtimeNs: st.CtimeNs}
}

// initReadLeases gives k a lease holder if its client asked for read or
// path leases, which calls revoked when it has revocations to send (the
// front sends them: clientStream.kickLeaseRevokes);
// k.ctx then names it, so that a change made by one of k's calls does not
// wait for k's own acknowledgment (its revocation goes out before, or
// with, the call's reply).
func initReadLeases(k *kernel.Kernel, hello *sentrypb.Hello, revoked func(urgent bool)) {
	if (!hello.GetReadLeases() && !hello.GetPathLeases()) || k.ReadLeases == nil {
		return
	}
	k.PathLeases = hello.GetPathLeases()
	k.CompleteNames = k.PathLeases && hello.GetCompleteNames()
	k.LeaseHolder = k.ReadLeases.NewHolder(revoked)
	k.Ctx = readlease.WithHolder(k.Ctx, k.LeaseHolder)
}

// renewLeases renews k's leases at the arrival of its heartbeat hb
// (readlease.Holder.Renew) and returns the answer to it, which says so:
// sendMsg sends it after every revocation decided before the renewal.
func renewLeases(k *kernel.Kernel, hb *sentrypb.Heartbeat) *sentrypb.Heartbeat {
	answer := &sentrypb.Heartbeat{UnixNanos: time.Now().UnixNano()}
	if h := k.LeaseHolder; h != nil && hb.GetUnixNanos() != 0 {
		h.Renew()
		answer.RenewedUnixNanos = hb.GetUnixNanos()
		answer.LeaseTtlMs = uint32(k.ReadLeases.TTL().Milliseconds())
		answer.LeaseLifeMs = uint32(k.ReadLeases.Life().Milliseconds())
	}
	return answer
}

// ownRevokeDelay is how long the holder's own revocations wait for a
// message to take them along (leaseRevokesLocked) when no call's reply
// follows their change (a change outside a call: a shared mapping's
// write-back).
const ownRevokeDelay = 20 * time.Millisecond

// kickLeaseRevokes is the lease holder's kick (readlease.Holder.kick).
// Revocations a change waits for (urgent) are sent at once, off the
// caller's goroutine. The client's own (readlease.Taken.Own), to a client
// that takes them so (Hello.own_revokes), go with the next message, at
// the latest the reply of the call that made the change, which comes
// after it: no message of their own, no acknowledgment; a timer sends
// them ownRevokeDelay later if no message took them by then.
func (st *clientStream) kickLeaseRevokes(urgent bool) {
	if urgent || !st.ownRevokes {
		go st.sendLeaseRevokes()
		return
	}
	if st.ownRevokeArmed.CompareAndSwap(false, true) {
		time.AfterFunc(ownRevokeDelay, func() {
			st.ownRevokeArmed.Store(false)
			st.sendLeaseRevokes()
		})
	}
}

// sendLeaseRevokes sends the revocations queued for k.
func (st *clientStream) sendLeaseRevokes() {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	st.sendLeaseRevokesLocked()
}

// sendLeaseRevokesLocked sends the revocations queued for k, if it has a
// stream, in a LeaseRevoke push: sendMsg calls it first, so no message
// sent after a revocation was decided overtakes it. A revocation that
// cannot be sent is not acknowledged: the change waits for the lease's
// expiry, and the client, whose connection broke, drops its cache when it
// recovers. Precondition: st.sendMu.
func (st *clientStream) sendLeaseRevokesLocked() { st.leaseRevokesLocked(nil) }

// leaseRevokesLocked hands the revocations queued for k to the client
// before r, a reply about to be sent or held (nil: another message): in
// r's lease_revoke when they are all the client's own and it takes them
// so (Hello.own_revokes), else in a LeaseRevoke push sent now.
// Precondition: st.sendMu.
func (st *clientStream) leaseRevokesLocked(r *sentrypb.Reply) {
	if st.leaseHolder == nil || st.send == nil {
		return
	}
	// An idle lease a change made since the last message ended goes
	// first (idlelease.go).
	st.leaseHolder.PollIdle()
	t, ok := st.leaseHolder.Take()
	if !ok {
		return
	}
	own := t.Own && st.ownRevokes
	if own && r != nil {
		if lr := r.LeaseRevoke; lr != nil {
			// Taken earlier for the same reply (reply, then sendMsg).
			lr.Epoch, lr.Ids = t.Epoch, append(lr.Ids, t.IDs...)
			return
		}
		r.LeaseRevoke = &sentrypb.LeaseRevoke{Epoch: t.Epoch, Ids: t.IDs, Own: true}
		return
	}
	m := &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{
		Msg: &sentrypb.Push_LeaseRevoke{LeaseRevoke: &sentrypb.LeaseRevoke{Epoch: t.Epoch, Ids: t.IDs, Own: own}}}}}
	if err := st.sendRawLocked(m); err != nil {
		st.log.Debug("lease revocation not sent", "err", err)
	}
}

// leaseAcked handles the client's LeaseRevoked. It counts only once
// every call the client posted before it finished: the client sends it
// after the posted calls it made on the strength of the revoked leases
// (a posted open), and a change waiting for it (readlease.BeginChange)
// must come after them. The wait is off the receiving goroutine; a
// posted call that takes long only makes the change wait, at most until
// the leases expire, or until the registry finds the posted call is a
// change waiting for the acknowledgment of a client whose own arrived
// acknowledgment waits for a change of its own (Holder.Received,
// readlease/cycle.go).
func (c *client) leaseAcked(m *sentrypb.LeaseRevoked) {
	k := c.k
	if k.LeaseHolder == nil || m == nil {
		return
	}
	k.LeaseHolder.Received(m.Epoch)
	k.Mu.Lock()
	var last uint64
	for seq := range c.postedOut {
		last = max(last, seq)
	}
	k.Mu.Unlock()
	if last == 0 {
		k.LeaseHolder.Acked(m.Epoch)
		return
	}
	go func() {
		k.Mu.Lock()
		c.awaitPostedLocked(last+1, 0)
		k.Mu.Unlock()
		k.LeaseHolder.Acked(m.Epoch)
	}()
}

// grantReadLease adds a ReadLease to the reply of c, a successful open,
// openat, read, pread64, readv, preadv, fstat or newfstatat(fd, "",
// AT_EMPTY_PATH), when its client takes leases and the description is a
// regular gofer file opened for reading (O_RDONLY or O_RDWR: a write
// through this server, the holder's own included, revokes the lease
// before its reply, and the holder answers nothing of a file while its
// posted writes to it are unanswered). If the client holds a live lease
// on the file (another description's) and it covers the whole file, the
// description is attached to it; else the lease carries the file (or a
// window of a large one), read after the grant began, so that a change
// between makes the grant fail (readlease.Registry.Grant). An open is
// granted a new lease only when the server's data cache holds the whole
// file, or when the client says its opens are mostly followed by reads
// (dataWanted: Syscall.open_data_wanted): it reads nothing for a lease
// the application may never use.
func grantReadLease(k *kernel.Kernel, c *kernel.Task, ret int64, dataWanted bool) {
	h := k.LeaseHolder
	// A read of a watched file, or of a watched directory's child, is an
	// IN_ACCESS event that only the server can raise: such reads are not
	// answered on the client.
	if h == nil || c.Reply == nil || h.Disabled() || k.Inotify.Any() {
		return
	}
	if c.Created {
		claimOwnedLease(k, c, int32(ret))
		return
	}
	fd := syscalls.ArgInt(c, 0)
	next := int64(-1) // where the next read is likely, for a large file
	open := false
	switch c.Sysno {
	case unix.SYS_OPEN, unix.SYS_OPENAT:
		fd, open = int32(ret), true
	case unix.SYS_READ, unix.SYS_READV:
	case unix.SYS_PREAD64, unix.SYS_PREADV:
		next = int64(c.Args[3]) + ret
	case unix.SYS_COPY_FILE_RANGE:
	case unix.SYS_SENDFILE:
		// The in file: the lease answers the copies that follow (the
		// one that finds its end, cp's and cat's) on the client.
		fd = syscalls.ArgInt(c, 1)
	case unix.SYS_FSTAT:
	case unix.SYS_NEWFSTATAT:
		if p, err := syscalls.PathArg(c, 1); err != nil || p != "" || c.Args[3]&unix.AT_EMPTY_PATH == 0 {
			return
		}
	default:
		return
	}
	f, g, d, ok := leaseTarget(c, fd)
	if !ok {
		return
	}
	defer f.DecRef()
	if flags := f.Flags.Load(); flags&unix.O_ACCMODE == unix.O_WRONLY || flags&(unix.O_PATH|unix.O_DIRECT) != 0 {
		return
	}
	if next < 0 {
		f.OffMu.Lock()
		next = f.Off
		f.OffMu.Unlock()
	}
	dev, ino, known := k.Attrs.InodeOf(g.Handle)
	if !known {
		return
	}
	key := readlease.Key{Dev: dev, Ino: ino}
	reg := k.ReadLeases
	desc := f.ID.Load()
	if desc == 0 {
		// Its first record goes with this reply, as the fd's would
		// have brought it (slotRecordLocked) had the id not been
		// assigned here.
		desc = k.FileID(f)
		k.Trk.TouchFile(f)
	}
	size, sized := k.Attrs.SizeOf(g.Handle)
	if id, live := reg.Live(h, key); live && sized && size <= leaseWholeFile {
		c.Reply.Lease = &sentrypb.ReadLease{Id: id, File: desc, Attach: true}
		return
	}
	// An open may be followed by no read at all (open+close, a stat
	// through the fd): unless the client expects a read, it is leased
	// only what the server holds already, the whole content of a small
	// file in its data cache; otherwise the first read or fstat takes
	// the lease.
	if open && !dataWanted && !k.Attrs.HoldsWhole(g.Handle) {
		return
	}
	if l := leaseContent(k, h, g, d, key, next, open); l != nil {
		l.File = desc
		c.Reply.Lease = l
	}
}

// leaseContent grants client k (lease holder h) a new read lease on
// gofer file g (dentry d, inode key) and returns it without a
// description (ReadLease.file): the whole file when small, else the
// window from the page of next, or for an open (head) the file's head;
// nil if the file may not be leased or its grant failed.
func leaseContent(k *kernel.Kernel, h *readlease.Holder, g *vfs.GoferFile, d *vfs.Dentry, key readlease.Key, next int64, head bool) *sentrypb.ReadLease {
	reg := k.ReadLeases
	size, sized := k.Attrs.SizeOf(g.Handle)
	if st := k.Attrs.Recent(g.Handle); st != nil && !leaseable(st, key) {
		return nil
	}
	tk := reg.Begin(key)
	granted := false
	defer func() {
		if !granted {
			reg.Abort(tk)
		}
	}()
	// A grant only saves later round trips: it never holds the call up
	// for long (a gofer being restarted, a handle being re-resolved).
	ctx, cancel := context.WithTimeout(k.Ctx, leaseGrantTimeout)
	defer cancel()
	// The content first, then the attributes: a change between them
	// made through this server fails the grant; one made outside shows
	// as a size that is not the data's.
	// The whole file, asked one byte more than its size as last learnt
	// so that a short read shows its end; a window of a large one.
	var off uint64
	n := uint32(leaseWholeFile + 1)
	switch {
	case sized && size > leaseWholeFile && head:
		n = openHeadWindow
	case sized && size > leaseWholeFile:
		off, n = uint64(next)&^4095, leaseWindow
	case sized:
		n = uint32(size) + 1
	}
	r, err := k.Gofer.Read(ctx, &goferpb.ReadRequest{Handle: g.Handle, Offset: off, Length: n})
	if err != nil {
		h.PauseGrants(leaseGrantPause)
		return nil
	}
	if r.GetErrno() != 0 || len(r.GetData()) > int(n) {
		return nil
	}
	data := r.GetData()
	// The attributes the server knows (a walk, a write's reply, a stat
	// less than AttrTTL ago, with the atime of then), else the gofer's.
	st := k.Attrs.Recent(g.Handle)
	if st == nil {
		if st, err = k.VFS.GoferStatCtx(goferclient.FreshAttrs(ctx), g.Handle); err != nil {
			if ctx.Err() != nil {
				h.PauseGrants(leaseGrantPause)
			}
			return nil
		}
	}
	if !leaseable(st, key) {
		return nil
	}
	// The data must agree with the attributes: none past the size, and
	// a read that came back short of what was asked ends at the size (a
	// full window of a large file may end anywhere before it).
	end := off + uint64(len(data))
	if end > st.Size || (len(data) < int(n) && end != st.Size) {
		return nil
	}
	full := st
	if k.VFS.HasMounts() {
		// As syscalls.StatOf: a file of a grafted mount is on its device.
		if dev, ok := k.VFS.FileDev(d); ok && dev != st.Dev {
			full = proto.Clone(st).(*goferpb.Stat)
			full.Dev = dev
		}
	}
	ls := syscalls.ToLinuxStat(full)
	sb := make([]byte, ls.SizeBytes())
	ls.MarshalBytes(sb)
	id, epoch, _, ok := reg.Grant(h, tk, versionOfStat(st))
	granted = true // Grant ended the ticket either way
	if !ok {
		return nil
	}
	return &sentrypb.ReadLease{
		Id: id, Epoch: epoch, Stat: sb, Size: st.Size,
		DataOffset: off, Data: data, TtlMs: uint32(reg.TTL().Milliseconds()),
	}
}

// leaseTarget returns fd's description (which the caller releases with
// DecRef), its gofer file and its dentry, if it is a regular gofer file
// (not a memfd): what a lease may be on.
func leaseTarget(c *kernel.Task, fd int32) (*fdesc.File, *vfs.GoferFile, *vfs.Dentry, bool) {
	f, err := c.GetFile(fd)
	if err != nil {
		return nil, nil, nil, false
	}
	g, ok := f.Impl.(*vfs.GoferFile)
	d := vfs.DentryOf(f)
	if !ok || g.Memfd != nil || d == nil || d.Kind != vfs.KindGofer || !d.IsRegular() {
		f.DecRef()
		return nil, nil, nil, false
	}
	return f, g, d, true
}

// leaseable says whether a file of attributes st, found as inode key,
// may be leased: a regular file that occupies blocks (files that occupy
// none may be pseudo files, sysfs or cgroupfs, whose content changes
// without a new mtime).
func leaseable(st *goferpb.Stat, key readlease.Key) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFREG && st.Blocks != 0 && st.Dev == key.Dev && st.Ino == key.Ino
}

// revokeLeasesForWatch is called when an inotify watch is added: the
// client's cached reads would not raise IN_ACCESS, so every lease is
// revoked (the watch may be a directory's, covering children the
// registry cannot name) before the call's reply, and no more are granted
// while the client has watches (grantReadLease).
func revokeLeasesForWatch(k *kernel.Kernel) {
	if k.LeaseHolder != nil {
		leaseObserver{r: k.ReadLeases, log: k.Log}.ChangedAll(k.Ctx)
	}
}

// ownedOpenFlags are the open flags that make no owned claim: where a
// write lands or when it is durable is not the client's to answer.
const ownedOpenFlags = unix.O_APPEND | unix.O_DIRECT | unix.O_SYNC | unix.O_DSYNC | unix.O_PATH

// ownedGrantCalls are the calls whose reply may grant an owned lease:
// those of the description that claims it, and the open that made the
// claim (ownedOpenCalls).
var ownedGrantCalls = map[int32]bool{
	unix.SYS_LSEEK: true, unix.SYS_READ: true, unix.SYS_PREAD64: true, unix.SYS_READV: true, unix.SYS_PREADV: true,
	unix.SYS_OPEN: true, unix.SYS_OPENAT: true, unix.SYS_CREAT: true,
}

// ownedOpenCalls are the opens whose new description may claim an owned
// lease (claimOwnedLease).
var ownedOpenCalls = map[int32]bool{unix.SYS_OPEN: true, unix.SYS_OPENAT: true, unix.SYS_CREAT: true}

// claimOwnedLease makes the claim of c's new description fd, whose open
// created its file, to an owned lease (readlease.BeginOwned: no message):
// a regular gofer file opened for writing (not O_APPEND, O_DIRECT,
// O_SYNC, O_DSYNC) by a call the client did not post (a posted one's
// claim is made when it asks for the lease: grantOwnedLease). The file
// is empty and nothing else has it open: the creation made the inode,
// and an open of it by anyone since voids the claim (ownedFileOpened).
func claimOwnedLease(k *kernel.Kernel, c *kernel.Task, fd int32) {
	if c.Posted {
		return
	}
	claimOwned(k, c, fd)
}

// claimOwned is claimOwnedLease for a waited or posted creation.
func claimOwned(k *kernel.Kernel, c *kernel.Task, fd int32) {
	if !ownedOpenCalls[c.Sysno] {
		return
	}
	f, g, d, ok := leaseTarget(c, fd)
	if !ok {
		return
	}
	defer f.DecRef()
	if flags := f.Flags.Load(); flags&unix.O_ACCMODE == unix.O_RDONLY || flags&ownedOpenFlags != 0 {
		return
	}
	g.Owned.CompareAndSwap(nil, k.ReadLeases.BeginOwned(k.LeaseHolder, d.Ino()))
}

// grantOwnedLease adds an owned ReadLease to the reply of c, which
// returned ret: a successful lseek, read, pread64, readv or preadv, or
// an open that created its file (c.Created), with Syscall.owned_wanted,
// if the description holds its claim (claimOwnedLease) and the client
// may hold leases now. The lease carries the file's size as the host's
// file has it now (the client uses its copy only if its size is that: a
// change made where this server does not see it, the host's, shows
// there); an open's carries 0, with no gofer call: the gofer's create
// made the file empty (O_EXCL) just before, and no call through this
// server changed or opened it since, or the claim would be void. An
// open's carries the file's struct stat too, as fstat of the new fd
// answers it.
func grantOwnedLease(k *kernel.Kernel, c *kernel.Task, ret int64) {
	h := k.LeaseHolder
	if h == nil || c.Reply == nil || !ownedGrantCalls[c.Sysno] || h.Disabled() || k.Inotify.Any() {
		return
	}
	fd, open := syscalls.ArgInt(c, 0), ownedOpenCalls[c.Sysno]
	if open {
		if !c.Created {
			return
		}
		fd = int32(ret)
		if c.Posted {
			// A posted creation asks for the lease (a waited one
			// claimed it with its read lease): the client's copy
			// started at the post, and its writes behind, owned
			// writes, come after this.
			claimOwned(k, c, fd)
		}
	}
	f, g, _, ok := leaseTarget(c, fd)
	if !ok {
		return
	}
	defer f.DecRef()
	claim, desc := g.Owned.Load(), f.ID.Load()
	if claim == nil || desc == 0 && !open {
		return
	}
	if desc == 0 {
		// The new description's first record goes with this reply
		// (as grantReadLease's).
		desc = k.FileID(f)
		k.Trk.TouchFile(f)
	}
	var size uint64
	if !open {
		st, err := g.VFS().GoferSizeNow(g.Handle)
		if err != nil {
			return
		}
		size = st.Size
	}
	var stat []byte
	if open {
		// fstat's answer until the description's first write (as's
		// and ld's fstat of the output they just created: one waited
		// call each); the create's attributes are in the attribute
		// cache, so this asks the gofer nothing. Read before the
		// grant: a change since fails it.
		if st, err := syscalls.StatOf(c, nil, f); err == nil {
			ls := syscalls.ToLinuxStat(st)
			stat = make([]byte, ls.SizeBytes())
			ls.MarshalBytes(stat)
		}
	}
	id, epoch, ok := claim.Grant()
	if !ok {
		return
	}
	c.Reply.Lease = &sentrypb.ReadLease{Id: id, File: desc, Epoch: epoch, Owned: true, Size: size, Stat: stat,
		TtlMs: uint32(k.ReadLeases.TTL().Milliseconds())}
}

// ownedFileOpened voids the owned claim on gofer file d, which a call of
// k opens, and revokes its lease if granted (readlease.Registry.Opened):
// the holder stops answering from its copy, and another client's open
// returns once the holder acknowledged, after the writes it posted.
func ownedFileOpened(k *kernel.Kernel, d *vfs.Dentry) {
	reg := k.ReadLeases
	if reg == nil || d == nil || d.Kind != vfs.KindGofer || !d.IsRegular() {
		return
	}
	leaseObserver{r: reg, log: k.Log}.logExpired(reg.Opened(k.Ctx, d.Ino()))
}
