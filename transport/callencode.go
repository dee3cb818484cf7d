package transport

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// A hand-written encoder for the client's hot message, the mirror of the
// server's decoder (calldecode.go): a frame's posted calls, and those a
// channel call carries. proto.Marshal sizes and then writes a Call
// through the generic coders of its messages, visiting each of
// Syscall's 26 fields twice: ~0.3 µs a posted umask, on the connection's
// sender or, when the sender lags, on the application's path
// (docs/BENCHMARKS.md, "postcpu"). appendCall writes a plain system
// call itself: a Call of seq, tid and a Syscall (every Call field but
// those zero), a Syscall without clocks, no unknown fields in any of its
// messages. Any other call goes through proto.Marshal. Fields are written
// in field number order, as proto.Marshal does, and the bytes decode to
// an equal message (TestAppendCallEqual, which sets every field
// sentry.proto gives Call, Syscall, Region and WriteParts: a field added
// there and not here fails it).

// Field numbers appendCall writes beyond those decodeCall reads.
const (
	syscallListingPath   = 423
	syscallAheadNames    = 581
	syscallAheadCookie   = 582
	syscallAheadSiblings = 584
	syscallAfterPosted   = 650
)

// plainSyscall returns c's Syscall if appendCall encodes c itself, else
// nil.
func plainSyscall(c *pb.Call) *pb.Syscall {
	op, ok := c.Op.(*pb.Call_Syscall)
	if !ok || op.Syscall == nil || len(c.PostedCalls) > 0 || len(c.ProtoReflect().GetUnknown()) > 0 {
		return nil
	}
	sc := op.Syscall
	if sc.Clocks != nil || len(sc.ProtoReflect().GetUnknown()) > 0 ||
		sc.WriteParts != nil && len(sc.WriteParts.ProtoReflect().GetUnknown()) > 0 {
		return nil
	}
	for _, r := range sc.Inputs {
		if r == nil || len(r.ProtoReflect().GetUnknown()) > 0 {
			return nil
		}
	}
	return sc
}

// appendCall appends c to b as field num of a message (a length-delimited
// Call), as proto.Marshal would.
func appendCall(b []byte, num protowire.Number, c *pb.Call) ([]byte, error) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	sc := plainSyscall(c)
	if sc == nil {
		b = protowire.AppendVarint(b, uint64(proto.Size(c)))
		return proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, c)
	}
	scSize := syscallSize(sc)
	b = protowire.AppendVarint(b, uint64(callSize(c, scSize)))
	if c.Seq != 0 {
		b = protowire.AppendTag(b, callSeq, protowire.VarintType)
		b = protowire.AppendVarint(b, c.Seq)
	}
	if c.Tid != 0 {
		b = protowire.AppendTag(b, callTid, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(c.Tid)))
	}
	b = protowire.AppendTag(b, callSyscall, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(scSize))
	return appendSyscall(b, sc), nil
}

// callSize is the size of plain call c (plainSyscall), its Syscall's
// being scSize.
func callSize(c *pb.Call, scSize int) int {
	n := protowire.SizeTag(callSyscall) + protowire.SizeBytes(scSize)
	if c.Seq != 0 {
		n += protowire.SizeTag(callSeq) + protowire.SizeVarint(c.Seq)
	}
	if c.Tid != 0 {
		n += protowire.SizeTag(callTid) + protowire.SizeVarint(uint64(int64(c.Tid)))
	}
	return n
}

