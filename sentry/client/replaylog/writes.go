package replaylog

import (
	"cmp"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Retained writes to gofer files.
//
// A write's record ("write/<seq>", WriteState) and its data are kept
// together as one retainedWrite, not as a StateRecord under a parsed key:
// a 4 KiB write behind, the commonest call a client logs, is folded from
// its packed reply's fields (Reply.written) and dropped by the Durable
// push that passes it, and neither needs the record. The record is made
// only when someone reads it: a Restore (RestoreRecords), the durable
// log (its journal entry and snapshots), Record and the debug dump.
// Each file's writes are kept in seq order, so a Durable push drops a
// prefix; dropped retainedWrites are reused by the next writes.

// retainedWrite is one write to a gofer file not yet durable: its
// record's fields and its data.
type retainedWrite struct {
	// seq, file, offset, length and mapped are the record's WriteState
	// (seq, file, offset, length, mapped_file: a PageWrite's mapped file,
	// 0 for a system call).
	seq    uint64
	file   uint64
	offset int64
	length uint64
	mapped uint64
	// data is the write's bytes (at most length of them).
	data []byte
	// handle, path, ino and dev are the file's FileState when the write
	// was folded (the record may be gone by the time a Rewrite needs
	// them); ino and dev identify the file when no handle does.
	handle   []byte
	path     []byte
	ino, dev uint64
	// pooled says data is a WriteBuffer buffer that only this record
	// holds (FoldPooledReply): a Durable push that drops it gives it
	// back to the pool.
	pooled bool
	// private says data is the log's own copy, made by a patch
	// (supersedeLocked): the next patches change it in place.
	private bool
	// tid is the thread whose system call made the write, 0 if not
	// known (a PageWrite, a record from a push or the durable log).
	// horizon is the last seq the client had given a call when the write
	// was folded (its reply received: the server had made it), 0 if not
	// known (the durable log): a write with a higher seq was made after
	// it.
	tid     int32
	horizon uint64
	// ident is the file's identity (identOf), identPos the write's
	// index in its identWrites.
	ident    fileIdent
	identPos int
}

// fileIdent is a file's identity (identOf): kind 'i' with its device
// and inode number, 'm' with a mapping's id, 'f' with a description's.
type fileIdent struct {
	kind byte
	a, b uint64
}

// identWrites are the retained writes to one file (one identity), in no
// order, and the byte range [lo, hi) that holds all their data.
type identWrites struct {
	ws     []*retainedWrite
	lo, hi int64
}

// identOf returns the identity of rw's file, under which writes through
// different descriptions (or mappings) of one file meet: its inode
// number and device; without them (an older server's record) the
// description or mapping alone. A file handle alone is not one: the
// gofer's handles do not name their filesystem.
func identOf(rw *retainedWrite) fileIdent {
	switch {
	case rw.ino != 0 && rw.dev != 0:
		return fileIdent{'i', rw.dev, rw.ino}
	case rw.mapped != 0:
		return fileIdent{'m', rw.mapped, 0}
	default:
		return fileIdent{'f', rw.file, 0}
	}
}

// maxFreeWrites bounds the dropped retainedWrites kept for reuse: as
// many as a steady stream of writes behind has retained at once (the
// server's flush threshold, 8 MiB, is 2,048 writes of 4 KiB).
const maxFreeWrites = 4096

// record returns rw's record, as the server would have sent it.
func (rw *retainedWrite) record() *pb.StateRecord {
	return &pb.StateRecord{Key: statekey.Write(rw.seq).String(), Value: &pb.StateRecord_Write{Write: &pb.WriteState{
		Seq: rw.seq, File: rw.file, Offset: rw.offset, Length: rw.length, MappedFile: rw.mapped}}}
}

// Field numbers of a write's record, for its encoded size.
var (
	recordKeyField   = fieldNumber((*pb.StateRecord)(nil), "key")
	recordWriteField = fieldNumber((*pb.StateRecord)(nil), "write")
	writeSeqField    = fieldNumber((*pb.WriteState)(nil), "seq")
	writeFileField   = fieldNumber((*pb.WriteState)(nil), "file")
	writeOffsetField = fieldNumber((*pb.WriteState)(nil), "offset")
	writeLengthField = fieldNumber((*pb.WriteState)(nil), "length")
	writeMappedField = fieldNumber((*pb.WriteState)(nil), "mapped_file")
)

func fieldNumber(m interface {
	ProtoReflect() protoreflect.Message
}, name protoreflect.Name) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
}

