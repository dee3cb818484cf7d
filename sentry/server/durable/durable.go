package durable

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Description is a tracked file: an open file description, counted by
// reference.
type Description interface {
	comparable
	IncRef()
	DecRef()
}

// FlushBytes is how many written bytes not yet synced make the tracker
// ask its flusher for an early pass (Kick).
const FlushBytes = 8 << 20

// Write entry states.
const (
	wInflight = iota // the gofer RPC has not returned
	wDone            // written, not yet fsynced
	wSyncing         // an fsync that covers it is running
	wSynced          // on stable storage
	// wFailed: a Rewrite whose write failed. Not in the file, so never
	// announced: it holds the file's Durable below its seq, or is named
	// held by it (PassFailed), else a later write's Durable would drop
	// it at the client, which re-sends it at the next recovery.
	wFailed
)

// entry is one write's state.
type entry struct {
	state int
	sent  bool // the WriteState was sent to the client
	n     int64
	// end is the end of the bytes it wrote in the file (EndsBy).
	end int64
	// fail is a failed write's number (wFailed): the tracker's count of
	// failures when it failed (Fail), what FailedAfter reports.
	fail uint64
}

// fileWrites is one file's writes not yet announced durable.
type fileWrites struct {
	// entries are held by value: a write's Begin then allocates nothing
	// once the map has room (a file written in a loop reuses the slots
	// its announced writes left).
	entries map[uint64]entry
	// failed are the failed entries' ranges in the file, by seq (nil
	// while none is failed).
	failed map[uint64]span
}

// span is a failed write's range in its file: n bytes at off.
type span struct{ off, n int64 }

// Tracker is a client's writes not yet announced durable, by file. It
// holds a reference on each file it tracks, so that a file closed before
// its data is durable keeps its gofer handle (and its FileState) until
// then.
type Tracker[F Description] struct {
	// mu protects the fields below. It is a leaf lock.
	mu    sync.Mutex
	files map[F]*fileWrites
	bytes int64
	// fails counts the writes that failed (Fail): the number of the
	// last one.
	fails uint64
	// failedFiles are the files with a failed entry (nil while none
	// has); failing mirrors its length for Cover's check without the
	// lock.
	failedFiles map[F]struct{}
	failing     atomic.Int64
	// passFailed makes Announce pass failed entries, naming them held
	// (the client keeps those of a Durable's writes: Durable.held).
	// Set by PassFailed before the tracker is used; immutable after.
	passFailed bool
	// kick asks the flusher for an early pass. Immutable.
	kick chan struct{}
}

// NewTracker returns a tracker with no writes.
func NewTracker[F Description]() *Tracker[F] {
	return &Tracker[F]{files: make(map[F]*fileWrites), kick: make(chan struct{}, 1)}
}

// PassFailed makes Announce pass a failed write (Fail) instead of
// stopping below it, naming it among the announcement's held seqs: for
// a client that keeps the held writes of a Durable (Durable.held), so
// that the writes after a failed one are dropped once durable instead of
// kept with it (an application appending to the file grew the client's
// retained writes without bound). Called before the tracker is used.
func (d *Tracker[F]) PassFailed() { d.passFailed = true }

// Kick is sent a value when more than FlushBytes are written and not yet
// synced: the flusher's cue for an early pass.
func (d *Tracker[F]) Kick() <-chan struct{} { return d.kick }

// Holds reports whether d holds a reference on f.
func (d *Tracker[F]) Holds(f F) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.files[f] != nil
}

// Begin records that the write of call seq to f starts: again, for a
// seq begun before (a call run again, a failed write's Rewrite received
// again), which is in flight again whatever its state was.
func (d *Tracker[F]) Begin(f F, seq uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		f.IncRef()
		df = &fileWrites{entries: make(map[uint64]entry)}
		d.files[f] = df
	}
	e := df.entries[seq]
	if e.state == wFailed {
		d.unfailLocked(f, df, seq)
	}
	e.state = wInflight
	df.entries[seq] = e
}

// End records that the write of call seq to f wrote n bytes at off. It
// returns true if f has nothing pending any more: the caller then drops
// the tracker's reference (after every lock is dropped).
func (d *Tracker[F]) End(f F, seq uint64, off int64, n int) (release bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		return false
	}
	e, ok := df.entries[seq]
	if !ok {
		return false
	}
	if n <= 0 {
		delete(df.entries, seq)
		if len(df.entries) == 0 {
			delete(d.files, f)
			return true
		}
		return false
	}
	e.state = wDone
	e.n += int64(n)
	e.end = max(e.end, off+int64(n))
	df.entries[seq] = e
	d.bytes += int64(n)
	if d.bytes > FlushBytes {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
	return false
}

