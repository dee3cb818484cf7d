package transport

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// A hand-written decoder for the server's hot message: a ClientMessage
// whose posted_calls are plain system calls (a loop of 4 KiB writes
// behind, owned or not; a tar's creating opens, with their install_fd,
// and leased copies, with their leased_data). proto.Unmarshal gives each
// such call six allocations (the
// Call, its oneof wrapper, the Syscall, its arguments, its inputs' slice
// and Region) and copies its bytes; decodeCall gives it one, and its
// bytes of at least aliasMinData stay in the frame buffer. Anything it
// does not know (another field, another wire type, a Syscall that
// appears twice and would be merged) is decoded by proto.Unmarshal, so
// the result is always proto.Unmarshal's (FuzzDecodeClientMessage).
//
// Ownership of the frame buffer. frameReader.next returns a buffer it
// reuses for the next frame; a Region that aliases it would then see the
// next frame's bytes while its call, queued or held by a plan of writes
// ahead, is still to run. So a frame whose decoding aliased it is given
// away with the message (frameReader.readClientMessage drops its
// buffer: the next frame gets a new one) and lives as long as the GC
// sees a Region in it.

// aliasMinData is the least Region.data that is left in the frame
// buffer rather than copied: a smaller one would pin a frame buffer (and
// cost the next frame a new one) to save a small copy.
const aliasMinData = 512

// clientMessagePostedCalls is ClientMessage.posted_calls's field number
// (Call.posted_calls's is postedCallsField).
const clientMessagePostedCalls = 410

// Field numbers decodeCall knows (sentry.proto): a Syscall's scalars
// (not its string or message fields but its inputs), its install_fd (the
// one optional field a posted call sends: a posted creation's), its
// leased_data, and a merged write's parts.
const (
	callSeq     = 1
	callTid     = 2
	callSyscall = 3

	syscallSysno            = 1
	syscallArgs             = 2
	syscallInputs           = 3
	syscallNoNewPrivs       = 210
	syscallPendingSignals   = 220
	syscallCallGen          = 221
	syscallPosted           = 240
	syscallLeaseWanted      = 360
	syscallPathLeaseWanted  = 422
	syscallReplyCanWait     = 501
	syscallOwnedWrite       = 553
	syscallOwnedWanted      = 555
	syscallOpenDataWanted   = 563
	syscallDirListingWanted = 564
	syscallListingAhead     = 580
	syscallPipeAheadWanted  = 600
	syscallPipeConsumed     = 601
	syscallCloseFile        = 626
	syscallProcDataWanted   = 637
	syscallWriteParts       = 473
	syscallInstallFd        = 440
	syscallLeasedData       = 480

	regionAddr = 1
	regionData = 2
)

// elementRecursionLimit is proto.Unmarshal's recursion limit for a
// posted call decoded alone: one level less than the ClientMessage that
// holds it would leave it.
const elementRecursionLimit = protowire.DefaultRecursionLimit - 1

// decodeClientMessage decodes b into cm as proto.Unmarshal(b, cm) does,
// and reports whether some Region.data of cm aliases b (b must then
// stay as it is while cm is used).
func decodeClientMessage(b []byte, cm *pb.ClientMessage) (aliased bool, err error) {
	posted, aliased, err := decodeWithPosted(b, cm, clientMessagePostedCalls)
	if err == nil && posted != nil {
		cm.PostedCalls = posted
	}
	return aliased, err
}

// decodeChannelCall decodes b, a call channel's call (the posted calls it
// carries in Call.posted_calls, a cp's copy and creation before its
// fstat), into c as proto.Unmarshal(b, c) does, and reports whether some
// Region.data of c's posted calls aliases b.
func decodeChannelCall(b []byte, c *pb.Call) (aliased bool, err error) {
	posted, aliased, err := decodeWithPosted(b, c, postedCallsField)
	if err == nil && posted != nil {
		c.PostedCalls = posted
	}
	return aliased, err
}