// recordSize returns proto.Size(rw.record()) without making the record.
func (rw *retainedWrite) recordSize() int {
	var buf [40]byte
	keyLen := len(statekey.Write(rw.seq).AppendTo(buf[:0]))
	varint := func(num protowire.Number, v uint64) int {
		if v == 0 {
			return 0
		}
		return protowire.SizeTag(num) + protowire.SizeVarint(v)
	}
	ws := varint(writeSeqField, rw.seq) + varint(writeFileField, rw.file) + varint(writeOffsetField, uint64(rw.offset)) +
		varint(writeLengthField, rw.length) + varint(writeMappedField, rw.mapped)
	return protowire.SizeTag(recordKeyField) + protowire.SizeBytes(keyLen) +
		protowire.SizeTag(recordWriteField) + protowire.SizeBytes(ws)
}

// fileWriteLocked retains a write to a gofer file, of record fields w
// (its data unset) and data: data itself if own (foldLocked), else a
// copy. Precondition: l.mu is held.
func (l *Log) fileWriteLocked(w *pb.WriteState, data []byte, own bool) {
	if w.Seq == 0 {
		return
	}
	if uint64(len(data)) < w.Length {
		l.warnOnce("nodata", "a write's data is not in its call; it cannot be re-sent after a server failure",
			"seq", w.Seq, "file", w.File, "length", w.Length, "have", len(data))
	}
	l.dropWriteLocked(w.Seq)
	kept := clip(data, w.Length)
	if !own {
		kept = append([]byte(nil), kept...)
	}
	rw := l.newWriteLocked()
	rw.seq, rw.file, rw.offset, rw.length, rw.mapped, rw.data = w.Seq, w.File, w.Offset, w.Length, w.MappedFile, kept
	if l.origin.seq == w.Seq {
		rw.tid = l.origin.tid
	}
	if l.issued != nil {
		rw.horizon = l.issued()
	}
	if f := l.records[statekey.File(w.File)].GetFile(); f != nil {
		rw.handle, rw.path, rw.ino, rw.dev = f.FileHandle, f.Path, f.Ino, f.Dev
	}
	if w.MappedFile != 0 {
		// A PageWrite: the mapped file names the file (the description
		// it went through may be one no fd names).
		if m := l.records[statekey.Mapped(w.MappedFile)].GetMapped(); m != nil {
			rw.handle, rw.path, rw.ino, rw.dev = m.FileHandle, m.Path, m.Ino, m.Dev
		}
	}
	l.writes[rw.seq] = rw
	ws, ok := l.byFile[rw.file]
	if !ok {
		ws, l.spareWrites = l.spareWrites, nil
	}
	if n := len(ws); n == 0 || ws[n-1].seq < rw.seq {
		ws = append(ws, rw)
	} else {
		// A reply folded after a later seq's (another thread's, or a
		// re-sent call's): keep the file's writes in seq order.
		i, _ := slices.BinarySearchFunc(ws, rw.seq, func(o *retainedWrite, seq uint64) int { return cmp.Compare(o.seq, seq) })
		ws = slices.Insert(ws, i, rw)
	}
	l.byFile[rw.file] = ws
	l.bytes += int64(rw.recordSize() + len(rw.data))
	l.dataBytes += int64(len(rw.data))
	l.overlapLocked(rw)
}