// sizeCall is the size of c as a Call's element of a message (its tag
// and length included), as appendCall writes it.
func sizeCall(num protowire.Number, c *pb.Call) int {
	n := proto.Size(c)
	if sc := plainSyscall(c); sc != nil {
		n = callSize(c, syscallSize(sc))
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// Sizes of fields by kind: varint (zero: absent), bool, bytes (empty:
// absent), and present optional varint.
func sizeVarint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeBool(num protowire.Number, v bool) int {
	if !v {
		return 0
	}
	return protowire.SizeTag(num) + 1
}

func sizeBytes(num protowire.Number, v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(v))
}

// packedSize is the size of vs packed (without tag and length).
func packedSize(vs []uint64) int {
	n := 0
	for _, v := range vs {
		n += protowire.SizeVarint(v)
	}
	return n
}

// regionSize is r's encoded size.
func regionSize(r *pb.Region) int {
	return sizeVarint(regionAddr, r.Addr) + sizeBytes(regionData, r.Data)
}

// syscallSize is plain Syscall sc's encoded size, as appendSyscall writes
// it.
func syscallSize(sc *pb.Syscall) int {
	n := sizeVarint(syscallSysno, uint64(int64(sc.Sysno)))
	if len(sc.Args) > 0 {
		n += protowire.SizeTag(syscallArgs) + protowire.SizeBytes(packedSize(sc.Args))
	}
	for _, r := range sc.Inputs {
		n += protowire.SizeTag(syscallInputs) + protowire.SizeBytes(regionSize(r))
	}
	n += sizeBool(syscallNoNewPrivs, sc.NoNewPrivs)
	n += sizeVarint(syscallPendingSignals, sc.PendingSignals)
	n += sizeVarint(syscallCallGen, sc.CallGen)
	n += sizeBool(syscallPosted, sc.Posted)
	n += sizeBool(syscallLeaseWanted, sc.LeaseWanted)
	n += sizeBool(syscallPathLeaseWanted, sc.PathLeaseWanted)
	n += sizeBytes(syscallListingPath, sc.ListingPath)
	if sc.InstallFd != nil {
		n += protowire.SizeTag(syscallInstallFd) + protowire.SizeVarint(uint64(int64(*sc.InstallFd)))
	}
	if wp := sc.WriteParts; wp != nil {
		m := 0
		if len(wp.Lengths) > 0 {
			m = protowire.SizeTag(writePartsLengths) + protowire.SizeBytes(packedSize(wp.Lengths))
		}
		n += protowire.SizeTag(syscallWriteParts) + protowire.SizeBytes(m)
	}
	n += sizeBytes(syscallLeasedData, sc.LeasedData)
	n += sizeBool(syscallReplyCanWait, sc.ReplyCanWait)
	n += sizeBool(syscallOwnedWrite, sc.OwnedWrite)
	n += sizeBool(syscallOwnedWanted, sc.OwnedWanted)
	n += sizeBool(syscallOpenDataWanted, sc.OpenDataWanted)
	n += sizeBool(syscallDirListingWanted, sc.DirListingWanted)
	n += sizeVarint(syscallListingAhead, uint64(sc.ListingAhead))
	for _, name := range sc.AheadNames {
		n += protowire.SizeTag(syscallAheadNames) + protowire.SizeBytes(len(name))
	}
	if sc.AheadCookie != nil {
		n += protowire.SizeTag(syscallAheadCookie) + protowire.SizeVarint(*sc.AheadCookie)
	}
	for _, name := range sc.AheadSiblings {
		n += protowire.SizeTag(syscallAheadSiblings) + protowire.SizeBytes(len(name))
	}
	n += sizeBool(syscallPipeAheadWanted, sc.PipeAheadWanted)
	n += sizeBool(syscallPipeConsumed, sc.PipeConsumed)
	n += sizeVarint(syscallCloseFile, sc.CloseFile)
	n += sizeBool(syscallProcDataWanted, sc.ProcDataWanted)
	n += sizeBool(syscallAfterPosted, sc.AfterPosted)
	return n
}

// Appends of fields by kind, absent as their sizes say.
func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return append(protowire.AppendTag(b, num, protowire.VarintType), 1)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

// appendPackedField appends vs as packed field num (nothing if empty).
func appendPackedField(b []byte, num protowire.Number, vs []uint64) []byte {
	if len(vs) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(packedSize(vs)))
	for _, v := range vs {
		b = protowire.AppendVarint(b, v)
	}
	return b
}

