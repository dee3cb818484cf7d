package server

import (
	"sort"
	"sync"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// Durability (docs/ARCHITECTURE.md, "Recovery"): the client retains every write to a
// gofer file (a WriteState) until a Durable push covers it. The server
// tracks, per client and per gofer file description, the writes not yet
// announced durable; a background flusher (every flushInterval, or sooner
// once a client has more than flushBytes of them) makes those files
// durable through the gofer, with one batched Fsync per pass (a syncfs in
// the gofer), and pushes Durable{file, seq}. The application's own
// fsync, fdatasync, sync and syncfs do the same before they return.
//
// Durable{file, seq} is exact: every write to file with a seq at or below
// seq that the client could hold (its WriteState already sent) is on
// stable storage. A write in flight when the fsync began, or whose
// WriteState is not yet sent, holds the announced seq below its own.
const (
	flushInterval = 500 * time.Millisecond
	flushBytes    = 8 << 20
)

// Write entry states.
const (
	wInflight = iota // the gofer RPC has not returned
	wDone            // written, not yet fsynced
	wSyncing         // an fsync that covers it is running
	wSynced          // on stable storage
)

type durEntry struct {
	state int
	sent  bool // the WriteState was sent to the client
	n     int64
}

// durFile is one file's writes not yet announced durable.
type durFile struct {
	entries map[uint64]*durEntry
}

// durability is a client's tracker. It holds a reference on each file it
// tracks, so that a file closed before its data is durable keeps its
// gofer handle (and its FileState) until then.
type durability struct {
	// mu protects the fields below. It is a leaf lock.
	mu    sync.Mutex
	files map[*file]*durFile
	bytes int64
	// kick asks the flusher for an early pass.
	kick chan struct{}
}

func (d *durability) init() {
	d.files = make(map[*file]*durFile)
	d.kick = make(chan struct{}, 1)
}

// holds reports whether d holds a reference on f.
func (d *durability) holds(f *file) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.files[f] != nil
}

// begin records that the write of call seq to f starts.
func (d *durability) begin(f *file, seq uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		f.incRef()
		df = &durFile{entries: make(map[uint64]*durEntry)}
		d.files[f] = df
	}
	if e := df.entries[seq]; e != nil {
		e.state = wInflight
		return
	}
	df.entries[seq] = &durEntry{state: wInflight}
}

// end records that the write of call seq to f wrote n bytes. It returns a
// file to release (after every lock is dropped) if f has nothing pending.
func (d *durability) end(f *file, seq uint64, n int) *file {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		return nil
	}
	e := df.entries[seq]
	if e == nil {
		return nil
	}
	if n <= 0 {
		delete(df.entries, seq)
		if len(df.entries) == 0 {
			delete(d.files, f)
			return f
		}
		return nil
	}
	e.state = wDone
	e.n += int64(n)
	d.bytes += int64(n)
	if d.bytes > flushBytes {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// markSent records that the WriteState of seq was sent.
func (d *durability) markSent(f *file, seq uint64) {
	d.mu.Lock()
	if df := d.files[f]; df != nil {
		if e := df.entries[seq]; e != nil {
			e.sent = true
		}
	}
	d.mu.Unlock()
}

// startSync marks f's written entries as being synced and returns their
// seqs (nil if there is nothing to sync).
func (d *durability) startSync(f *file) []uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		return nil
	}
	var seqs []uint64
	for seq, e := range df.entries {
		if e.state == wDone {
			e.state = wSyncing
			seqs = append(seqs, seq)
		}
	}
	return seqs
}

// endSync records the outcome of the fsync that covered seqs.
func (d *durability) endSync(f *file, seqs []uint64, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	df := d.files[f]
	if df == nil {
		return
	}
	for _, seq := range seqs {
		if e := df.entries[seq]; e != nil && e.state == wSyncing {
			if ok {
				e.state = wSynced
				d.bytes -= e.n
			} else {
				e.state = wDone
			}
		}
	}
}

