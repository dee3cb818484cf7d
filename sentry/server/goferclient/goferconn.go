package goferclient

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
)

// GoferConn is the server's connection to the gofer, made to survive a
// gofer restart (guarantee 3 in docs/ARCHITECTURE.md: kill -9 of the gofer and
// restart; no acknowledged write lost). It is a grpc.ClientConnInterface
// over the gofer's Calls stream (gofercalls.go), so
// goferpb.NewGoferClient(GoferConn) serves the server unchanged; it works
// on the messages through protoreflect, so that every RPC of the Gofer
// service is covered without code per method.
//
// # Virtual handles
//
// A gofer handle id names a handle of one gofer process: a restarted gofer
// knows none of them (its ids carry another random boot prefix, so a
// stale id gives EBADF, never another file). GoferConn therefore never
// shows the server a real id: every goferpb.Handle of a reply (Attach,
// Walk, Create, Mkdir, Symlink, Mknod, Reopen) gets a fresh virtual id,
// and the handle fields of requests (the uint64 fields named in
// handleFieldNames) are translated back. For each virtual id it keeps the
// current real id, Handle.file_handle, where the file was found (directory
// and name, with its inode number) and the open flags requested so far
// through Open, Create and a Walk that opens (without O_TRUNC, O_CREAT, O_EXCL). Release
// drops virtual ids. An unknown virtual id is sent as 0, which no gofer
// hands out (EBADF).
//
// # Healing
//
// A reply with errno EBADF or ESTALE makes GoferConn Stat each real id of
// the request; those the gofer does not know are stale and re-resolved:
// the Attach root by Attach, others by Reopen(file_handle) (the gofer
// checks it lies beneath its root), else by walking their name again from
// their (re-resolved) directory, accepted only if the inode number is the
// one recorded. The recorded open flags are replayed on the new real id
// and the call is retried. The first stale handle found starts a sweep
// that re-resolves every handle in the background, logged at Info with
// how many handles were re-resolved. A handle that cannot be re-resolved
// is lost: its calls fail with ESTALE. Files unlinked while open are not
// lost: the gofer silly-renamed them, so they are reopened by file handle.
//
// # Outages
//
// Every call waits for the gofer (for a Calls stream to open, goferCalls)
// rather than failing while it is down. A call that fails with
// codes.Unavailable (the stream broke after it may have been sent) is
// re-sent until its context ends: reads, writes at an offset, stats, opens, SetStat, Fsync
// and Getdents are idempotent, and a mutation carrying an Origin is
// answered from the gofer's reply cache when the same gofer process saw
// it (the gofer does not keep EBADF replies, so a mutation re-sent with a
// re-resolved handle runs). An outage longer than a call's deadline (60 s
// for the server's calls) still fails that call (EIO). The reply cache does not survive a gofer restart, though, so a
// creation, link, unlink or rename re-sent to a new gofer may find its own
// effect: when a call with an Origin was in flight while the gofer
// restarted (its request's handles had to be re-resolved since), EEXIST
// from Create, Mkdir, Symlink, Mknod or Link and ENOENT from Unlink or
// Rename are taken as the first execution's success (the new file is
// looked up; a Link's name must be the target's inode; a Rename's new
// name must exist). The window this leaves: if the first execution never
// reached the dying gofer and another party made (or removed) the same
// name meanwhile, the call reports success for a file it did not create
// (or remove). A fallocate that collapses or inserts a range is sent with
// the file's size before it and runs only on that size (fallocate.go); a
// truncation with the file's size, ctime and mtime before it, a
// RENAME_EXCHANGE with the inodes its names hold (conditional.go): a
// re-sent one that finds the state it leaves is not run again.
type GoferConn struct {
	cc  grpc.ClientConnInterface
	log hclog.Logger

	// ctx ends background sweeps; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc

	// mu protects the fields below and the fields of every vhandle
	// marked so. It is a leaf lock, never held across an RPC.
	mu      sync.Mutex
	nextVID uint64
	handles map[uint64]*vhandle
	// sweeping is set while a sweep runs; sweepAgain asks it for another
	// pass (a stale handle was found meanwhile).
	sweeping, sweepAgain bool
	// sweepDone is closed when the running sweep ends.
	sweepDone chan struct{}
	// healed and lost count re-resolved and lost handles since the last
	// sweep reported.
	healed, lost int
	// donations counts the donated fds the vhandles hold, at most
	// maxDonations (immutable) (goferdonate.go).
	donations, maxDonations int
	// calls is the call streams' carrier (immutable), whose fdsLost
	// stops donations.
	calls *goferCalls
	// postDelay is how long a queued SetStat waits for a carrier
	// (immutable; WithPostDelay).
	postDelay time.Duration

	// posted are the SetStats queued to ride the next call
	// (postsetstat.go), in order; carrier, while a call carrying some
	// is in flight, is closed when it got its result; postTimer sends
	// the queue alone. Protected by mu.
	posted    []postedSetStat
	carrier   chan struct{}
	postTimer *time.Timer
	// carrying are the SetStats the carrier in flight took (nil while
	// none is): a creation in a directory none of them changes need not
	// wait for it (independentLocked). Protected by mu.
	carrying []postedSetStat
	// postsOut counts the SetStats queued or carried (a call with none
	// out takes no lock for them).
	postsOut atomic.Int32
}

// vhandle is one virtual handle.
type vhandle struct {
	// healMu serializes re-resolutions of this handle. A re-resolution by
	// name holds its directory's healMu inside it; a directory's virtual
	// id is always smaller than its children's, so there is no cycle.
	healMu sync.Mutex

	// Protected by GoferConn.mu:
	real uint64
	fh   []byte
	// attach says the handle came from Attach: the root, re-resolved by
	// Attach.
	attach bool
	// parent (a virtual id, 0 if unknown) and name locate the file for a
	// re-resolution by name; ino, if hasIno, must match.
	parent uint64
	name   string
	ino    uint64
	hasIno bool
	// dev is the file's device, with ino (0 if unknown).
	dev uint64
	// rfd and wfd are the fds the gofer donated for reading and writing
	// (goferdonate.go), nil if none; each holds a reference.
	rfd, wfd *donated.FD
	// read, write and flags are the open modes asked for so far.
	read, write bool
	flags       uint32
	// lost is set when the handle could not be re-resolved.
	lost bool
}