// appendSyscall appends plain Syscall sc's fields, in field number order.
func appendSyscall(b []byte, sc *pb.Syscall) []byte {
	b = appendVarint(b, syscallSysno, uint64(int64(sc.Sysno)))
	b = appendPackedField(b, syscallArgs, sc.Args)
	for _, r := range sc.Inputs {
		b = protowire.AppendTag(b, syscallInputs, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(regionSize(r)))
		b = appendVarint(b, regionAddr, r.Addr)
		b = appendBytes(b, regionData, r.Data)
	}
	b = appendBool(b, syscallNoNewPrivs, sc.NoNewPrivs)
	b = appendVarint(b, syscallPendingSignals, sc.PendingSignals)
	b = appendVarint(b, syscallCallGen, sc.CallGen)
	b = appendBool(b, syscallPosted, sc.Posted)
	b = appendBool(b, syscallLeaseWanted, sc.LeaseWanted)
	b = appendBool(b, syscallPathLeaseWanted, sc.PathLeaseWanted)
	b = appendBytes(b, syscallListingPath, sc.ListingPath)
	if sc.InstallFd != nil {
		b = protowire.AppendTag(b, syscallInstallFd, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(*sc.InstallFd)))
	}
	if wp := sc.WriteParts; wp != nil {
		m := 0
		if len(wp.Lengths) > 0 {
			m = protowire.SizeTag(writePartsLengths) + protowire.SizeBytes(packedSize(wp.Lengths))
		}
		b = protowire.AppendTag(b, syscallWriteParts, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(m))
		b = appendPackedField(b, writePartsLengths, wp.Lengths)
	}
	b = appendBytes(b, syscallLeasedData, sc.LeasedData)
	b = appendBool(b, syscallReplyCanWait, sc.ReplyCanWait)
	b = appendBool(b, syscallOwnedWrite, sc.OwnedWrite)
	b = appendBool(b, syscallOwnedWanted, sc.OwnedWanted)
	b = appendBool(b, syscallOpenDataWanted, sc.OpenDataWanted)
	b = appendBool(b, syscallDirListingWanted, sc.DirListingWanted)
	b = appendVarint(b, syscallListingAhead, uint64(sc.ListingAhead))
	for _, name := range sc.AheadNames {
		b = protowire.AppendBytes(protowire.AppendTag(b, syscallAheadNames, protowire.BytesType), name)
	}
	if sc.AheadCookie != nil {
		b = protowire.AppendTag(b, syscallAheadCookie, protowire.VarintType)
		b = protowire.AppendVarint(b, *sc.AheadCookie)
	}
	for _, name := range sc.AheadSiblings {
		b = protowire.AppendBytes(protowire.AppendTag(b, syscallAheadSiblings, protowire.BytesType), name)
	}
	b = appendBool(b, syscallPipeAheadWanted, sc.PipeAheadWanted)
	b = appendBool(b, syscallPipeConsumed, sc.PipeConsumed)
	b = appendVarint(b, syscallCloseFile, sc.CloseFile)
	b = appendBool(b, syscallProcDataWanted, sc.ProcDataWanted)
	b = appendBool(b, syscallAfterPosted, sc.AfterPosted)
	return b
}

// appendClientMessage appends m's encoding to b as proto.Marshal would,
// its posted calls by appendCall. m is changed meanwhile (its
// posted_calls taken out while the rest is marshaled) and restored: the
// caller is its only user (the send lock).
func appendClientMessage(b []byte, m *pb.ClientMessage) ([]byte, error) {
	calls := m.PostedCalls
	m.PostedCalls = nil
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	m.PostedCalls = calls
	if err != nil {
		return b, err
	}
	for _, c := range calls {
		if b, err = appendCall(b, clientMessagePostedCalls, c); err != nil {
			return b, err
		}
	}
	return b, nil
}
