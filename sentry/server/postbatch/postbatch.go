package postbatch

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// MaxHeld bounds the replies held at once: the next one goes out with
// them.
const MaxHeld = 64

// Replies are the replies to posted calls held back for the next message.
// The zero value is empty. Not safe for concurrent use: its owner's send
// lock protects it.
type Replies struct {
	held []*sentrypb.Reply
	// done are the held replies that carry a result alone, packed
	// (HoldDone); nil when none are held.
	done *sentrypb.PostedDone
	// writes are the held replies of writes behind, packed (HoldWrite);
	// nil when none are held.
	writes *sentrypb.PostedWrites
	// lastDone and lastWrites are how many results and writes the last
	// batch taken held: the next one's arrays are made that large at
	// once (HoldDone, HoldWrite).
	lastDone, lastWrites int
	// urgent says a reply held since the last ones went is of a call
	// the client may wait for (MarkUrgent): they may not linger.
	urgent bool
	// Packed says the client takes the replies that carry a result alone
	// packed (FeaturePostedDone: sentrypb.PostedDone), PackedWrites those
	// of writes behind (FeaturePostedWrites: HoldWrite). Set by the
	// owner before the first Hold.
	Packed, PackedWrites bool
}

// MarkUrgent says a reply being held (or just held) is of a call whose
// reply the client may wait for (no Syscall.reply_can_wait): the held
// replies go with the next message the owner must send, they do not
// linger (CanLinger) until they are taken.
func (b *Replies) MarkUrgent() { b.urgent = true }

// Urgent says a reply held since the last ones went is of a call the
// client may wait for (MarkUrgent).
func (b *Replies) Urgent() bool { return b.urgent }

// CanLinger says replies are held and the client waits for none of them:
// the owner may keep them past the end of their batch, for its next
// message, within its bound.
func (b *Replies) CanLinger() bool { return b.Len() > 0 && !b.urgent }

// Hold keeps r for the next message and reports true, unless MaxHeld are
// held already: then it reports false and the caller sends r now (with
// the held ones, Attach).
func (b *Replies) Hold(r *sentrypb.Reply) bool {
	// Counting the packed ones too: a result refused by HoldDone for
	// want of room went whole, a Reply decoded on the client each,
	// 64 more to a batch.
	if b.Len() >= MaxHeld {
		return false
	}
	b.held = append(b.held, r)
	return true
}

// HoldWrite keeps the reply of posted write seq, which returned ret and
// carries nothing else (ResultAlone), packed with what the write did
// (sentrypb.PostedWrites: it wrote at offset of description file and
// left its offset at movedTo, -1: not moved), and reports true, unless
// the client does not take such replies (PackedWrites) or MaxHeld are
// held already: then it reports false and holds nothing. The caller
// checks Room before it commits what the packed reply says.
func (b *Replies) HoldWrite(seq uint64, ret int64, file uint64, offset, movedTo int64) bool {
	if !b.Room() {
		return false
	}
	w := b.writes
	if w == nil {
		w = newPostedWrites(min(max(b.lastWrites, minWritesRoom), MaxHeld))
		b.writes = w
	}
	w.Seq = append(w.Seq, seq)
	w.Ret = append(w.Ret, ret)
	w.File = append(w.File, file)
	w.Offset = append(w.Offset, offset)
	w.MovedTo = append(w.MovedTo, movedTo)
	return true
}

// minWritesRoom is the least room a batch's packed writes (or results)
// are made with.
const minWritesRoom = 8

// HoldDone keeps the reply of posted call seq, which returned ret and
// carries nothing else (ResultAlone: the caller checked), packed
// (sentrypb.PostedDone), and reports true, unless the client does not
// take such replies (Packed) or MaxHeld are held already: then it
// reports false and holds nothing. Its values are copied: the caller may
// reuse the Reply (a Task's, the thread's spare for its next call: a
// posted umask, close or chmod then allocates none: TestSpareTaskOfResults).
func (b *Replies) HoldDone(seq uint64, ret int64) bool {
	if !b.Packed || b.Len() >= MaxHeld {
		return false
	}
	d := b.done
	if d == nil {
		n := min(max(b.lastDone, minWritesRoom), MaxHeld)
		d = &sentrypb.PostedDone{Seq: make([]uint64, 0, n), Ret: make([]int64, 0, n)}
		b.done = d
	}
	d.Seq = append(d.Seq, seq)
	d.Ret = append(d.Ret, ret)
	return true
}

// newPostedWrites returns packed writes with room for n in each of its
// five arrays, made in two allocations (not five grown by append, a
// dozen allocations for a batch of 32): the arrays of one type share
// one, each capped so that an append past its room moves it out rather
// than writing over the next.
func newPostedWrites(n int) *sentrypb.PostedWrites {
	u := make([]uint64, 2*n)
	i := make([]int64, 3*n)
	return &sentrypb.PostedWrites{
		Seq: u[:0:n], File: u[n : n : 2*n],
		Ret: i[:0:n], Offset: i[n : n : 2*n], MovedTo: i[2*n : 2*n : 3*n],
	}
}