// decodeWithPosted decodes b into m as proto.Unmarshal(b, m) does, but
// for m's repeated Call field number field, whose calls it decodes by
// hand (decodeCall) and returns for the caller to set: nil when b has
// none (m is then whole). aliased says some Region.data of the calls
// aliases b.
func decodeWithPosted(b []byte, m proto.Message, field protowire.Number) (posted []*pb.Call, aliased bool, err error) {
	// The fields other than the calls, in order: one run of b
	// (aliased) or several (copied).
	var rest []byte
	restStart, restEnd, runs, calls := 0, 0, 0, 0
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return nil, false, proto.Unmarshal(b, m)
		}
		l := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if l < 0 {
			return nil, false, proto.Unmarshal(b, m)
		}
		end := off + n + l
		if num == field && typ == protowire.BytesType {
			calls++
		} else {
			switch {
			case runs == 0:
				restStart, restEnd, runs = off, end, 1
			case restEnd == off && rest == nil:
				restEnd = end
			default:
				if rest == nil {
					rest = append([]byte(nil), b[restStart:restEnd]...)
				}
				rest = append(rest, b[off:end]...)
				runs++
			}
		}
		off = end
	}
	if calls == 0 {
		return nil, false, proto.Unmarshal(b, m)
	}
	if rest == nil {
		rest = b[restStart:restEnd]
	}
	// proto.Unmarshal resets m first; so, with no other field, must we.
	if len(rest) > 0 {
		if err := proto.Unmarshal(rest, m); err != nil {
			return nil, false, err
		}
	} else {
		proto.Reset(m)
	}
	posted = make([]*pb.Call, 0, calls)
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		off += n
		if num != field || typ != protowire.BytesType {
			off += protowire.ConsumeFieldValue(num, typ, b[off:])
			continue
		}
		v, l := protowire.ConsumeBytes(b[off:])
		off += l
		c, al := decodeCall(v)
		if c == nil {
			c = new(pb.Call)
			if err := (proto.UnmarshalOptions{RecursionLimit: elementRecursionLimit}).Unmarshal(v, c); err != nil {
				proto.Reset(m)
				return nil, false, err
			}
		}
		aliased = aliased || al
		posted = append(posted, c)
	}
	return posted, aliased, nil
}

// plainCall is a system call's Call decoded in one allocation.
type plainCall struct {
	call   pb.Call
	op     pb.Call_Syscall
	sc     pb.Syscall
	region pb.Region
	inputs [1]*pb.Region
	args   [6]uint64
	// installFd is what sc.InstallFd points to when the call has one.
	installFd int32
}

// decodeCall decodes a Call that holds a plain system call (the fields
// named above, each message once), or returns nil for proto.Unmarshal
// to decode. aliased says a Region's data aliases b.
func decodeCall(b []byte) (c *pb.Call, aliased bool) {
	p := new(plainCall)
	sawSyscall := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch {
		case num == callSeq && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil, false
			}
			p.call.Seq, b = v, b[m:]
		case num == callTid && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil, false
			}
			p.call.Tid, b = int32(v), b[m:]
		case num == callSyscall && typ == protowire.BytesType && !sawSyscall:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, false
			}
			var ok bool
			if aliased, ok = p.decodeSyscall(v); !ok {
				return nil, false
			}
			sawSyscall, b = true, b[m:]
		default:
			return nil, false
		}
	}
	if sawSyscall {
		p.op.Syscall = &p.sc
		p.call.Op = &p.op
	}
	return &p.call, aliased
}

