package goferclient

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Posted SetStats ride the next gofer call (GoferCall.before,
// goferpb.FeatureBefore). tar restores each member's owner, mode and
// times with posted calls the server merges into one SetStat
// (package attrrun), whose result the application does not wait for:
// instead of a round trip of its own, the SetStat is queued here and
// carried by the next call this GoferConn sends, which the gofer runs
// after it; postDelay after it was queued, if no call came, it is sent
// alone.
//
// Order. A queued SetStat is made before every call that begins after
// it was queued: such a call either carries it, or waits until the call
// carrying it got its result (at most one carrier is in flight), or,
// served by a donated fd (a Write), has it sent alone first. So a
// later Stat, open or walk of the file sees the change, as if the
// SetStat had been waited for. Two kinds of call see no file a SetStat
// may change but their own, and skip that order when none of the posted
// SetStats changes theirs: a creation (exclusive: the new file and its
// directory), which then neither waits for a carrier in flight nor
// carries, and a write through a donated fd, which sends nothing first
// (independentLocked, writeIndependent). A server's clients share its
// GoferConn: without this, each client's creations and writes waited
// for the SetStats of the others.
//
// Recovery. A carrier that fails (the stream broke: codes.Unavailable),
// that went on a stream without FeatureBefore (a gofer restarted as an
// older one), or whose SetStat got EBADF or ESTALE (a handle a
// restarted gofer no longer knows), has its SetStats sent alone, in
// order, before any other call begins: GoferConn's Invoke then
// re-resolves their handles and re-sends them, and their Origins make a
// re-sent one an answer from the gofer's reply cache (they set no size
// and no UTIME_NOW, so applying one again leaves the file as once).

// postDelay is how long a queued SetStat waits for a call to carry it
// before it is sent alone, unless WithPostDelay says otherwise. A
// variable for this package's tests.
var postDelay = time.Millisecond

// PostSetStat is a CallOption of a SetStat: the caller does not wait for
// its result, which goes to Done (on a goroutine of its own) once the
// gofer applied it. GoferConn sets Queued when it queued the SetStat to
// ride the next call (Invoke then returns at once, its reply empty);
// otherwise the call was made as without the option (an older gofer, a
// SetStat that may not wait: a size, UTIME_NOW) and Done is not called.
// A queued SetStat's request is kept as is, not copied: its caller
// changes it no more.
type PostSetStat struct {
	grpc.EmptyCallOption
	Done   func(*goferpb.SetStatReply, error)
	Queued bool
}

// KickPostedSetStats is a CallOption by which a call does nothing but
// have the queued SetStats sent now, alone (on the timer's goroutine):
// a caller waits for their results.
type KickPostedSetStats struct{ grpc.EmptyCallOption }

// kickPosted fires the timer now if SetStats are queued.
func (g *GoferConn) kickPosted() {
	if g.postsOut.Load() == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.posted) > 0 {
		g.postTimer.Reset(0)
	}
}

// postedSetStat is a queued SetStat: req with virtual handle ids.
type postedSetStat struct {
	ctx  context.Context
	req  *goferpb.SetStatRequest
	done func(*goferpb.SetStatReply, error)
}

// beforeSlot is the CallOption by which GoferConn hands a call's
// SetStats to apply first (real handle ids) to goferCalls, which sets
// sent if the call carried them and replies from the gofer's result.
type beforeSlot struct {
	grpc.EmptyCallOption
	reqs    []*goferpb.SetStatRequest
	replies []*goferpb.SetStatReply
	sent    bool
}

// sendingAlone marks GoferConn's own sending of a posted SetStat alone:
// it neither waits for the carrier nor takes the queue.
type sendingAlone struct{ grpc.EmptyCallOption }

func optOf[T grpc.CallOption](opts []grpc.CallOption) (T, bool) {
	for _, o := range opts {
		if t, ok := o.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}

// postable says req may be posted: it, and each of its parts, changes
// only the owner, the mode and explicit times, unconditionally (so that
// one applied again leaves the file as once).
func postable(req *goferpb.SetStatRequest) bool {
	const fields = unix.STATX_UID | unix.STATX_GID | unix.STATX_MODE | unix.STATX_ATIME | unix.STATX_MTIME
	for _, p := range req.GetParts() {
		if len(p.GetParts()) > 0 || !postable(p) {
			return false
		}
	}
	return req.GetMask()&^uint32(fields) == 0 && !req.GetAtimeNow() && !req.GetMtimeNow() && !req.GetCheckVersion()
}

// canCarry says the current stream was granted FeatureBefore.
func (g *goferCalls) canCarry() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur != nil && g.cur.features&goferpb.FeatureBefore != 0
}

// post queues req if it may ride the next call, and reports whether it
// did.
func (g *GoferConn) post(ctx context.Context, req *goferpb.SetStatRequest, p *PostSetStat) bool {
	if p.Done == nil || !postable(req) || g.calls == nil || !g.calls.canCarry() {
		return false
	}
	g.beforeChange(req)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.posted = append(g.posted, postedSetStat{ctx: ctx, req: req, done: p.Done})
	g.postsOut.Add(1)
	if g.postTimer == nil {
		g.postTimer = time.AfterFunc(g.postDelay, g.sendPostedAlone)
	} else if len(g.posted) == 1 {
		g.postTimer.Reset(g.postDelay)
	}
	p.Queued = true
	return true
}

