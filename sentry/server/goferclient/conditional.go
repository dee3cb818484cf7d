package goferclient

import (
	"context"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
)

// Conditional truncations and exchanges. A truncation (SetStat with
// STATX_SIZE, Open with O_TRUNC) or a RENAME_EXCHANGE run twice is not
// run once: a truncation re-sent to a restarted gofer (no reply cache)
// after another party wrote the file cuts that acknowledged write; an
// exchange swaps the names back. So GoferConn sends them with the state
// they expect to find, read just before (the file's size, ctime and mtime
// from a Stat, served by a donated fd's statx when the handle has one;
// the inodes the two names hold, from two Walks), and the gofer runs them
// only on that state (gofer/conditional.go). A call re-sent after an
// attempt whose reply was lost that finds another state (an exchange:
// the names holding each other's inodes) was run by the dead gofer: that
// is its success. Found on a first attempt, another state is another
// party's change since the read: it is read again and the call sent
// again, at most maxSizeRounds times, then sent unconditionally.

// unconditional marks a call GoferConn sends as it is (a conditional
// one, or the last round's).
type unconditional struct{ grpc.EmptyCallOption }

// truncates says whether req truncates a file.
func truncates(req proto.Message) bool {
	switch r := req.(type) {
	case *goferpb.SetStatRequest:
		return r.GetMask()&unix.STATX_SIZE != 0
	case *goferpb.OpenRequest:
		return r.GetFlags()&unix.O_TRUNC != 0
	case *goferpb.WalkRequest:
		return r.GetOpen() && r.GetOpenFlags()&unix.O_TRUNC != 0
	}
	return false
}

// exchanges says whether req is a RENAME_EXCHANGE.
func exchanges(req proto.Message) bool {
	r, ok := req.(*goferpb.RenameRequest)
	return ok && r.GetFlags()&unix.RENAME_EXCHANGE != 0
}

// differs says whether rep is a conditional call's that did nothing.
func differs(rep proto.Message) bool {
	switch r := rep.(type) {
	case *goferpb.SetStatReply:
		return r.GetDiffers()
	case *goferpb.OpenReply:
		return r.GetDiffers()
	case *goferpb.RenameReply:
		return r.GetDiffers() || r.GetExchangedBefore()
	case *goferpb.WalkReply:
		return r.GetOpenDiffers()
	}
	return false
}

// hasCondition says whether req, a truncation or an exchange, came with
// the state it expects (AttrCache's cached version).
func hasCondition(req proto.Message) bool {
	switch r := req.(type) {
	case *goferpb.SetStatRequest:
		return r.GetCheckVersion()
	case *goferpb.OpenRequest:
		return r.GetCheckVersion()
	case *goferpb.WalkRequest:
		return r.GetCheckVersion()
	case *goferpb.RenameRequest:
		return r.GetCheckInos()
	}
	return false
}

// withVersion returns a copy of req, a truncation, that runs only on a
// file of st's version.
func withVersion(req proto.Message, st *goferpb.Stat) proto.Message {
	switch r := proto.Clone(req).(type) {
	case *goferpb.SetStatRequest:
		r.CheckVersion, r.SizeBefore, r.CtimeNsBefore, r.MtimeNsBefore = true, st.GetSize(), st.GetCtimeNs(), st.GetMtimeNs()
		return r
	case *goferpb.OpenRequest:
		r.CheckVersion, r.SizeBefore, r.CtimeNsBefore, r.MtimeNsBefore = true, st.GetSize(), st.GetCtimeNs(), st.GetMtimeNs()
		return r
	case *goferpb.WalkRequest:
		r.CheckVersion, r.SizeBefore, r.CtimeNsBefore, r.MtimeNsBefore = true, st.GetSize(), st.GetCtimeNs(), st.GetMtimeNs()
		return r
	}
	return req
}

// handleOf is the handle a truncation changes.
func handleOf(req proto.Message) uint64 {
	switch r := req.(type) {
	case *goferpb.SetStatRequest:
		return r.GetHandle()
	case *goferpb.OpenRequest:
		return r.GetHandle()
	}
	return 0
}

// sendChecked sends req, a truncation or an exchange, with the state it
// expects (see above): the one req has (AttrCache's), if any, then the
// one read. req's handles are virtual.
func (g *GoferConn) sendChecked(ctx context.Context, method string, req, rep proto.Message, opts []grpc.CallOption) error {
	opts = append(opts[:len(opts):len(opts)], unconditional{})
	for round := 0; ; round++ {
		if round == maxSizeRounds {
			g.log.Debug("conditional call: the state kept changing; sent unconditionally", "method", method, "rounds", round)
			return g.Invoke(ctx, method, req, rep, opts...)
		}
		creq, ok, err := req, true, error(nil)
		if round > 0 || !hasCondition(req) {
			creq, ok, err = g.withState(ctx, req)
		}
		if err != nil {
			return err
		}
		if !ok {
			// No state to expect (the file or a name is not there): the
			// call itself says what is wrong.
			return g.Invoke(ctx, method, req, rep, opts...)
		}
		if err := g.Invoke(ctx, method, creq, rep, opts...); err != nil || !differs(rep) {
			return err
		}
		if w, ok := rep.(*goferpb.WalkReply); ok {
			// Opened without truncating: truncate the handle it returned
			// (an Open, conditional on the version the walk found).
			return g.truncateWalked(ctx, w, creq.(*goferpb.WalkRequest).GetOpenFlags())
		}
	}
}