// decodeSyscall decodes b into p.sc if it holds only the fields
// decodeCall knows, and reports whether it did and whether a Region's
// data aliases b.
func (p *plainCall) decodeSyscall(b []byte) (aliased, ok bool) {
	args := p.args[:0]
	inputs := p.inputs[:0]
	// A merged write's parts (sentry/client/writemerge.go), once: two
	// allocations a merged call, whose bytes then stay in the frame.
	var parts *pb.WriteParts
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false, false
		}
		b = b[n:]
		if num == syscallInputs && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return false, false
			}
			r := &p.region
			if len(inputs) > 0 {
				r = new(pb.Region)
			}
			al, ok := decodeRegion(v, r)
			if !ok {
				return false, false
			}
			aliased = aliased || al
			inputs, b = append(inputs, r), b[m:]
			continue
		}
		if num == syscallWriteParts && typ == protowire.BytesType && parts == nil {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return false, false
			}
			if parts = decodeWriteParts(v); parts == nil {
				return false, false
			}
			b = b[m:]
			continue
		}
		if num == syscallLeasedData && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return false, false
			}
			// As a Region's data: the last one wins, present but
			// empty is not nil, and a long one stays in the frame.
			var al bool
			p.sc.LeasedData, al = keepBytes(v)
			aliased, b = aliased || al, b[m:]
			continue
		}
		if num == syscallArgs && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return false, false
			}
			if args, ok = appendPacked(args, v); !ok {
				return false, false
			}
			b = b[m:]
			continue
		}
		if typ != protowire.VarintType {
			return false, false
		}
		v, m := protowire.ConsumeVarint(b)
		if m < 0 {
			return false, false
		}
		b = b[m:]
		switch num {
		case syscallSysno:
			p.sc.Sysno = int32(v)
		case syscallArgs:
			args = append(args, v)
		case syscallPendingSignals:
			p.sc.PendingSignals = v
		case syscallCallGen:
			p.sc.CallGen = v
		case syscallNoNewPrivs:
			p.sc.NoNewPrivs = protowire.DecodeBool(v)
		case syscallPosted:
			p.sc.Posted = protowire.DecodeBool(v)
		case syscallLeaseWanted:
			p.sc.LeaseWanted = protowire.DecodeBool(v)
		case syscallPathLeaseWanted:
			p.sc.PathLeaseWanted = protowire.DecodeBool(v)
		case syscallReplyCanWait:
			p.sc.ReplyCanWait = protowire.DecodeBool(v)
		case syscallOwnedWrite:
			p.sc.OwnedWrite = protowire.DecodeBool(v)
		case syscallOwnedWanted:
			p.sc.OwnedWanted = protowire.DecodeBool(v)
		case syscallOpenDataWanted:
			p.sc.OpenDataWanted = protowire.DecodeBool(v)
		case syscallDirListingWanted:
			p.sc.DirListingWanted = protowire.DecodeBool(v)
		case syscallListingAhead:
			p.sc.ListingAhead = uint32(v)
		case syscallPipeAheadWanted:
			p.sc.PipeAheadWanted = protowire.DecodeBool(v)
		case syscallPipeConsumed:
			p.sc.PipeConsumed = protowire.DecodeBool(v)
		case syscallCloseFile:
			p.sc.CloseFile = v
		case syscallProcDataWanted:
			p.sc.ProcDataWanted = protowire.DecodeBool(v)
		case syscallInstallFd:
			// An int32 takes a varint's low 32 bits, as in
			// proto.Unmarshal; the last one wins.
			p.installFd = int32(v)
			p.sc.InstallFd = &p.installFd
		default:
			return false, false
		}
	}
	// As proto.Unmarshal leaves them: nil when none came.
	if len(args) > 0 {
		p.sc.Args = args
	}
	if len(inputs) > 0 {
		p.sc.Inputs = inputs
	}
	p.sc.WriteParts = parts
	return aliased, true
}

// writePartsLengths is WriteParts.lengths's field number.
const writePartsLengths = 1

// decodeWriteParts decodes b, a WriteParts, if it holds only lengths
// (packed or not); nil if not.
func decodeWriteParts(b []byte) *pb.WriteParts {
	var lengths []uint64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num != writePartsLengths {
			return nil
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil
			}
			lengths, b = append(lengths, v), b[m:]
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil
			}
			var ok bool
			if lengths, ok = appendPacked(lengths, v); !ok {
				return nil
			}
			b = b[m:]
		default:
			return nil
		}
	}
	// As proto.Unmarshal leaves it: nil when none came.
	return &pb.WriteParts{Lengths: lengths}
}

// decodeRegion decodes b into r if it holds only addr and data, and
// reports whether it did and whether r.Data aliases b.
func decodeRegion(b []byte, r *pb.Region) (aliased, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false, false
		}
		b = b[n:]
		switch {
		case num == regionAddr && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return false, false
			}
			r.Addr, b = v, b[m:]
		case num == regionData && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return false, false
			}
			// The last one wins, as in proto.Unmarshal.
			r.Data, aliased = keepBytes(v)
			b = b[m:]
		default:
			return false, false
		}
	}
	return aliased, true
}

// keepBytes returns a bytes field's value v as the decoded message keeps
// it: v itself (aliased: in the frame buffer) if it is at least
// aliasMinData long, a copy otherwise (never shared with the frame
// buffer; not nil when empty, as proto.Unmarshal leaves a present field).
func keepBytes(v []byte) (kept []byte, aliased bool) {
	if len(v) >= aliasMinData {
		return v[:len(v):len(v)], true
	}
	return append([]byte{}, v...), false
}

// appendPacked appends the varints of v, a packed repeated field's
// bytes, to dst; false if one is malformed.
func appendPacked(dst []uint64, v []byte) ([]uint64, bool) {
	for len(v) > 0 {
		a, k := protowire.ConsumeVarint(v)
		if k < 0 {
			return dst, false
		}
		dst, v = append(dst, a), v[k:]
	}
	return dst, true
}
