package replaylog

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Log is the client's compacted syscall log (docs/ARCHITECTURE.md, "Recovery";
// sentry.proto's Recovery section): the live kernel state of the
// application as StateRecords keyed by object (a later record with the
// same key replaces the earlier one; a deleted record removes it), the data
// of writes to gofer files not yet durable, and the unread bytes of pipes
// the application wrote.
//
// Its size grows with live state, never with the number of calls made:
// every record replaces its key's previous value, file write data is
// dropped by Durable pushes and pipe bytes as the pipe's read count passes
// them.
//
// Reply.state and StateUpdate records are folded in before the reply that
// carries them (or any later reply) reaches the application; the transport
// calls OnReply and OnPush in arrival order from its receiving goroutine.
//
// Log is safe for concurrent use. Lock order: Log.mu >
// DurableLog.mu; Log.mu > writePool.mu.
type Log struct {
	mu sync.Mutex
	// disabled logs nothing (NewDisabled). Immutable.
	disabled bool
	// records are the live records by key but the write records of
	// gofer files, which are writes (writes.go). Protected by mu.
	records map[statekey.Key]*pb.StateRecord
	// recSize is each record's encoded size. Protected by mu.
	recSize map[statekey.Key]int
	// writes are the retained gofer-file writes by seq, each with its
	// record's fields; byFile holds them by FileState id in seq order.
	// freeWrites are dropped ones kept for reuse, spareWrites the array
	// of a file's writes that went (writes.go). Protected by mu.
	writes map[uint64]*retainedWrite
	byFile map[uint64][]*retainedWrite
	// idents holds the retained writes by their file's identity
	// (overlapLocked), spareIdent the last one emptied, for reuse.
	// Protected by mu.
	idents      map[fileIdent]*identWrites
	spareIdent  *identWrites
	freeWrites  []*retainedWrite
	spareWrites []*retainedWrite
	// pipes are the retained pipe bytes by PipeState id. Protected by mu.
	pipes map[uint64]*pipeData
	// bytes is the live size: encoded records plus retained data.
	// Protected by mu.
	bytes int64
	// dataBytes is the retained data alone (file writes and pipes).
	// Protected by mu.
	dataBytes int64
	// warned holds warnings already logged once. Protected by mu.
	warned map[string]bool
	// journal, when set, receives every change (the durable log).
	// Protected by mu (called with it held, in order).
	journal journal
	// warn reports anomalies (data the log cannot retain).
	warn func(msg string, args ...any)
	// issued returns the last seq the client gave a call (SetIssued),
	// nil if not known.
	issued func() uint64
	// pool is the write buffers Durable pushes freed (writepool.go).
	pool writePool
	// origin is what folds the records now (origins.go): set by
	// foldReply for its records, zero otherwise. origins and gone are
	// what folded each live fd and description record, and the last
	// deleted ones. Protected by mu.
	origin  foldOrigin
	origins map[statekey.Key]foldOrigin
	gone    map[statekey.Key]foldOrigin
}

// pipeData is the retained byte stream of a pipe: data holds the bytes at
// stream positions [start, start+len(data)); read is the pipe's read
// count as last reported.
type pipeData struct {
	start uint64
	data  []byte
	read  uint64
}

func (p *pipeData) end() uint64 { return p.start + uint64(len(p.data)) }

// maxPipePad bounds the zeros written for pipe bytes the log lacks.
const maxPipePad = 1 << 20

// journal receives the log's changes in order.
type journal interface {
	// record is a folded record, with the data of its write (WriteState).
	record(rec *pb.StateRecord, data []byte)
	// durable is a folded Durable push, with the seqs it holds.
	durable(file, seq uint64, held []uint64)
}

// SetWarn sets where the log reports anomalies (data it cannot retain).
func (l *Log) SetWarn(f func(msg string, args ...any)) {
	l.mu.Lock()
	l.warn = f
	l.mu.Unlock()
}

// SetIssued tells the log where to read the last seq the client gave a
// call: a retained write notes it when folded, and a later write with a
// higher seq was made after it, whatever threads made them
// (overlapLocked). Set before the first fold.
func (l *Log) SetIssued(f func() uint64) {
	l.mu.Lock()
	l.issued = f
	l.mu.Unlock()
}

// New returns an empty log.
func New() *Log {
	return &Log{
		records: make(map[statekey.Key]*pb.StateRecord),
		recSize: make(map[statekey.Key]int),
		writes:  make(map[uint64]*retainedWrite),
		byFile:  make(map[uint64][]*retainedWrite),
		idents:  make(map[fileIdent]*identWrites),
		pipes:   make(map[uint64]*pipeData),
		warned:  make(map[string]bool),
	}
}