// Fail records that the write of call seq to f, begun, of n bytes at
// off, failed: the client keeps it (Announce names it held, or stops
// below it, keeping f's later writes too) until a truncation to 0
// supersedes it, a later write covers its range (Cover), the same seq
// begun again (a Rewrite received again) is written, or the tracker
// goes with its server. Each failure gets the next number (FailedAfter),
// a write failing again too.
func (d *Tracker[F]) Fail(f F, seq uint64, off, n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		return
	}
	if e, ok := df.entries[seq]; ok {
		d.bytes -= e.n
		d.fails++
		e.state, e.n, e.fail = wFailed, 0, d.fails
		df.entries[seq] = e
		if df.failed == nil {
			df.failed = make(map[uint64]span)
		}
		df.failed[seq] = span{off, n}
		if d.failedFiles == nil {
			d.failedFiles = make(map[F]struct{})
		}
		d.failedFiles[f] = struct{}{}
		d.failing.Store(int64(len(d.failedFiles)))
	}
}

// Failing says some file has a failed write held (Fail), without the
// lock: Cover's callers check it first.
func (d *Tracker[F]) Failing() bool { return d.failing.Load() != 0 }

// unfailLocked forgets that f's entry seq failed (its state changes).
// Precondition: d.mu is held.
func (d *Tracker[F]) unfailLocked(f F, df *fileWrites, seq uint64) {
	delete(df.failed, seq)
	if len(df.failed) == 0 {
		df.failed = nil
		delete(d.failedFiles, f)
		d.failing.Store(int64(len(d.failedFiles)))
	}
}

// Cover records that a write of n bytes at off, made after the failed
// writes (Fail) now held, is in the file: each failed write of a file
// keep accepts (descriptions of the same file) whose range it covers
// whole no longer holds its file's Durable, as written (it is synced
// and announced with the file's next sync). Its bytes are that write's
// now, as the client, which drops a retained write a later one covers
// (replaylog's overlapLocked), has them. It reports whether it covered
// one. keep runs under the tracker's lock: it must not take other locks.
// Without failed writes it costs an atomic load.
func (d *Tracker[F]) Cover(keep func(F) bool, off, n int64) bool {
	if d.failing.Load() == 0 || n <= 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	covered := false
	for f := range d.failedFiles {
		if !keep(f) {
			continue
		}
		df := d.files[f]
		for seq, sp := range df.failed {
			if sp.off < off || sp.off+sp.n > off+n {
				continue
			}
			e := df.entries[seq]
			e.state, e.fail = wDone, 0
			df.entries[seq] = e
			d.unfailLocked(f, df, seq)
			covered = true
		}
	}
	return covered
}

// FailedAfter returns the number of the latest failed write (Fail) held
// by a file keep accepts, if it is above seen (0, or a number it returned
// before); else 0. It is Linux's errseq of a writeback error
// (file_check_and_advance_wb_err): a caller that keeps, per open
// description, the number it last reported reports each failure once
// per description, and only while the write is held. keep runs under
// the tracker's lock: it must not take other locks.
func (d *Tracker[F]) FailedAfter(seen uint64, keep func(F) bool) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fails <= seen {
		return 0
	}
	var last uint64
	for f, df := range d.files {
		var fl uint64
		for _, e := range df.entries {
			if e.state == wFailed && e.fail > seen {
				fl = max(fl, e.fail)
			}
		}
		if fl > last && keep(f) {
			last = fl
		}
	}
	return last
}

// Failed says the write of call seq to f is a failed one (Fail) still
// held: not superseded, not begun again.
func (d *Tracker[F]) Failed(f F, seq uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if df := d.files[f]; df != nil {
		e, ok := df.entries[seq]
		return ok && e.state == wFailed
	}
	return false
}

// HasFailed says f has a failed write (Fail) still held: not
// superseded, covered or begun again.
func (d *Tracker[F]) HasFailed(f F) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	return df != nil && len(df.failed) > 0
}

// EndsBy reports whether each write of a file keep accepts that the
// client still retains (not announced durable) ends at or below length,
// none in flight and none failed: a size change to length removes none
// of their bytes, so they may stay retained across it (re-sent after a
// failure, they land below the size the change set, as they did before
// it). keep runs under the tracker's lock: it must not take other locks.
func (d *Tracker[F]) EndsBy(keep func(F) bool, length int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for f, df := range d.files {
		if !keep(f) {
			continue
		}
		if len(df.failed) > 0 {
			return false
		}
		for _, e := range df.entries {
			if e.state == wInflight || e.end > length {
				return false
			}
		}
	}
	return true
}

// MarkSent records that the WriteState of seq was sent.
func (d *Tracker[F]) MarkSent(f F, seq uint64) {
	d.mu.Lock()
	if df := d.files[f]; df != nil {
		if e, ok := df.entries[seq]; ok {
			e.sent = true
			df.entries[seq] = e
		}
	}
	d.mu.Unlock()
}