// overlapLocked makes newly retained rw and the retained writes to the
// same file it overlaps agree where one was made after the other
// (madeBefore): the earlier one's retained bytes become the later one's
// where they overlap, and an earlier one the later covers whole is
// dropped. Else a Rewrite of the earlier write that succeeds after the
// later one was made durable (the earlier one's Rewrite failed at a
// recovery, and is re-sent at the next) would put its older bytes over
// the later ones. Writes not known to be ordered (two threads' in
// flight together) are left alone: their seqs do not say which the
// server made last. A patched or dropped write is journaled again (the
// durable log keeps no thread or horizon to redo it from).
func (l *Log) overlapLocked(rw *retainedWrite) {
	rw.ident = identOf(rw)
	iw := l.idents[rw.ident]
	if iw == nil {
		// The last file's, reused: a file written, made durable and
		// written again allocates nothing.
		iw, l.spareIdent = l.spareIdent, nil
		if iw == nil {
			iw = &identWrites{}
		}
		iw.lo, iw.hi = rw.offset, rw.end()
		l.idents[rw.ident] = iw
	}
	if len(iw.ws) > 0 && rw.offset < iw.hi && rw.end() > iw.lo && len(rw.data) > 0 {
		var over []*retainedWrite
		for _, o := range iw.ws {
			if o.offset < rw.end() && o.end() > rw.offset && len(o.data) > 0 {
				over = append(over, o)
			}
		}
		// The later writes patch rw in seq order, the last one's bytes
		// winning.
		slices.SortFunc(over, func(a, b *retainedWrite) int { return cmp.Compare(a.seq, b.seq) })
		for _, o := range over {
			if madeBefore(o, rw) {
				l.supersedeLocked(o, rw)
			}
		}
		for _, o := range over {
			if madeBefore(rw, o) {
				if l.supersedeLocked(rw, o) {
					return
				}
			}
		}
	}
	iw.lo, iw.hi = min(iw.lo, rw.offset), max(iw.hi, rw.end())
	rw.identPos = len(iw.ws)
	iw.ws = append(iw.ws, rw)
}

// madeBefore says the server made write a before write b: a's seq is
// lower and they are one thread's (seq order is its program order, and
// the server runs a thread's calls in order), or b's seq is above a's
// horizon (b was given its seq after a's reply came).
func madeBefore(a, b *retainedWrite) bool {
	if a.seq == 0 || a.seq >= b.seq {
		return false
	}
	return a.tid != 0 && a.tid == b.tid || a.horizon != 0 && b.seq > a.horizon
}

// end returns the offset past rw's retained bytes.
func (rw *retainedWrite) end() int64 { return rw.offset + int64(len(rw.data)) }

// supersedeLocked puts the bytes of later write by where they overlap
// earlier's, or drops earlier if later covers it whole (then it returns
// true). earlier gets a buffer of its own first, unless it has one (a
// pooled or private one, which RetainedWrites copies): its data may be a
// call's bytes, which a re-sent call must carry as they were.
func (l *Log) supersedeLocked(earlier, later *retainedWrite) (dropped bool) {
	if later.offset <= earlier.offset && later.end() >= earlier.end() {
		if l.journal != nil {
			l.journal.record(&pb.StateRecord{Key: statekey.Write(earlier.seq).String(), Deleted: true}, nil)
		}
		l.dropWriteLocked(earlier.seq)
		return true
	}
	lo, hi := max(earlier.offset, later.offset), min(earlier.end(), later.end())
	if !earlier.pooled && !earlier.private {
		earlier.data, earlier.private = slices.Clone(earlier.data), true
	}
	copy(earlier.data[lo-earlier.offset:hi-earlier.offset], later.data[lo-later.offset:hi-later.offset])
	if l.journal != nil {
		l.journal.record(earlier.record(), earlier.data)
	}
	return false
}

// unindexLocked takes rw out of its file's identWrites.
func (l *Log) unindexLocked(rw *retainedWrite) {
	iw := l.idents[rw.ident]
	if iw == nil || rw.identPos >= len(iw.ws) || iw.ws[rw.identPos] != rw {
		return
	}
	last := len(iw.ws) - 1
	iw.ws[rw.identPos] = iw.ws[last]
	iw.ws[rw.identPos].identPos = rw.identPos
	iw.ws[last] = nil
	iw.ws = iw.ws[:last]
	if len(iw.ws) == 0 {
		delete(l.idents, rw.ident)
		if cap(iw.ws) <= maxFreeWrites {
			l.spareIdent = iw
		}
	}
}

// newWriteLocked returns a zeroed retainedWrite, a reused one if any.
func (l *Log) newWriteLocked() *retainedWrite {
	if n := len(l.freeWrites); n > 0 {
		rw := l.freeWrites[n-1]
		l.freeWrites[n-1] = nil
		l.freeWrites = l.freeWrites[:n-1]
		return rw
	}
	return &retainedWrite{}
}

// forgetWriteLocked uncounts rw, already out of l.writes and l.byFile,
// and keeps it for reuse.
func (l *Log) forgetWriteLocked(rw *retainedWrite) {
	l.unindexLocked(rw)
	l.bytes -= int64(rw.recordSize() + len(rw.data))
	l.dataBytes -= int64(len(rw.data))
	if len(l.freeWrites) < maxFreeWrites {
		*rw = retainedWrite{}
		l.freeWrites = append(l.freeWrites, rw)
	}
}