// NewDisabled returns a log that keeps nothing: an application using it
// cannot survive a server failure. It exists to measure the log's cost.
func NewDisabled() *Log {
	l := New()
	l.disabled = true
	return l
}

// Disabled reports whether the log keeps nothing.
func (l *Log) Disabled() bool { return l.disabled }

// FoldReply folds the state records of reply, which answers call (nil
// when the call is not known: its writes then cannot be retained), and
// the write record of a write behind's packed reply (Reply.written:
// WrittenRecord). A write's bytes that are the call's own (writeData)
// are retained as they are, not copied: the caller changes no call it
// sent.
func (l *Log) FoldReply(call *pb.Call, reply *pb.Reply) {
	l.foldReply(call, reply, false)
}

// FoldPooledReply is FoldReply for a call whose only input is a buffer
// WriteBuffer returned as pooled and that nothing but the call holds (a
// write behind's): retained as the call's own, it goes back to the pool
// when a Durable push drops it.
func (l *Log) FoldPooledReply(call *pb.Call, reply *pb.Reply) {
	l.foldReply(call, reply, true)
}

func (l *Log) foldReply(call *pb.Call, reply *pb.Reply, pooled bool) {
	written := reply.GetWritten()
	if l.disabled || (len(reply.GetState()) == 0 && written == nil) {
		return
	}
	var data []byte
	var own, haveData bool
	l.mu.Lock()
	defer l.mu.Unlock()
	l.origin = originOf(call, reply)
	defer func() { l.origin = foldOrigin{} }()
	for _, rec := range reply.State {
		if rec.GetWrite() != nil && !haveData {
			data, own = writeData(call)
			haveData = true
		}
		l.foldLocked(rec, data, own)
	}
	if written != nil {
		if !haveData {
			data, own = writeData(call)
		}
		// Retained from the entry's fields: the record is made only
		// for the durable log (writes.go).
		w := pb.WriteState{Seq: reply.Seq, File: written.GetFile(), Offset: written.GetOffset(), Length: uint64(reply.Ret)}
		if l.journal != nil {
			l.journal.record(WrittenRecord(reply), clip(data, w.Length))
		}
		l.fileWriteLocked(&w, data, own)
	}
	if pooled && own && len(data) > 0 {
		// Retained as it is (fileWriteLocked keeps own data uncopied):
		// the record is the buffer's last holder once the reply is
		// handed on.
		if rw := l.writes[reply.Seq]; rw != nil && len(rw.data) > 0 && &rw.data[0] == &data[0] {
			rw.pooled = true
		}
	}
}

// WrittenRecord is the write record ("write/<seq>") of reply, a write
// behind's packed reply (Reply.written): the record the server would
// have sent with it, its data the call's.
func WrittenRecord(reply *pb.Reply) *pb.StateRecord {
	w := reply.GetWritten()
	return &pb.StateRecord{Key: statekey.Write(reply.Seq).String(), Value: &pb.StateRecord_Write{Write: &pb.WriteState{
		Seq: reply.Seq, File: w.GetFile(), Offset: w.GetOffset(), Length: uint64(reply.Ret)}}}
}

// FoldPush folds a StateUpdate, Durable or DurableBatch push; others are
// ignored.
func (l *Log) FoldPush(p *pb.Push) {
	if l.disabled {
		return
	}
	switch m := p.GetMsg().(type) {
	case *pb.Push_State:
		l.mu.Lock()
		for _, rec := range m.State.GetRecords() {
			l.foldLocked(rec, nil, false)
		}
		l.mu.Unlock()
	case *pb.Push_Durable:
		l.Durable(m.Durable.GetFile(), m.Durable.GetSeq(), m.Durable.GetHeld()...)
	case *pb.Push_Durables:
		for _, d := range m.Durables.GetFiles() {
			l.Durable(d.GetFile(), d.GetSeq(), d.GetHeld()...)
		}
	}
}

// Fold folds one record; data is the data of the call that made a
// WriteState record (the whole input: the record's length says how much
// was written), copied if retained.
func (l *Log) Fold(rec *pb.StateRecord, data []byte) {
	l.mu.Lock()
	l.foldLocked(rec, data, false)
	l.mu.Unlock()
}

func (l *Log) warnOnce(key, msg string, args ...any) {
	if l.warned[key] {
		return
	}
	l.warned[key] = true
	if l.warn != nil {
		l.warn(msg, args...)
	}
}

