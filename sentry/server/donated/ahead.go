package donated

import (
	"math"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// Writes ahead (sentry/server/vfs/writeahead.go): a posted write to a
// regular file whose thread has more posted writes queued, each starting
// where the one before ends, writes their bytes too, in one pwritev; the
// later calls then find their bytes in the file (Prewritten) and make no
// host call but the statx of the last. A 4 KiB append costs the host's
// file system as much as a 64 KiB one (the inode's lock, its size and
// times, the journal): a batch of 64 such writes made 64 pwrites and 64
// statx, now one of each.

// HostWrites and HostStats count the pwrite/pwritev and statx calls
// donated fds made for Writes (tests of writes ahead read them).
var HostWrites, HostStats atomic.Uint64

// Ahead is a grpc.CallOption of a Write: Data are written right after
// the request's bytes, in the same pwritev, if a donated fd serves it.
// Written is set to how many of Data's bytes the file took (0 when the
// gofer served the Write, or the request's own were not all written).
type Ahead struct {
	grpc.EmptyCallOption
	Data    [][]byte
	Written int
}

// Prewritten is a grpc.CallOption of a Write whose bytes an earlier
// Write's Ahead wrote where this one writes them: a donated fd answers it
// without writing. Stat says whether its reply carries the file's statx
// (the last of the bytes written ahead); the others carry none, and the
// attribute cache fetches them when asked.
type Prewritten struct {
	grpc.EmptyCallOption
	Stat bool
}

// WriteOpts are a Write's options that change how a donated fd serves it.
type WriteOpts struct {
	Ahead      *Ahead
	Prewritten *Prewritten
}

// WriteOptsOf returns the Ahead and Prewritten among opts.
func WriteOptsOf(opts []grpc.CallOption) WriteOpts {
	var w WriteOpts
	for _, o := range opts {
		switch o := o.(type) {
		case *Ahead:
			w.Ahead = o
		case *Prewritten:
			w.Prewritten = o
		}
	}
	return w
}

// maxAheadIovecs bounds a pwritev's vector (the host's IOV_MAX is 1024).
const maxAheadIovecs = 1024

// WriteWith serves a Write as Write does, with o's Ahead bytes written in
// the same pwritev, or none written for a Prewritten one.
func (h *FD) WriteWith(req *goferpb.WriteRequest, rep *goferpb.WriteReply, o WriteOpts) {
	switch {
	case o.Prewritten != nil:
		proto.Reset(rep)
		rep.Written = uint32(min(len(req.GetData()), math.MaxUint32))
		if o.Prewritten.Stat {
			h.statInto(rep)
		}
	case o.Ahead != nil && len(o.Ahead.Data) > 0:
		h.writeAhead(req, rep, o.Ahead)
	default:
		h.Write(req, rep)
	}
}

// writeAhead writes req's bytes and ahead's after them with one pwritev;
// what of req's the file did not take is written as Write would, and
// ahead.Written counts what it took of ahead's.
func (h *FD) writeAhead(req *goferpb.WriteRequest, rep *goferpb.WriteReply, ahead *Ahead) {
	data, off := req.GetData(), req.GetOffset()
	total := uint64(len(data))
	iovs := make([][]byte, 0, min(1+len(ahead.Data), maxAheadIovecs))
	iovs = append(iovs, data)
	for _, d := range ahead.Data {
		if len(iovs) == cap(iovs) {
			break
		}
		iovs = append(iovs, d)
		total += uint64(len(d))
	}
	if len(data) == 0 || off > math.MaxInt64 || total > math.MaxInt64-off || total > math.MaxUint32 {
		h.Write(req, rep)
		return
	}
	var n int
	var err error
	for {
		HostWrites.Add(1)
		n, err = unix.Pwritev(h.fd, iovs, int64(off))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil || n < len(data) {
		// The request's own bytes as Write writes them, the rest
		// only when their calls come.
		h.writeFrom(req, rep, max(n, 0))
		return
	}
	proto.Reset(rep)
	rep.Written = uint32(len(data))
	ahead.Written = n - len(data)
	// With bytes ahead written, the last call they cover stats the file
	// (Prewritten.Stat): this one's would be stale at once. (Its stat
	// clears no set-id bits: a writable set-id file has no donated fd.)
	if ahead.Written == 0 {
		h.statInto(rep)
	}
}