// dropWriteLocked forgets the retained write seq (its record with it).
func (l *Log) dropWriteLocked(seq uint64) {
	rw := l.writes[seq]
	if rw == nil {
		return
	}
	delete(l.writes, seq)
	ws := l.byFile[rw.file]
	if i := slices.Index(ws, rw); i >= 0 {
		ws = slices.Delete(ws, i, i+1)
	}
	l.setFileWritesLocked(rw.file, ws)
	l.forgetWriteLocked(rw)
}

// setFileWritesLocked makes ws the retained writes of file; none
// forgets the file, keeping the slice's array for the next file written
// (a file closed keeps no entry: the log follows live state).
func (l *Log) setFileWritesLocked(file uint64, ws []*retainedWrite) {
	if len(ws) > 0 {
		l.byFile[file] = ws
		return
	}
	delete(l.byFile, file)
	if cap(ws) > cap(l.spareWrites) && cap(ws) <= maxFreeWrites {
		clear(ws[:cap(ws)])
		l.spareWrites = ws[:0]
	}
}

// Durable drops every retained write to file with a seq at or below seq
// but those held names (Durable.held: writes whose Rewrite failed, not
// in the file, re-sent at the next recovery). A held write gets the
// bytes of the dropped writes after it where they overlap: the server
// made those after the failed Rewrite (it makes every call after the
// Rewrites), so they are the file's bytes there, which a Rewrite of the
// held one must not put older ones over. overlapLocked did that already
// for writes it knew to be made after (madeBefore), not for a held write
// read back from the durable log, which has no thread or horizon.
func (l *Log) Durable(file, seq uint64, held ...uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.journal != nil {
		l.journal.durable(file, seq, held)
	}
	ws := l.byFile[file]
	kept, n := 0, 0
	for n < len(ws) && ws[n].seq <= seq {
		rw := ws[n]
		n++
		if len(held) > 0 && slices.Contains(held, rw.seq) {
			ws[kept] = rw
			kept++
			continue
		}
		if kept > 0 {
			l.patchHeldLocked(ws[:kept], rw)
		}
		delete(l.writes, rw.seq)
		if rw.pooled {
			l.pool.put(rw.data)
		}
		l.forgetWriteLocked(rw)
	}
	if n == kept {
		return
	}
	rest := kept + copy(ws[kept:], ws[n:])
	clear(ws[rest:])
	l.setFileWritesLocked(file, ws[:rest])
}

// patchHeldLocked puts the bytes of dropped, a write a Durable push
// passes, over the held writes before it (in seq order) where they
// overlap. It never drops a held write (ws would change under Durable's
// loop): one covered whole keeps a copy of the bytes now in the file.
func (l *Log) patchHeldLocked(held []*retainedWrite, dropped *retainedWrite) {
	for _, h := range held {
		if h.seq >= dropped.seq || h.offset >= dropped.end() || h.end() <= dropped.offset || len(dropped.data) == 0 {
			continue
		}
		lo, hi := max(h.offset, dropped.offset), min(h.end(), dropped.end())
		if !h.pooled && !h.private {
			h.data, h.private = slices.Clone(h.data), true
		}
		copy(h.data[lo-h.offset:hi-h.offset], dropped.data[lo-dropped.offset:hi-dropped.offset])
		if l.journal != nil {
			l.journal.record(h.record(), h.data)
		}
	}
}

// WriteDone drops the retained write seq, which a Rewrite's reply said
// needs no more re-sending (made durable before the reply, or its file
// gone): no Durable push will name it. The durable log records the drop.
func (l *Log) WriteDone(seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writes[seq] == nil {
		return
	}
	l.foldLocked(&pb.StateRecord{Key: statekey.Write(seq).String(), Deleted: true}, nil, false)
}

// recordLocked returns the live record of key, a write's made from its
// retainedWrite; nil if there is none. Precondition: l.mu is held.
func (l *Log) recordLocked(key statekey.Key) *pb.StateRecord {
	if key.Kind == statekey.KindWrite {
		if rw := l.writes[key.ID]; rw != nil {
			return rw.record()
		}
		return nil
	}
	return l.records[key]
}