// foldLocked folds rec, whose write's data is data; own says the log
// may keep data itself (nothing changes it), else a write retains a
// copy. Precondition: l.mu is held.
func (l *Log) foldLocked(rec *pb.StateRecord, data []byte, own bool) {
	if rec == nil || rec.Key == "" {
		return
	}
	key, err := statekey.Parse(rec.Key)
	if err != nil {
		// Not a record this client can rebuild anything from: keeping
		// it would only make a Restore fail.
		l.warnOnce("badkey", "ignoring a state record with an unknown key", "err", err)
		return
	}
	if w := rec.GetWrite(); w != nil && len(w.Data) > 0 {
		// The server read these bytes itself (sendfile, splice, tee,
		// copy_file_range): they are the write's data, kept apart
		// from the record as a call's own bytes are.
		data, own = w.Data, false
		rec = proto.Clone(rec).(*pb.StateRecord)
		rec.GetWrite().Data = nil
	}
	if l.journal != nil {
		var jd []byte
		if w := rec.GetWrite(); w != nil && !rec.Deleted {
			jd = clip(data, w.Length)
		}
		l.journal.record(rec, jd)
	}
	l.noteOriginLocked(key, rec.Deleted)
	if rec.Deleted {
		l.deleteLocked(key)
		return
	}
	switch v := rec.Value.(type) {
	case *pb.StateRecord_Write:
		w := v.Write
		if w.Pipe != 0 {
			// Pipe bytes are retained in the pipe's stream, not as a
			// record: Restore sends them as PipeState.data.
			l.pipeWriteLocked(w, clip(data, w.Length))
			return
		}
		l.fileWriteLocked(w, data, own)
		return
	case *pb.StateRecord_Pipe:
		l.putLocked(key, rec)
		p := l.pipes[v.Pipe.Id]
		if p == nil {
			p = &pipeData{start: v.Pipe.Read, read: v.Pipe.Read}
			l.pipes[v.Pipe.Id] = p
		}
		if v.Pipe.Read > p.read {
			p.read = v.Pipe.Read
		}
		l.trimPipeLocked(p)
		return
	}
	l.putLocked(key, rec)
}

// putLocked stores rec under key (its parsed Key).
func (l *Log) putLocked(key statekey.Key, rec *pb.StateRecord) {
	n := proto.Size(rec)
	l.bytes += int64(n - l.recSize[key])
	l.records[key] = rec
	l.recSize[key] = n
}

// deleteLocked removes key and what it retains.
func (l *Log) deleteLocked(key statekey.Key) {
	switch key.Kind {
	case statekey.KindWrite:
		l.dropWriteLocked(key.ID)
	case statekey.KindPipe:
		if p := l.pipes[key.ID]; p != nil {
			l.bytes -= int64(len(p.data))
			l.dataBytes -= int64(len(p.data))
			delete(l.pipes, key.ID)
		}
	}
	l.removeRecordLocked(key)
}

func (l *Log) removeRecordLocked(key statekey.Key) {
	if _, ok := l.records[key]; !ok {
		return
	}
	l.bytes -= int64(l.recSize[key])
	delete(l.records, key)
	delete(l.recSize, key)
}

// pipeWriteLocked adds the bytes of a write to the pipe's stream at
// w.Offset.
func (l *Log) pipeWriteLocked(w *pb.WriteState, data []byte) {
	if w.Length > uint64(len(data))+maxPipePad {
		l.warnOnce("badpipewrite", "ignoring a pipe write record without its data", "seq", w.Seq, "pipe", w.Pipe, "length", w.Length)
		return
	}
	if uint64(len(data)) < w.Length {
		l.warnOnce("nopipedata", "a pipe write's data is not in its call; unread pipe bytes may be lost after a server failure",
			"seq", w.Seq, "pipe", w.Pipe, "length", w.Length, "have", len(data))
		// Keep the stream's positions right: pad with zeros.
		data = append(append([]byte(nil), data...), make([]byte, int(w.Length)-len(data))...)
	}
	p := l.pipes[w.Pipe]
	off := uint64(w.Offset)
	if p == nil {
		p = &pipeData{start: off}
		l.pipes[w.Pipe] = p
	}
	if len(p.data) == 0 && off >= p.start {
		p.start = off
	}
	before := len(p.data)
	switch end := p.end(); {
	case off == end:
		p.data = append(p.data, data...)
	case off > end:
		// A gap: bytes written by a call whose reply this log never saw.
		l.warnOnce("pipegap", "pipe bytes missing from the log", "pipe", w.Pipe, "have_until", end, "write_at", off)
		if off-end > maxPipePad {
			// Not worth padding: keep the newest bytes only.
			l.bytes -= int64(before)
			l.dataBytes -= int64(before)
			p.start, p.data, before = off, append([]byte(nil), data...), 0
			break
		}
		p.data = append(p.data, make([]byte, off-end)...)
		p.data = append(p.data, data...)
	default:
		// Overlap (a re-sent call reported again, or a write below the
		// stream's start): overwrite what is held, append the rest.
		for i, b := range data {
			pos := off + uint64(i)
			if pos < p.start {
				continue
			}
			if pos < p.end() {
				p.data[pos-p.start] = b
			} else {
				p.data = append(p.data, data[i:]...)
				break
			}
		}
	}
	l.bytes += int64(len(p.data) - before)
	l.dataBytes += int64(len(p.data) - before)
	l.trimPipeLocked(p)
}