// inode returns the file e names, if known. Precondition: GoferConn.mu.
func (e *vhandle) inode() (fileKey, bool) {
	return fileKey{e.dev, e.ino}, e.hasIno
}

// handleFieldNames are the names of the uint64 request fields that carry
// handle ids (goferconn_test.go checks that every uint64 request field is
// classified).
var handleFieldNames = map[protoreflect.Name]bool{
	"handle": true, "dir": true, "old_dir": true, "new_dir": true, "target": true, "handles": true, "dirs": true,
}

// requestHandleFields maps each request message of the Gofer service to
// its handle fields.
var requestHandleFields = func() map[protoreflect.FullName][]protoreflect.FieldDescriptor {
	out := make(map[protoreflect.FullName][]protoreflect.FieldDescriptor)
	svcs := goferpb.File_gofer_proto.Services()
	for i := 0; i < svcs.Len(); i++ {
		ms := svcs.Get(i).Methods()
		for j := 0; j < ms.Len(); j++ {
			in := ms.Get(j).Input()
			var fds []protoreflect.FieldDescriptor
			fields := in.Fields()
			for k := 0; k < fields.Len(); k++ {
				fd := fields.Get(k)
				if fd.Kind() == protoreflect.Uint64Kind && handleFieldNames[fd.Name()] {
					fds = append(fds, fd)
				}
			}
			out[in.FullName()] = fds
		}
	}
	return out
}()

// maxHealRounds bounds how often one call is retried after re-resolving
// its handles (each round means the gofer restarted again).
const maxHealRounds = 16

// unavailableBackoff is the pause before re-sending a call that failed
// with codes.Unavailable (the re-sent call then waits for the gofer).
const unavailableBackoff = 10 * time.Millisecond

// GoferConnOption configures a GoferConn.
type GoferConnOption func(*goferConnOptions)

type goferConnOptions struct {
	dial StreamDialer
	// wrap, if set, wraps the calls' connection (tests: losing replies).
	wrap func(grpc.ClientConnInterface) grpc.ClientConnInterface
	// postDelay, if set, is the GoferConn's postDelay.
	postDelay time.Duration
}

// WithStreamDialer opens the Calls streams with dial (the framed wire on
// a Unix socket) instead of as gRPC streams over the connection.
func WithStreamDialer(dial StreamDialer) GoferConnOption {
	return func(o *goferConnOptions) { o.dial = dial }
}

// WithWrap wraps the calls' connection with wrap (tests: losing or
// counting calls on their way).
func WithWrap(wrap func(grpc.ClientConnInterface) grpc.ClientConnInterface) GoferConnOption {
	return func(o *goferConnOptions) { o.wrap = wrap }
}

// WithPostDelay makes a queued SetStat wait d for a call to carry it
// before it is sent alone (postsetstat.go; default 1 ms). Tests that
// count carried SetStats set it long, so load cannot fire the timer
// before the next call comes.
func WithPostDelay(d time.Duration) GoferConnOption {
	return func(o *goferConnOptions) { o.postDelay = d }
}

// RealHandle is the gofer's handle behind the virtual handle id vid (0
// when vid is unknown): how a test sees a handle re-resolved after a
// gofer restart.
func (g *GoferConn) RealHandle(vid uint64) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h := g.handles[vid]; h != nil {
		return h.real
	}
	return 0
}

// DonationsLost says whether a stream failed because the kernel dropped
// donated fds, after which no more are asked for.
func (g *GoferConn) DonationsLost() bool {
	return g.calls != nil && g.calls.fdsLost.Load()
}