// truncateWalked truncates the file a walk-open with flags found of
// another version than it expected and opened without truncating (w, its
// reply), with an Open of the handle it returned, and clears w's
// open_differs.
func (g *GoferConn) truncateWalked(ctx context.Context, w *goferpb.WalkReply, flags uint32) error {
	files := w.GetFiles()
	last := files[len(files)-1]
	req := withVersion(&goferpb.OpenRequest{Handle: last.GetHandle().GetId(), Flags: flags}, last.GetStat())
	var o goferpb.OpenReply
	if err := g.Invoke(ctx, goferpb.Gofer_Open_FullMethodName, req, &o); err != nil {
		return err
	}
	w.OpenDiffers, w.OpenErrno = false, o.GetErrno()
	return nil
}

// withState returns req with the state it expects, read now, or false if
// there is none to read.
func (g *GoferConn) withState(ctx context.Context, req proto.Message) (proto.Message, bool, error) {
	if r, ok := req.(*goferpb.RenameRequest); ok {
		oldSt, err := g.statOf(ctx, r.GetOldDir(), [][]byte{r.GetOldName()})
		if err != nil || oldSt == nil {
			return nil, false, err
		}
		newSt, err := g.statOf(ctx, r.GetNewDir(), [][]byte{r.GetNewName()})
		if err != nil || newSt == nil {
			return nil, false, err
		}
		c := proto.Clone(r).(*goferpb.RenameRequest)
		c.CheckInos, c.OldIno, c.NewIno = true, oldSt.GetIno(), newSt.GetIno()
		return c, true, nil
	}
	if r, ok := req.(*goferpb.WalkRequest); ok {
		st, err := g.statOf(ctx, r.GetDir(), r.GetNames())
		if err != nil || st == nil {
			return nil, false, err
		}
		return withVersion(req, st), true, nil
	}
	var st goferpb.StatReply
	if err := g.Invoke(ctx, goferpb.Gofer_Stat_FullMethodName, &goferpb.StatRequest{Handle: handleOf(req)}, &st, donated.SizeOnly{}); err != nil {
		return nil, false, err
	}
	if st.GetErrno() != 0 || st.GetStat() == nil {
		return nil, false, nil
	}
	return withVersion(req, st.GetStat()), true, nil
}

// statOf returns the attributes of the file names walk to from directory
// dir (virtual), or nil if they walk to none.
func (g *GoferConn) statOf(ctx context.Context, dir uint64, names [][]byte) (*goferpb.Stat, error) {
	var w goferpb.WalkReply
	if err := g.Invoke(ctx, goferpb.Gofer_Walk_FullMethodName, &goferpb.WalkRequest{Dir: dir, Names: names}, &w); err != nil {
		return nil, err
	}
	var ids []uint64
	for _, f := range w.GetFiles() {
		if id := f.GetHandle().GetId(); id != 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		if err := g.Invoke(ctx, goferpb.Gofer_Release_FullMethodName, &goferpb.ReleaseRequest{Handles: ids}, &goferpb.ReleaseReply{}); err != nil {
			return nil, err
		}
	}
	if w.GetErrno() != 0 || len(w.GetFiles()) != len(names) || w.GetFiles()[len(names)-1].GetStat() == nil {
		return nil, nil
	}
	return w.GetFiles()[len(names)-1].GetStat(), nil
}

// settleConditional takes the reply of a conditional call re-sent after
// an attempt whose reply was lost that found another state as the first
// execution's success (see above).
func (g *GoferConn) settleConditional(method string, req, rep proto.Message) {
	switch r := rep.(type) {
	case *goferpb.SetStatReply:
		q, _ := req.(*goferpb.SetStatRequest)
		// Only a truncation alone: the rest of a mask is not done.
		if r.GetDiffers() && q.GetMask() == unix.STATX_SIZE {
			r.Differs = false
		} else {
			return
		}
	case *goferpb.OpenReply:
		// The gofer opened the file without truncating it.
		if !r.GetDiffers() {
			return
		}
		r.Differs, r.Stat = false, nil
	case *goferpb.WalkReply:
		if !r.GetOpenDiffers() {
			return
		}
		r.OpenDiffers = false
	case *goferpb.RenameReply:
		if !r.GetExchangedBefore() {
			return
		}
		r.ExchangedBefore = false
	default:
		return
	}
	g.log.Info("conditional call re-sent across a gofer restart found the state it leaves; taken as done", "method", method)
}
