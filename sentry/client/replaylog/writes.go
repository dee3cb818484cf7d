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

// Durable drops every retained write to file with a seq at or below seq.
func (l *Log) Durable(file, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.journal != nil {
		l.journal.durable(file, seq)
	}
	ws := l.byFile[file]
	n := 0
	for n < len(ws) && ws[n].seq <= seq {
		rw := ws[n]
		delete(l.writes, rw.seq)
		if rw.pooled {
			l.pool.put(rw.data)
		}
		l.forgetWriteLocked(rw)
		n++
	}
	if n == 0 {
		return
	}
	rest := copy(ws, ws[n:])
	clear(ws[rest:])
	l.setFileWritesLocked(file, ws[:rest])
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