// Room says whether a write's reply may be held packed now (HoldWrite).
func (b *Replies) Room() bool { return b.PackedWrites && b.Len() < MaxHeld }

// Len is the number of replies held.
func (b *Replies) Len() int { return len(b.held) + len(b.done.GetSeq()) + len(b.writes.GetSeq()) }

// Attach puts the held replies in front of m's content
// (ServerMessage.posted_replies, and posted_done when Packed,
// posted_writes) and forgets them; it returns m.
func (b *Replies) Attach(m *sentrypb.ServerMessage) *sentrypb.ServerMessage {
	if b.Len() == 0 {
		return m
	}
	full, done, writes := b.take()
	m.PostedReplies = append(full, m.PostedReplies...)
	m.PostedDone, m.PostedWrites = done, writes
	return m
}

// Take returns the held replies as a message of their own, nil if none
// are held, and forgets them.
func (b *Replies) Take() *sentrypb.ServerMessage {
	if b.Len() == 0 {
		return nil
	}
	return b.Attach(&sentrypb.ServerMessage{})
}

// TakeInto puts the held replies in r, a call channel's reply
// (Reply.posted_replies, posted_done and posted_writes), and forgets
// them.
func (b *Replies) TakeInto(r *sentrypb.Reply) {
	r.PostedReplies, r.PostedDone, r.PostedWrites = b.take()
}

// take returns the held replies, those that carry a result alone packed
// in done when Packed, and the writes' packed ones, and forgets them.
// Results held packed (HoldDone) are done as they are: a reply held
// whole beside them goes whole, since the client merges each list in seq
// order and done's must stay so.
func (b *Replies) take() (full []*sentrypb.Reply, done *sentrypb.PostedDone, writes *sentrypb.PostedWrites) {
	held, done, writes := b.held, b.done, b.writes
	b.held, b.done, b.writes, b.urgent = nil, nil, nil, false
	if writes != nil {
		b.lastWrites = len(writes.Seq)
	}
	if done != nil {
		b.lastDone = len(done.Seq)
	}
	if !b.Packed || done != nil {
		return held, done, writes
	}
	full = held[:0]
	for _, r := range held {
		if !ResultAlone(r) {
			full = append(full, r)
			continue
		}
		if done == nil {
			done = &sentrypb.PostedDone{Seq: make([]uint64, 0, len(held)), Ret: make([]int64, 0, len(held))}
		}
		done.Seq = append(done.Seq, r.Seq)
		done.Ret = append(done.Ret, r.Ret)
	}
	if len(full) == 0 {
		full = nil
	}
	return full, done, writes
}

// ResultAlone reports whether r carries nothing but its seq and ret: no
// other field of Reply is set and it has no unknown fields. It looks at
// each field rather than sizing r: sizing walked every nested record and
// lease of a reply that had them, and took ~0.5 µs for one that had
// none, twice for each held reply (when held, and when taken with its
// records). TestResultAlone sets each field Reply has, so a field added
// to Reply and not here fails it rather than being lost by packing.
func ResultAlone(r *sentrypb.Reply) bool {
	return r.Errno == 0 && len(r.Outputs) == 0 && r.Action == nil && len(r.State) == 0 &&
		len(r.Mapped) == 0 && r.Lease == nil && r.LeaseRevoke == nil && r.IdleLease == nil && r.PathLease == nil &&
		len(r.Listed) == 0 && r.OpenedFile == 0 && len(r.ParentStat) == 0 && len(r.OpenedStat) == 0 &&
		r.DirListing == nil && r.DirListingPrefix == 0 && !r.ListingEof && len(r.Ahead) == 0 &&
		r.SendRoom == 0 && r.PipeRoom == 0 && len(r.PipeAhead) == 0 && !r.PipeAheadPartial && r.CompleteNames == nil &&
		r.CwdIno == 0 && r.RemovedIno == 0 && len(r.FailedPath) == 0 && !r.FailedCwd && len(r.PostedReplies) == 0 &&
		r.PostedDone == nil && r.PostedWrites == nil && r.Written == nil && r.AheadLeases == nil && !r.HostFd && r.ReapedPid == 0 &&
		r.Unencodable == "" && !r.RewriteDurable && !r.RewriteGone && r.ProcData == nil &&
		len(r.ProtoReflect().GetUnknown()) == 0
}

// Drop forgets the held replies: their stream is gone, and the client
// re-sends the calls on its next one.
func (b *Replies) Drop() { b.held, b.done, b.writes, b.urgent = nil, nil, nil, false }