// announceLocked computes the Durable push for f: the highest seq such
// that every entry at or below it is synced and sent, dropping those
// entries. Precondition: d.mu is held.
func (d *durability) announceLocked(f *file) (seq uint64, ok bool, release bool) {
	df := d.files[f]
	if df == nil {
		return 0, false, false
	}
	seqs := make([]uint64, 0, len(df.entries))
	for s := range df.entries {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, s := range seqs {
		e := df.entries[s]
		if e.state != wSynced || !e.sent {
			break
		}
		seq, ok = s, true
		delete(df.entries, s)
	}
	if len(df.entries) == 0 {
		delete(d.files, f)
		release = true
	}
	return seq, ok, release
}

// pending returns the files with entries to sync or announce.
func (d *durability) pending() []*file {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*file, 0, len(d.files))
	for f := range d.files {
		out = append(out, f)
	}
	return out
}

// releaseAll drops every tracked file (client teardown).
func (d *durability) releaseAll() {
	d.mu.Lock()
	fs := d.files
	d.files = make(map[*file]*durFile)
	d.mu.Unlock()
	for f := range fs {
		f.decRef()
	}
}

// announceDurable pushes Durable for f if some of its writes became
// durable and their WriteStates were sent.
func (k *clientState) announceDurable(f *file) {
	var release bool
	err := k.sendBuilt(func() *sentrypb.ServerMessage {
		k.dur.mu.Lock()
		seq, ok, rel := k.dur.announceLocked(f)
		k.dur.mu.Unlock()
		release = rel
		if !ok {
			return nil
		}
		return &sentrypb.ServerMessage{Msg: &sentrypb.ServerMessage_Push{Push: &sentrypb.Push{Msg: &sentrypb.Push_Durable{
			Durable: &sentrypb.Durable{File: k.fileID(f), Seq: seq}}}}}
	})
	if err != nil {
		k.log.Debug("durable push dropped", "err", err)
	}
	if release {
		f.decRef()
	}
}

// maxSyncBatch bounds the files of one batched gofer Fsync.
const maxSyncBatch = 1024

// flushAll flushes every file with writes not yet announced durable, with
// one gofer Fsync for all of them (a syncfs in the gofer: one disk flush
// instead of one per file), and announces them.
func (k *clientState) flushAll() {
	files := k.dur.pending()
	type syncing struct {
		f    *file
		h    uint64
		seqs []uint64
	}
	var batch []syncing
	for _, f := range files {
		seqs := k.dur.startSync(f)
		if len(seqs) == 0 {
			continue
		}
		h, ok := handleOfFile(f)
		if !ok {
			k.log.Warn("background fsync: a tracked file has no gofer handle")
			k.dur.endSync(f, seqs, false)
			continue
		}
		batch = append(batch, syncing{f, h, seqs})
	}
	for len(batch) > 0 {
		n := min(len(batch), maxSyncBatch)
		hs := make([]uint64, n)
		for i := range hs {
			hs[i] = batch[i].h
		}
		err := k.vfs.fsyncMany(hs)
		for _, s := range batch[:n] {
			ferr := err
			if err != nil && n > 1 {
				// One file's failure (a handle lost to a gofer restart)
				// must not hold back the others: each on its own.
				ferr = k.vfs.fsync(s.h, false)
			}
			if ferr != nil {
				k.log.Warn("background fsync failed", "err", ferr)
			}
			k.dur.endSync(s.f, s.seqs, ferr == nil)
		}
		batch = batch[n:]
	}
	for _, f := range files {
		k.announceDurable(f)
	}
}

// fsyncMany makes the files of handles hs durable: by an fsync for one,
// else by one Fsync naming them all, which the gofer serves with syncfs.
// Durability is the server's to account (durability.startSync): writes
// acknowledged before the call are covered.
func (v *vfs) fsyncMany(hs []uint64) error {
	if len(hs) == 1 {
		return v.fsync(hs[0], false)
	}
	ctx, cancel := v.rpcCtx()
	defer cancel()
	r, err := v.k.gofer.Fsync(ctx, &goferpb.FsyncRequest{Handle: hs[0], Handles: hs[1:]})
	return syserr.FromGofer("fsync", r.GetErrno(), err)
}

// flusher runs flushAll every flushInterval, or when kicked, until the
// client is freed.
func (k *clientState) flusher() {
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-k.done:
			return
		case <-t.C:
		case <-k.dur.kick:
		}
		k.flushAll()
	}
}