// trimPipeLocked drops the bytes the pipe's readers consumed.
func (l *Log) trimPipeLocked(p *pipeData) {
	if p.read <= p.start {
		return
	}
	n := p.read - p.start
	if n >= uint64(len(p.data)) {
		l.bytes -= int64(len(p.data))
		l.dataBytes -= int64(len(p.data))
		p.data = nil
		p.start = p.read
		return
	}
	l.bytes -= int64(n)
	l.dataBytes -= int64(n)
	// Copy so the consumed prefix's memory is freed.
	p.data = append([]byte(nil), p.data[n:]...)
	p.start = p.read
}

// LogStats describe the log's size.
type LogStats struct {
	// Records is the number of live records.
	Records int
	// Bytes is the live size: encoded records plus retained data.
	Bytes int64
	// DataBytes is the retained data (file writes and unread pipe bytes).
	DataBytes int64
	// Writes is the number of retained writes to gofer files.
	Writes int
}

// Stats returns the log's size.
func (l *Log) Stats() LogStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LogStats{Records: len(l.records) + len(l.writes), Bytes: l.bytes, DataBytes: l.dataBytes, Writes: len(l.writes)}
}

// Empty says the log holds no record (nothing to restore).
func (l *Log) Empty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.records) == 0 && len(l.writes) == 0
}

// Record returns the live record key, or nil.
func (l *Log) Record(key statekey.Key) *pb.StateRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recordLocked(key)
}

// RestoreRecords returns every live record for a Restore, in a
// deterministic order, pipes carrying their unread bytes (PipeState.data).
// Records are shared with the log and must not be modified, except the
// pipe records, which are copies.
func (l *Log) RestoreRecords() []*pb.StateRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := l.sortedKeysLocked()
	out := make([]*pb.StateRecord, 0, len(keys))
	for _, k := range keys {
		rec := l.recordLocked(k)
		if ps := rec.GetPipe(); ps != nil {
			cp := proto.Clone(ps).(*pb.PipeState)
			cp.Data = l.unreadLocked(ps)
			rec = &pb.StateRecord{Key: rec.Key, Value: &pb.StateRecord_Pipe{Pipe: cp}}
		}
		out = append(out, rec)
	}
	return out
}

// unreadLocked returns the retained bytes at [read, written) of a pipe.
func (l *Log) unreadLocked(ps *pb.PipeState) []byte {
	p := l.pipes[ps.Id]
	if p == nil || ps.Written <= ps.Read {
		if ps.Written > ps.Read {
			l.warnOnce(fmt.Sprint("pipeloss", ps.Id), "unread pipe bytes are not in the log", "pipe", ps.Id, "unread", ps.Written-ps.Read)
		}
		return nil
	}
	lo, hi := max(ps.Read, p.start), min(ps.Written, p.end())
	if lo != ps.Read || hi != ps.Written {
		l.warnOnce(fmt.Sprint("pipeloss", ps.Id), "some unread pipe bytes are not in the log",
			"pipe", ps.Id, "read", ps.Read, "written", ps.Written, "have_from", p.start, "have_until", p.end())
	}
	if lo >= hi {
		return nil
	}
	return append([]byte(nil), p.data[lo-p.start:hi-p.start]...)
}