// awaitCarrierLocked waits while a call carrying posted SetStats is in
// flight. Precondition: g.mu is held (released while waiting).
func (g *GoferConn) awaitCarrierLocked(ctx context.Context) error {
	for g.carrier != nil {
		c := g.carrier
		g.mu.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			g.mu.Lock()
			return status.FromContextError(ctx.Err()).Err()
		}
		g.mu.Lock()
	}
	return nil
}

// beginCarry is call req's start while SetStats may be posted: it waits
// for the carrier in flight, then takes the queued SetStats (if take),
// making the caller the carrier, which must end with endCarry. A call
// independent of every posted SetStat (independentLocked) does neither
// while a carrier is in flight; with none, it takes the queue as any
// call does (a tar's creation carries the SetStats of the file before).
func (g *GoferConn) beginCarry(ctx context.Context, req proto.Message, take bool) ([]postedSetStat, error) {
	if g.postsOut.Load() == 0 {
		return nil, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.carrier != nil && g.independentLocked(req) {
		return nil, nil
	}
	if err := g.awaitCarrierLocked(ctx); err != nil {
		return nil, err
	}
	if !take || len(g.posted) == 0 {
		return nil, nil
	}
	taken := g.posted
	g.posted = nil
	g.carrier = make(chan struct{})
	g.carrying = taken
	// Nothing left for the timer (a wake-up saved per post).
	g.postTimer.Stop()
	return taken, nil
}

// endCarry ends the caller's carry: the calls waiting for it go.
func (g *GoferConn) endCarry(taken []postedSetStat) {
	if len(taken) == 0 {
		return
	}
	g.mu.Lock()
	close(g.carrier)
	g.carrier = nil
	g.carrying = nil
	g.mu.Unlock()
	g.postsOut.Add(-int32(len(taken)))
}

// independentLocked says call req may begin before the posted SetStats,
// queued or carried, are made, and need not carry them: it is a
// creation (Create, Mkdir, Symlink, Mknod: exclusive, so it sees no
// file but the one it makes and its directory, in its reply's dir_stat)
// in a directory none of them changes, their inodes and the directory's
// all known. The SetStats are of tar's, cp's and other clients' files:
// waiting for them made one client's creations wait for another's
// carrier in flight, and every creation of four clients extracting at
// once ran one at a time at the gofer (TestCreationNotBehindOthersSetStats).
// Precondition: g.mu.
func (g *GoferConn) independentLocked(req proto.Message) bool {
	var dir uint64
	switch r := req.(type) {
	case *goferpb.CreateRequest:
		dir = r.GetDir()
	case *goferpb.MkdirRequest:
		dir = r.GetDir()
	case *goferpb.SymlinkRequest:
		dir = r.GetDir()
	case *goferpb.MknodRequest:
		dir = r.GetDir()
	default:
		return false
	}
	d, ok := g.inodeLocked(dir)
	return ok && g.notChangedLocked(d)
}

// writeIndependent says write w need not have the posted SetStats sent
// first: none of them, queued or carried, changes its file, and every
// inode is known. A write to a file the SetStats change must come after
// them (one giving set-id bits takes the write fds away, beforeChange);
// one to another file sees nothing of them. Four clients extracting at
// once each sent the others' SetStats alone before every write.
func (g *GoferConn) writeIndependent(w *goferpb.WriteRequest) bool {
	if g.postsOut.Load() == 0 {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	k, ok := g.inodeLocked(w.GetHandle())
	return ok && g.notChangedLocked(k)
}

// notChangedLocked says no posted SetStat, queued or carried, changes
// inode k, and every one's inode is known. Precondition: g.mu.
func (g *GoferConn) notChangedLocked(k fileKey) bool {
	for _, ps := range [2][]postedSetStat{g.posted, g.carrying} {
		for _, p := range ps {
			if !g.changesNotLocked(p.req, k) {
				return false
			}
		}
	}
	return true
}

// changesNotLocked says SetStat req (and each of its parts) is of a
// known inode other than k. Precondition: g.mu.
func (g *GoferConn) changesNotLocked(req *goferpb.SetStatRequest, k fileKey) bool {
	if s, ok := g.inodeLocked(req.GetHandle()); !ok || s == k {
		return false
	}
	for _, p := range req.GetParts() {
		if !g.changesNotLocked(p, k) {
			return false
		}
	}
	return true
}

// fileKey is an inode: its device and number.
type fileKey struct{ dev, ino uint64 }

// inodeLocked returns the inode virtual handle id names, if known.
// Precondition: g.mu.
func (g *GoferConn) inodeLocked(id uint64) (fileKey, bool) {
	if h := g.handles[id]; h != nil {
		return h.inode()
	}
	return fileKey{}, false
}

// carried returns the CallOption carrying taken, their handles mapped
// to real ids, or nil if there are none.
func (g *GoferConn) carried(taken []postedSetStat) *beforeSlot {
	if len(taken) == 0 {
		return nil
	}
	s := &beforeSlot{reqs: make([]*goferpb.SetStatRequest, len(taken))}
	for i, p := range taken {
		s.reqs[i] = g.mapSetStat(p.req)
	}
	return s
}

// mapSetStat returns a copy of req, and of its parts, with real handle
// ids (an unknown or lost virtual id is sent as 0: EBADF, and re-sent
// alone, which re-resolves it).
func (g *GoferConn) mapSetStat(req *goferpb.SetStatRequest) *goferpb.SetStatRequest {
	// One copy, its parts included, mapped in place (a copy of each
	// part again was half of a tar member's clones).
	r := proto.Clone(req).(*goferpb.SetStatRequest)
	if !setStatHandleOnly {
		fds := requestHandleFields[r.ProtoReflect().Descriptor().FullName()]
		g.mapHandles(r.ProtoReflect(), fds, nil)
		for _, p := range r.Parts {
			g.mapHandles(p.ProtoReflect(), fds, nil)
		}
		return r
	}
	// By the field itself: protoreflect's Set of a uint64 allocates.
	g.mu.Lock()
	defer g.mu.Unlock()
	r.Handle = g.realLocked(r.Handle)
	for _, p := range r.Parts {
		p.Handle = g.realLocked(p.Handle)
	}
	return r
}

// setStatHandleOnly says a SetStatRequest's one handle field is handle
// (mapSetStat maps it by name).
var setStatHandleOnly = func() bool {
	fds := requestHandleFields[(*goferpb.SetStatRequest)(nil).ProtoReflect().Descriptor().FullName()]
	return len(fds) == 1 && fds[0].Name() == "handle"
}()

// realLocked returns the real id of virtual handle vid, 0 if it has none
// (an unknown id: EBADF). Precondition: g.mu.
func (g *GoferConn) realLocked(vid uint64) uint64 {
	if e := g.handles[vid]; vid != 0 && e != nil {
		return e.real
	}
	return 0
}

// settlePosted gives the carried SetStats their results: the replies the
// carrier brought, and for the others (not carried, failed with the
// stream, or with a handle to re-resolve: the gofer then ran neither
// them nor the call) those of sending them alone, in order.
// Precondition: the caller is the carrier.
func (g *GoferConn) settlePosted(taken []postedSetStat, s *beforeSlot) {
	i := 0
	if s != nil && s.sent {
		for ; i < len(taken) && i < len(s.replies); i++ {
			r := s.replies[i]
			if e := unix.Errno(r.GetErrno()); e == unix.EBADF || e == unix.ESTALE {
				break
			}
			go taken[i].done(r, nil)
		}
	}
	for _, p := range taken[i:] {
		r, err := g.setStatAlone(p.ctx, p.req)
		go p.done(r, err)
	}
}

// setStatAlone sends req alone, and, if it fails with an errno, its
// parts (SetStatRequest.parts), in order, as the gofer does with a
// carried one.
func (g *GoferConn) setStatAlone(ctx context.Context, req *goferpb.SetStatRequest) (*goferpb.SetStatReply, error) {
	parts := req.GetParts()
	if len(parts) > 0 {
		req = proto.Clone(req).(*goferpb.SetStatRequest)
		req.Parts = nil
	}
	r := new(goferpb.SetStatReply)
	if err := g.Invoke(ctx, goferpb.Gofer_SetStat_FullMethodName, req, r, sendingAlone{}); err != nil {
		return nil, err
	}
	if r.GetErrno() == 0 {
		return r, nil
	}
	for _, p := range parts {
		pr := new(goferpb.SetStatReply)
		if err := g.Invoke(ctx, goferpb.Gofer_SetStat_FullMethodName, p, pr, sendingAlone{}); err != nil {
			return nil, err
		}
		r.Parts = append(r.Parts, pr)
	}
	return r, nil
}

// sendCarriedAlone sends alone the SetStats a call took to carry, if
// any, and ends its carry: the call ended before it was sent.
func (g *GoferConn) sendCarriedAlone(taken []postedSetStat) {
	if len(taken) > 0 {
		g.settlePosted(taken, nil)
		g.endCarry(taken)
	}
}

// sendPostedAlone sends the queued SetStats alone: no call came to carry
// them within postDelay (the timer), or a call served by a donated fd
// must not overtake them.
func (g *GoferConn) sendPostedAlone() {
	taken, err := g.beginCarry(g.ctx, nil, true)
	if err != nil || len(taken) == 0 {
		return
	}
	defer g.endCarry(taken)
	g.settlePosted(taken, nil)
}

// Posted says how many posted SetStats are queued or in flight (tests).
func (g *GoferConn) Posted() int { return int(g.postsOut.Load()) }

// CarriedSetStats returns the posted SetStats a call carries (to apply
// before it; real handle ids), for a connection wrapping GoferConn's
// calls (WithWrap) that counts them or makes them fail; nil if none.
func CarriedSetStats(opts []grpc.CallOption) []*goferpb.SetStatRequest {
	if s, ok := optOf[*beforeSlot](opts); ok {
		return s.reqs
	}
	return nil
}