// StartSync marks f's written entries as being synced and returns their
// seqs (nil if there is nothing to sync).
func (d *Tracker[F]) StartSync(f F) []uint64 { return d.startSync(f, false) }

// StartSyncAll is StartSync that also takes the entries an fsync already
// running is syncing: for a caller that must know them synced by the time
// its own fsync returns, not when the other one does.
func (d *Tracker[F]) StartSyncAll(f F) []uint64 { return d.startSync(f, true) }

// startSync marks f's written entries (and, with syncing, those being
// synced) as being synced and returns their seqs.
func (d *Tracker[F]) startSync(f F, syncing bool) []uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		return nil
	}
	var seqs []uint64
	for seq, e := range df.entries {
		if e.state == wDone || (syncing && e.state == wSyncing) {
			e.state = wSyncing
			df.entries[seq] = e
			seqs = append(seqs, seq)
		}
	}
	return seqs
}

// Supersede marks f's written entries (those being synced too) as if
// synced: a change of the file that removed all their bytes (a
// truncation to 0) makes them useless to the client, on stable storage
// or not. Entries still in flight are not: their order with the change
// is unknown. Failed ones (Fail) are left to SupersedeFailed, once the
// change is made, when the tracker passes them (PassFailed): they are not
// in the file, so a change that then fails must leave them held, or their
// bytes are lost. Else they go too: the Durable announced before the
// change would stay below them, and the writes after them would outlive
// the change at the client and bring back what it removed.
func (d *Tracker[F]) Supersede(f F) {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		return
	}
	for seq, e := range df.entries {
		if e.state == wDone || e.state == wSyncing || e.state == wFailed && !d.passFailed {
			if e.state == wFailed {
				d.unfailLocked(f, df, seq)
			}
			e.state = wSynced
			df.entries[seq] = e
			d.bytes -= e.n
		}
	}
}

// SupersedeFailed marks f's failed entries (Fail) as if synced: a
// truncation to 0 was made, so their bytes would only come back. It
// reports whether there were any.
func (d *Tracker[F]) SupersedeFailed(f F) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil || len(df.failed) == 0 {
		return false
	}
	for seq := range df.failed {
		e := df.entries[seq]
		e.state, e.fail = wSynced, 0
		df.entries[seq] = e
		d.unfailLocked(f, df, seq)
	}
	return true
}

// EndSync records the outcome of the fsync that covered seqs.
func (d *Tracker[F]) EndSync(f F, seqs []uint64, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		return
	}
	for _, seq := range seqs {
		if e, found := df.entries[seq]; found && e.state == wSyncing {
			if ok {
				e.state = wSynced
				d.bytes -= e.n
			} else {
				e.state = wDone
			}
			df.entries[seq] = e
		}
	}
}

// Announce computes the Durable push for f: the highest seq such that
// every entry at or below it is synced and sent, dropping those entries;
// release says f has nothing pending any more (the caller drops the
// tracker's reference). A failed entry (Fail) stops it below its seq,
// unless the tracker passes them (PassFailed): then it stays, and held
// lists the failed entries below seq, which the client keeps.
func (d *Tracker[F]) Announce(f F) (seq uint64, held []uint64, ok bool, release bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		return 0, nil, false, false
	}
	seqs := make([]uint64, 0, len(df.entries))
	for s := range df.entries {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	var failed []uint64
	for _, s := range seqs {
		e := df.entries[s]
		if e.state == wFailed && d.passFailed {
			failed = append(failed, s)
			continue
		}
		if e.state != wSynced || !e.sent {
			break
		}
		seq, ok = s, true
		delete(df.entries, s)
	}
	for _, s := range failed {
		if s < seq {
			held = append(held, s)
		}
	}
	if len(df.entries) == 0 {
		delete(d.files, f)
		release = true
	}
	return seq, held, ok, release
}

// Pending returns the files with entries to sync or announce.
func (d *Tracker[F]) Pending() []F {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]F, 0, len(d.files))
	for f := range d.files {
		out = append(out, f)
	}
	return out
}

// HoldWhere returns the tracked files keep accepts, each with a reference
// taken for the caller, who drops it. keep runs under the tracker's lock:
// it must not take other locks.
func (d *Tracker[F]) HoldWhere(keep func(F) bool) []F {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []F
	for f := range d.files {
		if keep(f) {
			f.IncRef()
			out = append(out, f)
		}
	}
	return out
}

// ReleaseAll drops every tracked file (client teardown).
func (d *Tracker[F]) ReleaseAll() {
	d.mu.Lock()
	fs := d.files
	d.files = make(map[F]*fileWrites)
	d.failedFiles = nil
	d.failing.Store(0)
	d.mu.Unlock()
	for f := range fs {
		f.DecRef()
	}
}
