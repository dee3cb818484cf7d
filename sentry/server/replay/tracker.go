package replay

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Order is when an object's record is derived within one message: lower
// first. A derivation may touch objects of any order; they are derived
// in the same message.
type Order int

// Tracker collects the objects whose replay records changed. A nil
// *Tracker is not valid; the server's wrappers check for nil.
type Tracker[E any] struct {
	// lastID is the last object id allocated (atomic: ids are assigned
	// under various server locks).
	lastID atomic.Uint64
	// reserved is the next object id the last allocators' record
	// reported (ReserveIDs; atomic): a restored server allocates from
	// it, so ids below it need no record of their own.
	reserved atomic.Uint64

	// mu protects the fields below. It is a leaf lock.
	mu sync.Mutex
	// touched holds the touched objects.
	touched touchSet
	// ids says an id was allocated or bumped since the last message.
	ids bool
	// effects are the uncommitted effects of calls, by seq.
	effects map[uint64]E
	// spare is the last message's Collection once derived: the next Take
	// reuses its buffers (nil while it is in use).
	spare *Collection[E]
}

// touchSet is a set of touched objects in the order they were touched,
// reused from message to message: a message touches a few objects, so
// it is a slice searched linearly, with an index once it grows.
type touchSet struct {
	objs  []touchedObj
	index map[touchedObj]struct{}
}

// touchedObj is an object touched in an order.
type touchedObj struct {
	order Order
	obj   any
}

// indexFrom is the size from which a touchSet indexes its objects.
const indexFrom = 16

// add adds obj in order unless it is there already.
func (s *touchSet) add(order Order, obj any) {
	o := touchedObj{order, obj}
	if s.index != nil && len(s.objs) >= indexFrom {
		if _, ok := s.index[o]; ok {
			return
		}
		s.index[o] = struct{}{}
		s.objs = append(s.objs, o)
		return
	}
	for _, t := range s.objs {
		if t == o {
			return
		}
	}
	s.objs = append(s.objs, o)
	if len(s.objs) == indexFrom {
		if s.index == nil {
			s.index = make(map[touchedObj]struct{}, 2*indexFrom)
		}
		for _, t := range s.objs {
			s.index[t] = struct{}{}
		}
	}
}

// reset empties s, keeping its buffers (an index that grew large is
// dropped rather than kept).
func (s *touchSet) reset() {
	clear(s.objs)
	s.objs = s.objs[:0]
	if len(s.index) > 1024 {
		s.index = nil
	} else {
		clear(s.index)
	}
}

// NewTracker returns an empty tracker.
func NewTracker[E any]() *Tracker[E] {
	return &Tracker[E]{effects: make(map[uint64]E)}
}

// Touch says obj's record changed. obj must be comparable (a pointer or
// a small key value).
func (t *Tracker[E]) Touch(order Order, obj any) {
	t.mu.Lock()
	t.touched.add(order, obj)
	t.mu.Unlock()
}

// IDsChanged says the id allocators' record must go with the next
// message.
func (t *Tracker[E]) IDsChanged() {
	t.mu.Lock()
	t.ids = true
	t.mu.Unlock()
}

// idReserve is how many ids the allocators' record reserves ahead of
// the last one allocated: a new object's id makes the next message carry
// that record only once in idReserve ids, not per object (a restored
// server skips the ids reserved and not used: only a gap).
const idReserve = 1024

// NewID allocates an object id; one past the ids the last allocators'
// record reserved makes the next message carry a new one.
func (t *Tracker[E]) NewID() uint64 {
	id := t.lastID.Add(1)
	if id >= t.reserved.Load() {
		t.IDsChanged()
	}
	return id
}

// BumpID makes later ids greater than id.
func (t *Tracker[E]) BumpID(id uint64) {
	for {
		cur := t.lastID.Load()
		if cur >= id || t.lastID.CompareAndSwap(cur, id) {
			return
		}
	}
}

// NextID is the id NewID would allocate next.
func (t *Tracker[E]) NextID() uint64 { return t.lastID.Load() + 1 }

// ReserveIDs returns the next object id of the allocators' record being
// built: idReserve ids past NextID, which need no record until NewID
// reaches it.
func (t *Tracker[E]) ReserveIDs() uint64 {
	next := t.NextID() + idReserve
	for {
		cur := t.reserved.Load()
		if cur >= next {
			return cur
		}
		if t.reserved.CompareAndSwap(cur, next) {
			return next
		}
	}
}

// SetEffects registers the effects of call seq, handed back by the Take
// that builds its reply.
func (t *Tracker[E]) SetEffects(seq uint64, e E) {
	t.mu.Lock()
	t.effects[seq] = e
	t.mu.Unlock()
}

// Reset forgets every touched object and marks the id allocators
// changed (a Restore: the client has the state already).
func (t *Tracker[E]) Reset() {
	t.mu.Lock()
	t.touched.reset()
	t.ids = true
	t.mu.Unlock()
}

// Take starts the records of one message: it hands over the touched
// objects (the tracker starts afresh) and, for the reply to call
// replySeq, that call's effects. It returns nil when there is nothing to
// report.
func (t *Tracker[E]) Take(replySeq uint64, isReply bool) *Collection[E] {
	t.mu.Lock()
	defer t.mu.Unlock()
	var eff E
	hasEff := false
	if isReply {
		eff, hasEff = t.effects[replySeq]
		delete(t.effects, replySeq)
	}
	if len(t.touched.objs) == 0 && !t.ids && !hasEff {
		return nil
	}
	c := t.spare
	t.spare = nil
	if c == nil {
		c = &Collection[E]{t: t}
	}
	c.touched, t.touched = t.touched, c.touched
	c.ids, c.Effects, c.HasEffects, c.ReplySeq = t.ids, eff, hasEff, replySeq
	t.ids = false
	return c
}

