package goferclient

import (
	"context"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
)

// A fallocate that moves bytes (FALLOC_FL_COLLAPSE_RANGE,
// FALLOC_FL_INSERT_RANGE) is the one gofer call that writes at a place
// but is not idempotent: run again, it removes or shifts another range.
// Its Origin makes a re-sent call safe on the gofer that saw it (the
// reply cache), not on a restarted gofer. So GoferConn sends it with the
// file's size before it (check_size): the gofer runs it only on a file
// of that size. When the reply of an attempt was lost (the gofer died)
// and the re-sent call finds the size the call leaves, the dead gofer ran
// it: that is its success. A size that differs otherwise (another party
// changed the file between the size's Stat and the call) is read again
// and the call sent again, at most maxSizeRounds times, then sent with
// no condition (the concurrent change makes any order a valid one).

// maxSizeRounds bounds how often a moving fallocate is sent again
// because the file's size changed under it.
const maxSizeRounds = 8

// movesBytes says whether a fallocate of mode removes or inserts a range
// (running it twice is not running it once).
func movesBytes(mode uint32) bool {
	return mode&(unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_INSERT_RANGE) != 0
}

// sizeAfter is the size a moving fallocate leaves a file of size before
// (it succeeds only within the file for a collapse).
func sizeAfter(r *goferpb.FallocateRequest) uint64 {
	if r.GetMode()&unix.FALLOC_FL_COLLAPSE_RANGE != 0 {
		return r.GetSizeBefore() - r.GetLength()
	}
	return r.GetSizeBefore() + r.GetLength()
}

// fallocateChecked sends req, a moving fallocate, with the file's size
// before it (see above). req's handle is virtual.
func (g *GoferConn) fallocateChecked(ctx context.Context, method string, req *goferpb.FallocateRequest, rep proto.Message, opts []grpc.CallOption) error {
	frep, ok := rep.(*goferpb.FallocateReply)
	if !ok {
		return g.cc.Invoke(ctx, method, req, rep, opts...)
	}
	creq := proto.Clone(req).(*goferpb.FallocateRequest)
	for round := 0; ; round++ {
		if round == maxSizeRounds {
			g.log.Debug("moving fallocate: the file's size kept changing; sent unconditionally", "rounds", round)
			creq.CheckSize, creq.SizeBefore = false, 0
			return g.Invoke(ctx, method, creq, rep, append(opts[:len(opts):len(opts)], unconditional{})...)
		}
		// The size, from the donated fd's statx if the handle has one.
		var st goferpb.StatReply
		if err := g.Invoke(ctx, goferpb.Gofer_Stat_FullMethodName, &goferpb.StatRequest{Handle: req.GetHandle()}, &st, donated.SizeOnly{}); err != nil {
			return err
		}
		if st.GetErrno() != 0 || st.GetStat() == nil {
			proto.Reset(frep)
			frep.Errno = int32(errnoOr(st.GetErrno(), unix.EIO))
			return nil
		}
		creq.CheckSize, creq.SizeBefore = true, st.GetStat().GetSize()
		if err := g.Invoke(ctx, method, creq, rep, opts...); err != nil || !frep.GetSizeDiffers() {
			return err
		}
	}
}

// settleFallocate takes a size_differs reply to a moving fallocate re-sent
// after an attempt whose reply was lost as the first execution's success
// if the file has the size the call leaves. req's handle may be virtual.
func (g *GoferConn) settleFallocate(req, rep proto.Message) {
	r, ok := req.(*goferpb.FallocateRequest)
	frep, ok2 := rep.(*goferpb.FallocateReply)
	if !ok || !ok2 || !r.GetCheckSize() || !frep.GetSizeDiffers() || frep.GetStat() == nil {
		return
	}
	if frep.GetStat().GetSize() == sizeAfter(r) {
		frep.SizeDiffers = false
		g.log.Info("moving fallocate re-sent across a gofer restart found its own effect; taken as done", "mode", r.GetMode(), "size_before", r.GetSizeBefore(), "size", frep.GetStat().GetSize())
	}
}