// NewGoferConn wraps cc, a connection to the gofer. Use it as
// NewGoferConn(cc, log).Client(); Close stops its
// background work (not cc). Calls travel on one persistent Calls stream
// (goferCalls), over cc unless WithStreamDialer says otherwise.
func NewGoferConn(cc grpc.ClientConnInterface, log hclog.Logger, opts ...GoferConnOption) *GoferConn {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	var o goferConnOptions
	for _, f := range opts {
		f(&o)
	}
	if o.dial == nil {
		o.dial = GRPCStreamDialer(cc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log = log.Named("goferconn")
	gc := newGoferCalls(ctx, cc, o.dial, log)
	var calls grpc.ClientConnInterface = gc
	if o.wrap != nil {
		calls = o.wrap(calls)
	}
	if o.postDelay == 0 {
		o.postDelay = postDelay
	}
	return &GoferConn{cc: calls, log: log, ctx: ctx, cancel: cancel, handles: make(map[uint64]*vhandle), maxDonations: maxDonations(), calls: gc, postDelay: o.postDelay}
}

// Close stops background re-resolution and ends the gofer session, which
// releases this server's gofer handles, and closes the donated fds (once
// no local call uses them).
func (g *GoferConn) Close() {
	if g.log.IsDebug() {
		g.log.Debug("gofer calls made", "by_method", fmt.Sprint(g.calls.sentCounts()))
	}
	g.cancel()
	var fds []*donated.FD
	g.mu.Lock()
	for _, e := range g.handles {
		fds = g.dropDonationsLocked(e, true, true, fds)
	}
	g.mu.Unlock()
	putAll(fds)
}

// NewStream implements grpc.ClientConnInterface. The Gofer service has no
// streams; it is passed through.
func (g *GoferConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return g.cc.NewStream(ctx, desc, method, append(opts[:len(opts):len(opts)], grpc.WaitForReady(true))...)
}

// use is one handle of a request: its virtual id and the real id sent.
type use struct{ vid, real uint64 }

// Invoke implements grpc.ClientConnInterface (see GoferConn).
func (g *GoferConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	req, ok1 := args.(proto.Message)
	rep, ok2 := reply.(proto.Message)
	if !ok1 || !ok2 {
		return g.cc.Invoke(ctx, method, args, reply, append(opts[:len(opts):len(opts)], grpc.WaitForReady(true))...)
	}
	if rr, ok := req.(*goferpb.ReleaseRequest); ok {
		return g.release(ctx, method, rr, rep, append(opts[:len(opts):len(opts)], grpc.WaitForReady(true)))
	}
	if donated.Has[KickPostedSetStats](opts) {
		g.kickPosted()
		return nil
	}
	if sr, ok := req.(*goferpb.SetStatRequest); ok {
		if p, ok := optOf[*PostSetStat](opts); ok && g.post(ctx, sr, p) {
			return nil
		}
	}
	alone := donated.Has[sendingAlone](opts)
	if !alone {
		// Posted SetStats are made before this call (postsetstat.go):
		// a write through a donated fd has them sent first; a read
		// only waits for a carrier in flight.
		if w, ok := req.(*goferpb.WriteRequest); ok {
			if !g.writeIndependent(w) {
				g.sendPostedAlone()
			}
		} else if _, err := g.beginCarry(ctx, req, false); err != nil {
			return err
		}
	}
	// A call served through a donated fd goes to no gofer: the options
	// of a gofer call are built only past it (one allocation less for
	// every local read and write).
	if sr, ok := req.(*goferpb.StatRequest); ok {
		if l, ok := optOf[*donated.Lend](opts); ok {
			return g.lendReadOnly(sr, rep, l)
		}
	}
	if g.serveLocally(req, rep, donated.Has[donated.ViaGofer](opts), donated.Has[donated.SizeOnly](opts), donated.WriteOptsOf(opts), donated.ReadIntoOf(opts)) {
		return nil
	}
	opts = append(opts[:len(opts):len(opts)], grpc.WaitForReady(true))
	if fr, ok := req.(*goferpb.FallocateRequest); ok && movesBytes(fr.GetMode()) && !fr.GetCheckSize() && !donated.Has[unconditional](opts) {
		return g.fallocateChecked(ctx, method, fr, rep, opts)
	}
	if (truncates(req) || exchanges(req)) && !donated.Has[unconditional](opts) {
		return g.sendChecked(ctx, method, req, rep, opts)
	}
	g.beforeChange(req)
	var inFlight []use // the handles of the first call whose outcome is unknown
	unknown := false
	heals := 0
	var removesName bool
	switch req.(type) {
	case *goferpb.UnlinkRequest, *goferpb.UnlinkManyRequest, *goferpb.RenameRequest:
		removesName = true
	}
	// The queued SetStats ride this call's first attempt.
	var taken []postedSetStat
	if !alone {
		var err error
		if taken, err = g.beginCarry(ctx, req, true); err != nil {
			return err
		}
	}
	for {
		if removesName {
			if err := g.waitSweep(ctx); err != nil {
				g.sendCarriedAlone(taken)
				return err
			}
		}
		mreq, uses, lost := g.mapRequest(req)
		proto.Reset(rep)
		if lost {
			g.sendCarriedAlone(taken)
			setErrno(rep, unix.ESTALE)
			return nil
		}
		callOpts := opts
		var slot *donated.Slot
		if opensFile(req) {
			if mreq == req {
				mreq = proto.Clone(req)
			}
			if donated.Has[donated.NotNeeded](opts) {
				slot = nil
			} else if slot = g.askDonation(mreq); slot != nil {
				callOpts = append(opts[:len(opts):len(opts)], slot)
			}
		}
		var carry *beforeSlot
		if len(taken) > 0 {
			carry = g.carried(taken)
			callOpts = append(callOpts[:len(callOpts):len(callOpts)], carry)
		}
		err := g.cc.Invoke(ctx, method, mreq, rep, callOpts...)
		if len(taken) > 0 {
			// Before the call may be sent again: they came first.
			g.settlePosted(taken, carry)
			g.endCarry(taken)
			taken = nil
			if status.Code(err) == codes.Aborted && carry.sent {
				// The gofer ran a carried SetStat, not the call (a
				// handle to re-resolve, now sent alone): again.
				continue
			}
		}
		// The donated fd, if one came: adopted by finish or closed.
		var gift *donated.File
		if slot != nil && slot.FD >= 0 {
			gift = donated.Check(slot.FD, openFlags(req))
		}
		dropDonated := func() {
			if gift != nil {
				gift.Close()
				gift = nil
			}
		}
		errno := errnoOfReply(rep)
		if err != nil || errno != 0 {
			dropDonated() // donated only with a success
		}
		if status.Code(err) == codes.Unavailable && ctx.Err() == nil {
			if !unknown {
				unknown, inFlight = true, uses
			}
			g.log.Debug("gofer call interrupted; re-sending", "method", method, "err", err)
			if sleepCtx(ctx, unavailableBackoff) != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if (errno == unix.EBADF || errno == unix.ESTALE) && len(uses) > 0 && heals < maxHealRounds {
			retry, herrno, herr := g.healUses(ctx, uses)
			if herr != nil {
				if status.Code(herr) == codes.Unavailable && ctx.Err() == nil {
					g.releaseReplyHandles(rep)
					continue
				}
				return herr
			}
			if retry {
				heals++
				g.releaseReplyHandles(rep)
				continue
			}
			if herrno != 0 {
				g.releaseReplyHandles(rep)
				proto.Reset(rep)
				setErrno(rep, herrno)
				return nil
			}
		}
		if unknown && (errno == unix.EEXIST || errno == unix.ENOENT || errno == unix.ENODATA) && hasOrigin(req) && restartedSince(inFlight, uses) {
			if nrep := g.settle(ctx, mreq, errno); nrep != nil {
				g.log.Info("mutation re-sent across a gofer restart found its own effect; taken as done", "method", method, "errno", errno)
				proto.Reset(rep)
				proto.Merge(rep, nrep)
			}
		}
		if unknown && restartedSince(inFlight, uses) {
			g.settleUnlinks(req, rep)
		}
		if unknown && errno == 0 {
			g.settleFallocate(req, rep)
			g.settleConditional(method, req, rep)
		}
		again := g.finish(req, uses, rep, &gift)
		dropDonated()
		if again {
			continue
		}
		g.afterChange(req, rep)
		return nil
	}
}

// mapRequest returns a copy of req with virtual handle ids replaced by
// real ones, the handles used, and whether one of them is lost.
func (g *GoferConn) mapRequest(req proto.Message) (proto.Message, []use, bool) {
	if r, ok := req.(*goferpb.UnlinkManyRequest); ok {
		return g.mapUnlinkMany(r)
	}
	fds := requestHandleFields[req.ProtoReflect().Descriptor().FullName()]
	if len(fds) == 0 {
		return req, nil, false
	}
	m := proto.Clone(req)
	var uses []use
	lost := g.mapHandles(m.ProtoReflect(), fds, &uses)
	return m, uses, lost
}

// mapUnlinkMany is mapRequest of an UnlinkManyRequest: a new request
// with new dirs and r's other fields shared (nothing changes them), not
// proto.Clone's deep copy and reflection, which cost four allocations
// an unlink of a run (its name, origin and found inode copied, its dir
// set through protoreflect). TestMapUnlinkManyCopiesEveryField keeps it
// whole as fields are added.
func (g *GoferConn) mapUnlinkMany(r *goferpb.UnlinkManyRequest) (proto.Message, []use, bool) {
	dirs := make([]uint64, len(r.GetDirs()))
	uses := make([]use, 0, len(dirs))
	lost := false
	g.mu.Lock()
	for i, vid := range r.GetDirs() {
		if vid == 0 {
			continue
		}
		e := g.handles[vid]
		if e == nil {
			continue
		}
		lost = lost || e.lost
		uses = append(uses, use{vid, e.real})
		dirs[i] = e.real
	}
	g.mu.Unlock()
	m := &goferpb.UnlinkManyRequest{Dirs: dirs, Names: r.GetNames(), Origins: r.GetOrigins(), Flags: r.GetFlags(), Found: r.GetFound(), ErrnosWanted: r.GetErrnosWanted()}
	m.ProtoReflect().SetUnknown(r.ProtoReflect().GetUnknown())
	return m, uses, lost
}

// mapHandles replaces, in r itself, the virtual handle ids of fields fds
// (r's requestHandleFields) by real ones, appends the handles used to
// *uses (if uses is not nil), and reports whether one of them is lost
// (an unknown id becomes 0).
func (g *GoferConn) mapHandles(r protoreflect.Message, fds []protoreflect.FieldDescriptor, uses *[]use) bool {
	lost := false
	g.mu.Lock()
	defer g.mu.Unlock()
	realOf := func(vid uint64) uint64 {
		if vid == 0 {
			return 0
		}
		e := g.handles[vid]
		if e == nil {
			return 0
		}
		if e.lost {
			lost = true
		}
		if uses != nil {
			*uses = append(*uses, use{vid, e.real})
		}
		return e.real
	}
	for _, fd := range fds {
		if fd.IsList() {
			if !r.Has(fd) {
				continue
			}
			l := r.Mutable(fd).List()
			for i := 0; i < l.Len(); i++ {
				l.Set(i, protoreflect.ValueOfUint64(realOf(l.Get(i).Uint())))
			}
			continue
		}
		if vid := r.Get(fd).Uint(); vid != 0 {
			r.Set(fd, protoreflect.ValueOfUint64(realOf(vid)))
		}
	}
	return lost
}

// finish registers the handles of a reply under fresh virtual ids and
// records what Open and Create asked for. It returns true if the call
// must be re-sent: an Open that reached a real id since replaced.
//
// A file donated with the reply (*gift, checked) is given to the handle
// it opened, and *gift set to nil, if that handle takes it.
func (g *GoferConn) finish(req proto.Message, uses []use, rep proto.Message, gift **donated.File) bool {
	errno := errnoOfReply(rep)
	g.mu.Lock()
	defer g.mu.Unlock()
	adopt := func(e *vhandle, gst *goferpb.Stat) {
		if *gift != nil && g.adoptLocked(e, *gift, gst) {
			*gift = nil
		}
	}
	if r, ok := req.(*goferpb.OpenRequest); ok && errno == 0 && len(uses) == 1 {
		e := g.handles[r.Handle]
		if e == nil {
			return false
		}
		if e.real != uses[0].real {
			return true
		}
		e.recordOpen(r.Flags)
		adopt(e, nil)
		return false
	}
	var added []*vhandle
	goferpb.RangeHandles(rep.ProtoReflect(), func(h *goferpb.Handle, st *goferpb.Stat) {
		if h.Id == 0 {
			return
		}
		g.nextVID++
		e := &vhandle{real: h.Id, fh: append([]byte(nil), h.FileHandle...)}
		if st != nil {
			e.ino, e.hasIno, e.dev = st.Ino, true, st.Dev
		}
		g.handles[g.nextVID] = e
		h.Id = g.nextVID
		added = append(added, e)
	})
	switch r := req.(type) {
	case *goferpb.AttachRequest:
		for _, e := range added {
			e.attach = true
		}
	case *goferpb.WalkRequest:
		parent := r.Dir
		for i, f := range rep.(*goferpb.WalkReply).GetFiles() {
			if i >= len(r.Names) || f.GetHandle() == nil || f.Handle.Id == 0 {
				break
			}
			e := g.handles[f.Handle.Id]
			e.parent, e.name = parent, string(r.Names[i])
			parent = f.Handle.Id
			if r.Open && errno == 0 && i == len(r.Names)-1 && rep.(*goferpb.WalkReply).OpenErrno == 0 {
				e.recordOpen(r.OpenFlags) // a walk-open
				adopt(e, f.GetStat())
				// WalkReply.path: the same file's unopened handle.
				if p := g.handles[rep.(*goferpb.WalkReply).GetPath().GetId()]; p != nil && p != e {
					p.parent, p.name = e.parent, e.name
					if st := f.GetStat(); st != nil {
						p.ino, p.hasIno, p.dev = st.Ino, true, st.Dev
					}
				}
			}
		}
	case *goferpb.GetdentsRequest:
		// A listing of subdirectories by name: each one's handle is
		// that name in dir (a listing of one, GetdentsRequest.name, has
		// only that one's).
		if len(r.Names) == 0 {
			for _, e := range added {
				e.parent, e.name = r.Dir, string(r.Name)
			}
			break
		}
		for i, sr := range rep.(*goferpb.GetdentsReply).GetSubs() {
			if i >= len(r.Names) {
				break
			}
			if e := g.handles[sr.GetSub().GetHandle().GetId()]; e != nil && sr.GetSub().GetHandle().GetId() != 0 {
				e.parent, e.name = r.Dir, string(r.Names[i])
			}
		}
	case interface {
		GetDir() uint64
		GetName() []byte
	}:
		// Create, Mkdir, Symlink, Mknod.
		for _, e := range added {
			e.parent, e.name = r.GetDir(), string(r.GetName())
		}
		if c, ok := req.(*goferpb.CreateRequest); ok && errno == 0 {
			// The opened handle, not CreateReply.path.
			if e := g.handles[rep.(*goferpb.CreateReply).GetHandle().GetId()]; e != nil {
				e.recordOpen(c.Flags)
				adopt(e, rep.(*goferpb.CreateReply).GetStat())
			}
		}
	}
	return false
}

// recordOpen records open flags for replay. Precondition: GoferConn.mu.
func (e *vhandle) recordOpen(flags uint32) {
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		e.read = true
	case unix.O_WRONLY:
		e.write = true
	default:
		e.read, e.write = true, true
	}
	e.flags |= flags &^ (unix.O_ACCMODE | unix.O_TRUNC | unix.O_CREAT | unix.O_EXCL)
}

// openFlags returns the flags that replay the recorded opens, and whether
// there were any. Precondition: GoferConn.mu.
func (e *vhandle) openFlags() (uint32, bool) {
	switch {
	case e.read && e.write:
		return e.flags | unix.O_RDWR, true
	case e.write:
		return e.flags | unix.O_WRONLY, true
	case e.read:
		return e.flags | unix.O_RDONLY, true
	}
	return 0, false
}

// releaseReplyHandles releases the real handles of a reply that is
// discarded.
func (g *GoferConn) releaseReplyHandles(rep proto.Message) {
	var ids []uint64
	goferpb.RangeHandles(rep.ProtoReflect(), func(h *goferpb.Handle, _ *goferpb.Stat) {
		if h.Id != 0 {
			ids = append(ids, h.Id)
		}
	})
	g.releaseReal(ids...)
}

// releaseReal releases real ids, best effort.
func (g *GoferConn) releaseReal(ids ...uint64) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(g.ctx, 10*time.Second)
	defer cancel()
	if _, err := g.raw().Release(ctx, &goferpb.ReleaseRequest{Handles: ids}); err != nil {
		g.log.Debug("release failed", "err", err)
	}
}

// release implements Release: the virtual ids are dropped at once and
// their real ids released (re-sent across an outage).
func (g *GoferConn) release(ctx context.Context, method string, req *goferpb.ReleaseRequest, rep proto.Message, opts []grpc.CallOption) error {
	var reals []uint64
	var fds []*donated.FD
	g.mu.Lock()
	for _, vid := range req.Handles {
		if e := g.handles[vid]; e != nil {
			delete(g.handles, vid)
			fds = g.dropDonationsLocked(e, true, true, fds)
			if !e.lost && e.real != 0 {
				reals = append(reals, e.real)
			}
		}
	}
	g.mu.Unlock()
	putAll(fds)
	proto.Reset(rep)
	if len(reals) == 0 {
		return nil
	}
	for {
		err := g.cc.Invoke(ctx, method, &goferpb.ReleaseRequest{Handles: reals}, rep, opts...)
		if status.Code(err) == codes.Unavailable && ctx.Err() == nil {
			// The ids are stale if the gofer restarted (then releasing
			// them is a no-op), else still to be released.
			if sleepCtx(ctx, unavailableBackoff) != nil {
				return err
			}
			continue
		}
		return err
	}
}

// raw is a client of the real connection, for GoferConn's own calls.
func (g *GoferConn) raw() goferpb.GoferClient { return goferpb.NewGoferClient(waitConn{g.cc}) }

// waitConn adds grpc.WaitForReady to every call.
type waitConn struct{ cc grpc.ClientConnInterface }

func (w waitConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return w.cc.Invoke(ctx, method, args, reply, append(opts[:len(opts):len(opts)], grpc.WaitForReady(true))...)
}

func (w waitConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return w.cc.NewStream(ctx, desc, method, append(opts[:len(opts):len(opts)], grpc.WaitForReady(true))...)
}

// healUses checks the handles of a call that failed with EBADF or
// ESTALE. It returns retry if one of them was re-resolved (by this call
// or another), else the errno to fail the call with if one is lost (0:
// the failure was the file's own), or a transport error.
func (g *GoferConn) healUses(ctx context.Context, uses []use) (retry bool, errno unix.Errno, err error) {
	seen := make(map[uint64]bool)
	for _, u := range uses {
		if seen[u.vid] || u.real == 0 {
			continue
		}
		seen[u.vid] = true
		healed, herrno, err := g.healIfStale(ctx, u.vid, u.real)
		if err != nil {
			return false, 0, err
		}
		if healed {
			retry = true
		} else if herrno != 0 && errno == 0 {
			errno = herrno
		}
	}
	if retry {
		return true, 0, nil
	}
	return false, errno, nil
}

// healIfStale re-resolves vid if real, its real id when last used, is
// unknown to the gofer. It returns healed if vid now has another real id.
func (g *GoferConn) healIfStale(ctx context.Context, vid, real uint64) (healed bool, errno unix.Errno, err error) {
	g.mu.Lock()
	e := g.handles[vid]
	var cur uint64
	var lost bool
	if e != nil {
		cur, lost = e.real, e.lost
	}
	g.mu.Unlock()
	switch {
	case e == nil:
		return false, 0, nil
	case lost:
		return false, unix.ESTALE, nil
	case cur != real:
		return true, 0, nil
	}
	r, err := g.raw().Stat(ctx, &goferpb.StatRequest{Handle: real})
	if err != nil {
		return false, 0, err
	}
	if unix.Errno(r.Errno) != unix.EBADF {
		return false, 0, nil // known: the failure was the file's own
	}
	g.noteRestart()
	return g.heal(ctx, vid, e, real)
}

// heal re-resolves e (virtual id vid) whose real id stale the gofer does
// not know, and replays its opens.
func (g *GoferConn) heal(ctx context.Context, vid uint64, e *vhandle, stale uint64) (healed bool, errno unix.Errno, err error) {
	e.healMu.Lock()
	defer e.healMu.Unlock()
	g.mu.Lock()
	cur, lost := e.real, e.lost
	fh, attach, parent, name, ino, hasIno := e.fh, e.attach, e.parent, e.name, e.ino, e.hasIno
	flags, opened := e.openFlags()
	g.mu.Unlock()
	if lost {
		return false, unix.ESTALE, nil
	}
	if cur != stale {
		return true, 0, nil
	}
	var newReal uint64
	for attempt := 0; ; attempt++ {
		// EBADF while re-resolving: a handle just obtained (or the
		// directory walked from) is unknown, so the gofer restarted again
		// meanwhile: start over.
		again := attempt < maxHealRounds
		real, errno, err := g.resolve(ctx, fh, attach, parent, name, ino, hasIno)
		if err != nil {
			return false, 0, err
		}
		if errno == unix.EBADF && again {
			continue
		}
		if errno != 0 {
			if transientErrno(errno) || errno == unix.EBADF {
				return false, unix.EIO, nil
			}
			g.mu.Lock()
			live := g.handles[vid] == e
			if live {
				e.lost = true
				g.lost++
			}
			g.mu.Unlock()
			if live {
				g.log.Warn("gofer handle lost: it cannot be re-resolved after the gofer restarted", "name", name, "errno", errno)
			}
			return false, unix.ESTALE, nil
		}
		if opened {
			r, err := g.raw().Open(ctx, &goferpb.OpenRequest{Handle: real, Flags: flags})
			if err != nil || r.Errno != 0 {
				g.releaseReal(real)
				if err != nil {
					return false, 0, err
				}
				if r.Errno == int32(unix.EBADF) && again {
					continue
				}
				return false, unix.Errno(r.Errno), nil
			}
		}
		newReal = real
		break
	}
	g.mu.Lock()
	live := g.handles[vid] == e
	if live {
		e.real = newReal
		g.healed++
	}
	g.mu.Unlock()
	if !live {
		g.releaseReal(newReal)
		return false, 0, nil
	}
	return true, 0, nil
}

// resolve finds a file again on the (restarted) gofer: the root by Attach,
// else by its file handle, else by its name in its directory.
func (g *GoferConn) resolve(ctx context.Context, fh []byte, attach bool, parent uint64, name string, ino uint64, hasIno bool) (uint64, unix.Errno, error) {
	c := g.raw()
	if attach {
		r, err := c.Attach(ctx, &goferpb.AttachRequest{})
		if err != nil {
			return 0, 0, err
		}
		if r.Errno != 0 || r.Root.GetId() == 0 {
			return 0, errnoOr(r.Errno, unix.EIO), nil
		}
		return r.Root.Id, 0, nil
	}
	errno := unix.ESTALE
	if len(fh) > 0 {
		r, err := c.Reopen(ctx, &goferpb.ReopenRequest{FileHandle: fh})
		if err != nil {
			return 0, 0, err
		}
		if r.Errno == 0 && r.Handle.GetId() != 0 {
			return r.Handle.Id, 0, nil
		}
		errno = errnoOr(r.Errno, unix.EIO)
	}
	// By name, from the directory it was found in (a gofer without
	// CAP_DAC_READ_SEARCH, or a filesystem without file handles).
	if parent == 0 || name == "" {
		return 0, errno, nil
	}
	dir, derrno, err := g.currentReal(ctx, parent)
	if err != nil || derrno != 0 {
		return 0, errnoOr(int32(derrno), errno), err
	}
	w, err := c.Walk(ctx, &goferpb.WalkRequest{Dir: dir, Names: [][]byte{[]byte(name)}})
	if err != nil {
		return 0, 0, err
	}
	if w.Errno == int32(unix.EBADF) {
		return 0, unix.EBADF, nil
	}
	var ids []uint64
	for _, f := range w.Files {
		if f.GetHandle().GetId() != 0 {
			ids = append(ids, f.Handle.Id)
		}
	}
	if w.Errno == 0 && len(w.Files) == 1 && len(ids) == 1 && (!hasIno || w.Files[0].GetStat().GetIno() == ino) {
		return ids[0], 0, nil
	}
	g.releaseReal(ids...)
	return 0, errno, nil
}

// currentReal returns vid's real id, re-resolving it first if stale.
func (g *GoferConn) currentReal(ctx context.Context, vid uint64) (uint64, unix.Errno, error) {
	for i := 0; i < maxHealRounds; i++ {
		g.mu.Lock()
		e := g.handles[vid]
		var real uint64
		lost := false
		if e != nil {
			real, lost = e.real, e.lost
		}
		g.mu.Unlock()
		if e == nil || lost {
			return 0, unix.ESTALE, nil
		}
		healed, errno, err := g.healIfStale(ctx, vid, real)
		if err != nil || errno != 0 {
			return 0, errno, err
		}
		if !healed {
			return real, 0, nil
		}
	}
	return 0, unix.ESTALE, nil
}

// noteRestart starts a sweep (or asks the running one for another pass):
// a stale handle means the gofer restarted.
func (g *GoferConn) noteRestart() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sweeping {
		g.sweepAgain = true
		return
	}
	g.sweeping = true
	g.sweepDone = make(chan struct{})
	g.log.Debug("the gofer restarted; re-resolving handles")
	go g.sweep()
}