// TakeEffects starts the records that must go with the reply to call
// replySeq when that reply is held for a later message (a posted call's,
// in a batch): that call's effects alone. The touched objects stay for
// the message that carries the reply out, whose Take reports each of
// them once however many held replies touched it. It returns nil when
// the call registered no effects.
func (t *Tracker[E]) TakeEffects(replySeq uint64) *Collection[E] {
	t.mu.Lock()
	defer t.mu.Unlock()
	eff, ok := t.effects[replySeq]
	if !ok {
		return nil
	}
	delete(t.effects, replySeq)
	c := t.spare
	t.spare = nil
	if c == nil {
		c = &Collection[E]{t: t}
	}
	c.Effects, c.HasEffects, c.ReplySeq = eff, true, replySeq
	return c
}

// TakeEffectsIf hands over the effects of call replySeq if they are
// some (SetEffects) and pick says so of them, and forgets them: the
// caller commits them itself, touching what they changed on the Tracker
// (Touch) for the next message (a posted write's packed reply: its
// description's record goes once for the whole batch). pick runs under
// the Tracker's lock and must not call it.
func (t *Tracker[E]) TakeEffectsIf(replySeq uint64, pick func(E) bool) (E, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	eff, ok := t.effects[replySeq]
	if !ok || !pick(eff) {
		var none E
		return none, false
	}
	delete(t.effects, replySeq)
	return eff, true
}

// Collection is the records of one message being built. It is used by
// one goroutine, from Take to Derive; Derive hands its buffers back to
// the Tracker.
type Collection[E any] struct {
	t *Tracker[E]
	// touched are the objects to derive; those before derived are done.
	touched touchSet
	derived int
	ids     bool
	// recs are the records derived or added (a buffer reused from
	// message to message: Derive returns a copy).
	recs []*sentrypb.StateRecord

	// Effects are the effects of call ReplySeq when HasEffects (the
	// message is its reply).
	Effects    E
	HasEffects bool
	ReplySeq   uint64
}

// Touch adds obj to this message's objects (a derivation that needs
// obj's record to go with its own, or a committed effect).
// An object derived already in this message is not derived again: its
// record cannot have changed under the locks the derivation holds.
func (c *Collection[E]) Touch(order Order, obj any) { c.touched.add(order, obj) }

// Add adds a record that is not an object's (a committed effect's).
func (c *Collection[E]) Add(rec *sentrypb.StateRecord) {
	if rec != nil {
		c.recs = append(c.recs, rec)
	}
}

// Deriver returns the current record of a touched object (nil: none),
// touching on c the objects whose records must go with it.
type Deriver[E any] func(c *Collection[E], order Order, obj any) *sentrypb.StateRecord

// Derive derives the records of the touched objects in ascending order,
// then appends the id allocators' record (from idsRecord) if an id
// changed, and returns the records in message order (a slice of the
// caller's). c is done: its buffers go back to the Tracker.
func (c *Collection[E]) Derive(derive Deriver[E], idsRecord func() *sentrypb.StateRecord) []*sentrypb.StateRecord {
	for c.derived < len(c.touched.objs) {
		// The lowest order left first; derive appends the objects it
		// touches, to be derived in a later round.
		pending := c.touched.objs[c.derived:]
		slices.SortStableFunc(pending, func(a, b touchedObj) int { return cmp.Compare(a.order, b.order) })
		lowest, end := pending[0].order, c.derived
		for end < len(c.touched.objs) && c.touched.objs[end].order == lowest {
			end++
		}
		for ; c.derived < end; c.derived++ {
			c.Add(derive(c, lowest, c.touched.objs[c.derived].obj))
		}
	}
	// Deriving may have allocated ids.
	c.t.mu.Lock()
	ids := c.ids || c.t.ids
	c.t.ids = false
	c.t.mu.Unlock()
	if ids {
		c.Add(idsRecord())
	}
	// slices' sort: sort.SliceStable's swapper and closure were 2 of a
	// call's allocations.
	slices.SortStableFunc(c.recs, func(a, b *sentrypb.StateRecord) int { return cmp.Compare(recRank(a.Key), recRank(b.Key)) })
	var recs []*sentrypb.StateRecord
	if len(c.recs) > 0 {
		recs = slices.Clone(c.recs)
	}
	c.release()
	return recs
}

// release empties c and makes it the Tracker's spare.
func (c *Collection[E]) release() {
	c.touched.reset()
	c.derived = 0
	clear(c.recs)
	c.recs = c.recs[:0]
	var none E
	c.Effects, c.HasEffects, c.ReplySeq, c.ids = none, false, 0, false
	c.t.mu.Lock()
	c.t.spare = c
	c.t.mu.Unlock()
}

// recRank orders records so that a reader folding them one by one sees
// objects before the records naming them (not required by the protocol:
// the client folds a whole message before using it).
func recRank(key string) int {
	k, _ := statekey.Parse(key)
	switch k.Kind {
	case statekey.KindPipe:
		return 0
	case statekey.KindFile:
		return 1
	case statekey.KindFD:
		return 2
	}
	return 3
}
