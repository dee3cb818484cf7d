package attrrun

import (
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// mergeable are the SetStat fields a merged request may set: the owner,
// the mode and explicit times. A size change is a durability barrier of
// its own and clears set-id bits after it; UTIME_NOW is not the same time
// when a re-sent call applies it again.
const mergeable = unix.STATX_UID | unix.STATX_GID | unix.STATX_MODE | unix.STATX_ATIME | unix.STATX_MTIME

// Merge returns one request doing what a, then b, do to the same file,
// or false when one request cannot say it. The gofer applies a SetStat's
// owner before its mode and its mode before its times, so b may not
// change the owner after a changed the mode (a chown after a chmod
// clears set-id bits of the new mode, which its request computed from
// the file as the chmod left it). A field both set takes b's value.
// Neither a nor b is changed; the result has no Origin.
func Merge(a, b *goferpb.SetStatRequest) (*goferpb.SetStatRequest, bool) {
	if a == nil || b == nil || a.GetHandle() != b.GetHandle() || a.GetHandle() == 0 {
		return nil, false
	}
	for _, r := range []*goferpb.SetStatRequest{a, b} {
		if r.GetMask()&^uint32(mergeable) != 0 || r.GetAtimeNow() || r.GetMtimeNow() {
			return nil, false
		}
	}
	if b.GetMask()&(unix.STATX_UID|unix.STATX_GID) != 0 && a.GetMask()&unix.STATX_MODE != 0 {
		return nil, false
	}
	m := &goferpb.SetStatRequest{
		Handle: a.Handle, Mask: a.Mask | b.Mask,
		Mode: a.Mode, Uid: a.Uid, Gid: a.Gid, AtimeNs: a.AtimeNs, MtimeNs: a.MtimeNs,
	}
	if b.Mask&unix.STATX_MODE != 0 {
		m.Mode = b.Mode
	}
	if b.Mask&unix.STATX_UID != 0 {
		m.Uid = b.Uid
	}
	if b.Mask&unix.STATX_GID != 0 {
		m.Gid = b.Gid
	}
	if b.Mask&unix.STATX_ATIME != 0 {
		m.AtimeNs = b.AtimeNs
	}
	if b.Mask&unix.STATX_MTIME != 0 {
		m.MtimeNs = b.MtimeNs
	}
	return m, true
}

// Pending is the held changes of one file: Merged does what Parts do one
// after the other. The zero value holds nothing.
type Pending struct {
	// Merged is the request to send (nil when nothing is held), without
	// an Origin (Take gives it one).
	Merged *goferpb.SetStatRequest
	// Parts are the calls' requests, in order, each with its Origin.
	Parts []*goferpb.SetStatRequest
}

// Empty says nothing is held.
func (p *Pending) Empty() bool { return len(p.Parts) == 0 }

// Add holds req after the held changes, if Merge allows it (or nothing
// is held and req alone is mergeable), and reports whether it did; the
// caller sends what is held and calls Add again otherwise. req is kept,
// not copied.
func (p *Pending) Add(req *goferpb.SetStatRequest) bool {
	if p.Empty() {
		m, ok := Merge(req, &goferpb.SetStatRequest{Handle: req.GetHandle()})
		if !ok {
			return false
		}
		p.Merged, p.Parts = m, []*goferpb.SetStatRequest{req}
		return true
	}
	m, ok := Merge(p.Merged, req)
	if !ok {
		return false
	}
	p.Merged, p.Parts = m, append(p.Parts, req)
	return true
}

// SetsTimes says the held changes set the file's modification time: a
// restore of a file's attributes (tar, cpio) sets the times last, after
// the owner and the mode, so nothing more is likely to join.
func (p *Pending) SetsTimes() bool {
	return p.Merged != nil && p.Merged.Mask&unix.STATX_MTIME != 0
}

// MergedPart is the Origin part of a merged request: the last part's
// call's seq with a part number of its own, so that the gofer's reply
// cache tells the merged request from that call's request sent alone
// (after a failed merge, or by a successor server that does not merge
// the re-sent calls: their own requests are then applied again, in
// order, which leaves the file as the merged one did).
const MergedPart = 1 << 29

// Take returns the merged request, its Origin the last part's with
// MergedPart, and the parts, and empties p.
func (p *Pending) Take() (merged *goferpb.SetStatRequest, parts []*goferpb.SetStatRequest) {
	merged, parts = p.Merged, p.Parts
	p.Merged, p.Parts = nil, nil
	if merged == nil {
		return nil, nil
	}
	merged = proto.Clone(merged).(*goferpb.SetStatRequest)
	if o := parts[len(parts)-1].GetOrigin(); o != nil {
		merged.Origin = proto.Clone(o).(*goferpb.Origin)
		merged.Origin.Part = MergedPart
	}
	return merged, parts
}