// waitSweep waits for a running sweep to end. A call that removes a name
// (Unlink, Rename) waits so that it reaches a restarted gofer only once the
// handles of the files the server has open are re-resolved there with
// their opens replayed: else the gofer, not knowing the file is open,
// would unlink it instead of silly-renaming it, and the open file would be
// lost to the next restart.
func (g *GoferConn) waitSweep(ctx context.Context) error {
	g.mu.Lock()
	done := g.sweepDone
	sweeping := g.sweeping
	g.mu.Unlock()
	if !sweeping {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// sweep re-resolves every stale handle, then logs how many were.
func (g *GoferConn) sweep() {
	start := time.Now()
	for {
		g.mu.Lock()
		g.sweepAgain = false
		var uses []use
		for vid, e := range g.handles {
			if !e.lost {
				uses = append(uses, use{vid, e.real})
			}
		}
		g.mu.Unlock()
		for _, u := range uses {
			if g.ctx.Err() != nil {
				break
			}
			ctx, cancel := context.WithTimeout(g.ctx, 30*time.Second)
			_, _, err := g.healIfStale(ctx, u.vid, u.real)
			cancel()
			if err != nil {
				g.log.Debug("re-resolving a handle failed", "err", err)
				if c := status.Code(err); c == codes.Unavailable || c == codes.DeadlineExceeded {
					// The gofer went away again: another pass once it
					// is back (the calls wait for it).
					g.mu.Lock()
					g.sweepAgain = true
					g.mu.Unlock()
				}
				break
			}
		}
		g.mu.Lock()
		if g.sweepAgain && g.ctx.Err() == nil {
			g.mu.Unlock()
			if sleepCtx(g.ctx, 50*time.Millisecond) == nil {
				continue
			}
			g.mu.Lock()
		}
		healed, lost, total := g.healed, g.lost, len(g.handles)
		g.healed, g.lost, g.sweeping = 0, 0, false
		close(g.sweepDone)
		g.mu.Unlock()
		g.log.Info("gofer reconnected: handles re-resolved", "reresolved", healed, "lost", lost, "handles", total, "took", time.Since(start).Round(time.Millisecond))
		return
	}
}

// settle answers a mutation re-sent across a gofer restart that found its
// own effect (see GoferConn), or returns nil. req has real ids; so has the
// reply.
func (g *GoferConn) settle(ctx context.Context, req proto.Message, errno unix.Errno) proto.Message {
	c := g.raw()
	lookup := func(dir uint64, name string) *goferpb.WalkedFile {
		w, err := c.Walk(ctx, &goferpb.WalkRequest{Dir: dir, Names: [][]byte{[]byte(name)}})
		if err != nil {
			return nil
		}
		if w.Errno == 0 && len(w.Files) == 1 && w.Files[0].GetHandle().GetId() != 0 && w.Files[0].Stat != nil {
			return w.Files[0]
		}
		for _, f := range w.Files {
			g.releaseReal(f.GetHandle().GetId())
		}
		return nil
	}
	created := func(dir uint64, name string, ftype uint32) *goferpb.WalkedFile {
		f := lookup(dir, name)
		if f != nil && f.Stat.Mode&unix.S_IFMT != ftype {
			g.releaseReal(f.Handle.Id)
			return nil
		}
		return f
	}
	switch r := req.(type) {
	case *goferpb.CreateRequest:
		if errno != unix.EEXIST {
			return nil
		}
		f := created(r.Dir, string(r.Name), unix.S_IFREG)
		if f == nil {
			return nil
		}
		o, err := c.Open(ctx, &goferpb.OpenRequest{Handle: f.Handle.Id, Flags: r.Flags &^ (unix.O_TRUNC | unix.O_CREAT | unix.O_EXCL)})
		if err != nil || o.Errno != 0 {
			g.releaseReal(f.Handle.Id)
			return nil
		}
		return &goferpb.CreateReply{Handle: f.Handle, Stat: f.Stat}
	case *goferpb.MkdirRequest:
		if f := created(r.Dir, string(r.Name), unix.S_IFDIR); errno == unix.EEXIST && f != nil {
			return &goferpb.MkdirReply{Handle: f.Handle, Stat: f.Stat}
		}
	case *goferpb.SymlinkRequest:
		if f := created(r.Dir, string(r.Name), unix.S_IFLNK); errno == unix.EEXIST && f != nil {
			return &goferpb.SymlinkReply{Handle: f.Handle, Stat: f.Stat}
		}
	case *goferpb.MknodRequest:
		ftype := r.Mode & unix.S_IFMT
		if ftype == 0 {
			ftype = unix.S_IFREG
		}
		if f := created(r.Dir, string(r.Name), ftype); errno == unix.EEXIST && f != nil {
			return &goferpb.MknodReply{Handle: f.Handle, Stat: f.Stat}
		}
	case *goferpb.LinkRequest:
		if errno != unix.EEXIST {
			return nil
		}
		f := lookup(r.Dir, string(r.Name))
		if f == nil {
			return nil
		}
		g.releaseReal(f.Handle.Id)
		st, err := c.Stat(ctx, &goferpb.StatRequest{Handle: r.Target})
		if err != nil || st.Errno != 0 || st.Stat == nil || st.Stat.Ino != f.Stat.Ino || st.Stat.Dev != f.Stat.Dev {
			return nil
		}
		return &goferpb.LinkReply{Stat: st.Stat}
	case *goferpb.UnlinkRequest:
		if errno == unix.ENOENT {
			return &goferpb.UnlinkReply{}
		}
	case *goferpb.RenameRequest:
		if errno != unix.ENOENT {
			return nil
		}
		if f := lookup(r.NewDir, string(r.NewName)); f != nil {
			g.releaseReal(f.Handle.Id)
			return &goferpb.RenameReply{}
		}
	case *goferpb.SetXattrRequest, *goferpb.RemoveXattrRequest:
		return settleXattr(ctx, c, req, errno)
	}
	return nil
}

// settleXattr is settle's for an attribute change: an XATTR_CREATE that
// found the attribute with the value it sets, or a removal that found
// none, was run by the gofer that died (the reply cache that would have
// answered went with it), unless another party made the same change in
// between, which no order of the two could tell apart.
func settleXattr(ctx context.Context, c goferpb.GoferClient, req proto.Message, errno unix.Errno) proto.Message {
	stat := func(h uint64) *goferpb.Stat {
		st, err := c.Stat(ctx, &goferpb.StatRequest{Handle: h})
		if err != nil || st.GetErrno() != 0 {
			return nil
		}
		return st.GetStat()
	}
	switch r := req.(type) {
	case *goferpb.SetXattrRequest:
		if errno != unix.EEXIST || r.GetFlags()&unix.XATTR_CREATE == 0 {
			return nil
		}
		// One byte more than the value: a longer one is ERANGE, and an
		// empty one is read, not only sized.
		v, err := c.GetXattr(ctx, &goferpb.GetXattrRequest{Handle: r.GetHandle(), Name: r.GetName(), Size: uint32(len(r.GetValue()) + 1)})
		if err != nil || v.GetErrno() != 0 || int(v.GetSize()) != len(r.GetValue()) || !bytes.Equal(v.GetValue(), r.GetValue()) {
			return nil
		}
		return &goferpb.SetXattrReply{Stat: stat(r.GetHandle())}
	case *goferpb.RemoveXattrRequest:
		if errno != unix.ENODATA {
			return nil
		}
		return &goferpb.RemoveXattrReply{Stat: stat(r.GetHandle())}
	}
	return nil
}

// settleUnlinks takes as done each unlink of an UnlinkMany re-sent across
// a gofer restart that found its name gone (as settle does for one
// Unlink): the gofer that ran it is gone with its reply cache. Only
// unlinks with an Origin are re-sent so (package kernel's unlink runs).
// A reply of errnos becomes one of unlinks first: a settled unlink's
// changed inode is not known (it may not be found's).
func (g *GoferConn) settleUnlinks(req, rep proto.Message) {
	r, ok := rep.(*goferpb.UnlinkManyReply)
	if !ok {
		return
	}
	if len(r.GetErrnos()) > 0 {
		found := req.(*goferpb.UnlinkManyRequest).GetFound()
		r.Unlinks = make([]*goferpb.UnlinkReply, len(r.Errnos))
		for i, e := range r.Errnos {
			r.Unlinks[i] = &goferpb.UnlinkReply{Errno: e}
			if e == 0 && i < len(found) {
				r.Unlinks[i].Changed = []*goferpb.InodeID{found[i]}
			}
		}
		r.Errnos = nil
	}
	for _, u := range r.GetUnlinks() {
		if u.GetErrno() == int32(unix.ENOENT) {
			u.Errno, u.Changed = 0, nil
			g.log.Info("mutation re-sent across a gofer restart found its own effect; taken as done", "method", goferpb.Gofer_UnlinkMany_FullMethodName, "errno", unix.ENOENT)
		}
	}
}

// hasOrigin says whether req carries an Origin with a non-zero seq (one
// the gofer's reply cache keys on).
func hasOrigin(req proto.Message) bool {
	m := req.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("origin")
	if fd == nil || fd.Message() == nil || !m.Has(fd) {
		return false
	}
	o, ok := m.Get(fd).Message().Interface().(*goferpb.Origin)
	return ok && o.GetSeq() != 0
}

// restartedSince says whether a handle of the first interrupted attempt
// has been re-resolved since: the gofer that may have executed it is
// gone (with its reply cache).
func restartedSince(first, last []use) bool {
	was := make(map[uint64]uint64, len(first))
	for _, u := range first {
		was[u.vid] = u.real
	}
	for _, u := range last {
		if r, ok := was[u.vid]; ok && r != u.real {
			return true
		}
	}
	return false
}

// errnoOfReply returns a reply's errno field.
func errnoOfReply(rep proto.Message) unix.Errno {
	m := rep.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("errno")
	if fd == nil || fd.Kind() != protoreflect.Int32Kind {
		return 0
	}
	return unix.Errno(m.Get(fd).Int())
}

// setErrno sets a reply's errno field.
func setErrno(rep proto.Message, e unix.Errno) {
	m := rep.ProtoReflect()
	if fd := m.Descriptor().Fields().ByName("errno"); fd != nil && fd.Kind() == protoreflect.Int32Kind {
		m.Set(fd, protoreflect.ValueOfInt32(int32(e)))
	}
}

func errnoOr(e int32, def unix.Errno) unix.Errno {
	if e != 0 {
		return unix.Errno(e)
	}
	return def
}

// transientErrno says whether a failed re-resolution may succeed later.
func transientErrno(e unix.Errno) bool {
	switch e {
	case unix.EMFILE, unix.ENFILE, unix.ENOMEM, unix.EAGAIN, unix.EINTR, unix.EIO:
		return true
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ grpc.ClientConnInterface = (*GoferConn)(nil)

// String is for logs.
func (g *GoferConn) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return fmt.Sprintf("GoferConn(%d handles)", len(g.handles))
}

// Client returns the server's client of g: goferpb.NewGoferClient(g)
// with its Write sent straight to Invoke. The generated Write builds a
// new options slice for every call (grpc.StaticMethod, a metrics label,
// in front of the caller's: two allocations), which a loop of writes
// served through a donated fd pays for nothing; a Write that goes to the
// gofer goes without the label.
func (g *GoferConn) Client() goferpb.GoferClient {
	return connClient{GoferClient: goferpb.NewGoferClient(g), g: g}
}

// connClient is GoferConn.Client's. Immutable.
type connClient struct {
	goferpb.GoferClient
	g *GoferConn
}

func (c connClient) Write(ctx context.Context, req *goferpb.WriteRequest, opts ...grpc.CallOption) (*goferpb.WriteReply, error) {
	out := new(goferpb.WriteReply)
	if err := c.g.Invoke(ctx, goferpb.Gofer_Write_FullMethodName, req, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}