// RetainedWrites returns the retained writes to gofer files in seq order,
// as Rewrites (file handle, path, inode and device from the file's
// current FileState, else from when the write was made).
func (l *Log) RetainedWrites() []*pb.Rewrite {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*pb.Rewrite, 0, len(l.writes))
	for _, w := range l.writes {
		data := w.data
		if w.pooled || w.private {
			// A Durable push may give the buffer to the next write
			// while the Rewrite is still being sent, and a later
			// write's bytes may be patched into it (overlapLocked).
			data = append([]byte(nil), data...)
		}
		rw := &pb.Rewrite{Seq: w.seq, FileHandle: w.handle, Path: w.path, Offset: w.offset, Data: data, Ino: w.ino, Dev: w.dev}
		if f := l.records[statekey.File(w.file)].GetFile(); f != nil && w.mapped == 0 {
			if len(f.FileHandle) > 0 {
				rw.FileHandle = f.FileHandle
			}
			if len(f.Path) != 0 {
				rw.Path = f.Path
			}
			if f.Ino != 0 {
				rw.Ino, rw.Dev = f.Ino, f.Dev
			}
		}
		if m := l.records[statekey.Mapped(w.mapped)].GetMapped(); m != nil && w.mapped != 0 {
			if len(m.FileHandle) > 0 {
				rw.FileHandle = m.FileHandle
			}
			if len(m.Path) != 0 {
				rw.Path = m.Path
			}
			if m.Ino != 0 {
				rw.Ino, rw.Dev = m.Ino, m.Dev
			}
		}
		out = append(out, rw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// PipeBytes returns the retained bytes of pipe id and the stream position
// of the first.
func (l *Log) PipeBytes(id uint64) (start uint64, data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pipes[id]
	if p == nil {
		return 0, nil
	}
	return p.start, append([]byte(nil), p.data...)
}

// setPipeLocked installs retained pipe bytes (from a durable log
// snapshot).
func (l *Log) setPipeLocked(id, start uint64, data []byte) {
	if p := l.pipes[id]; p != nil {
		l.bytes -= int64(len(p.data))
		l.dataBytes -= int64(len(p.data))
	}
	p := &pipeData{start: start, data: append([]byte(nil), data...), read: start}
	if ps := l.records[statekey.Pipe(id)].GetPipe(); ps != nil && ps.Read > p.read {
		p.read = ps.Read
	}
	l.pipes[id] = p
	l.bytes += int64(len(p.data))
	l.dataBytes += int64(len(p.data))
	l.trimPipeLocked(p)
}

// sortedKeysLocked returns the keys of the live records in
// statekey.Compare order, so that a Restore and the debug dump read
// naturally. Precondition: l.mu is held.
func (l *Log) sortedKeysLocked() []statekey.Key {
	keys := make([]statekey.Key, 0, len(l.records)+len(l.writes))
	for k := range l.records {
		keys = append(keys, k)
	}
	for seq := range l.writes {
		keys = append(keys, statekey.Write(seq))
	}
	slices.SortFunc(keys, statekey.Compare)
	return keys
}

// clip returns data cut to n bytes.
func clip(data []byte, n uint64) []byte {
	if uint64(len(data)) > n {
		return data[:n]
	}
	return data
}

// writeData returns the bytes a write call gave the kernel, in order:
// write and pwrite64's buffer, the writev family's iovec buffers
// gathered, a PageWrite's pages; nil for other calls. own says they are
// the call's own bytes, copied out of the application's memory (or
// gathered here) for it alone, which the log may keep as they are; a
// leased copy's come from the read cache's copy of its file.
func writeData(call *pb.Call) (data []byte, own bool) {
	if pw := call.GetPageWrite(); pw != nil {
		return pw.Data, true
	}
	sc := call.GetSyscall()
	if sc == nil {
		return nil, false
	}
	switch uintptr(sc.Sysno) {
	case unix.SYS_SENDFILE, unix.SYS_COPY_FILE_RANGE:
		// The bytes the client read from its read lease (sendfile.go:
		// a slice of at least half the lease's data, which nothing
		// changes, a grant replaces it whole, or a copy of its own):
		// retained as they are, not copied (a whole file's copy on
		// the path of the fstat cp waits for next); else the record
		// carries them.
		return sc.LeasedData, true
	case unix.SYS_WRITE, unix.SYS_PWRITE64:
		if len(sc.Inputs) == 0 || len(sc.Args) < 3 {
			return nil, false
		}
		return sc.Inputs[0].Data, true
	case unix.SYS_WRITEV, unix.SYS_PWRITEV, unix.SYS_PWRITEV2:
		// Inputs are the iovec array, then each non-empty buffer in
		// iovec order (sysabi.Inputs).
		if len(sc.Inputs) < 2 {
			return nil, false
		}
		n := 0
		for _, r := range sc.Inputs[1:] {
			n += len(r.Data)
		}
		out := make([]byte, 0, n)
		for _, r := range sc.Inputs[1:] {
			out = append(out, r.Data...)
		}
		return out, true
	}
	return nil, false
}
