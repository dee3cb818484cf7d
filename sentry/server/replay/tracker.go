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

	// mu protects the fields below. It is a leaf lock.
	mu sync.Mutex
	// touched holds the touched objects by order.
	touched map[Order]map[any]struct{}
	// ids says an id was allocated or bumped since the last message.
	ids bool
	// effects are the uncommitted effects of calls, by seq.
	effects map[uint64]E
}

// NewTracker returns an empty tracker.
func NewTracker[E any]() *Tracker[E] {
	return &Tracker[E]{touched: make(map[Order]map[any]struct{}), effects: make(map[uint64]E)}
}

// Touch says obj's record changed. obj must be comparable (a pointer or
// a small key value).
func (t *Tracker[E]) Touch(order Order, obj any) {
	t.mu.Lock()
	touch(t.touched, order, obj)
	t.mu.Unlock()
}

func touch(m map[Order]map[any]struct{}, order Order, obj any) {
	s := m[order]
	if s == nil {
		s = make(map[any]struct{})
		m[order] = s
	}
	s[obj] = struct{}{}
}

// IDsChanged says the id allocators' record must go with the next
// message.
func (t *Tracker[E]) IDsChanged() {
	t.mu.Lock()
	t.ids = true
	t.mu.Unlock()
}

// NewID allocates an object id. The caller calls IDsChanged (it may hold
// locks that order before mu; the flag is only read by Take).
func (t *Tracker[E]) NewID() uint64 { return t.lastID.Add(1) }

// BumpID makes later ids greater than id.
func (t *Tracker[E]) BumpID(id uint64) {
	for {
		cur := t.lastID.Load()
		if cur >= id || t.lastID.CompareAndSwap(cur, id) {
			return
		}
	}
}

// NextID is the id NewID would allocate next (the allocators' record).
func (t *Tracker[E]) NextID() uint64 { return t.lastID.Load() + 1 }

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
	t.touched = make(map[Order]map[any]struct{})
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
	if len(t.touched) == 0 && !t.ids && !hasEff {
		return nil
	}
	c := &Collection[E]{t: t, touched: t.touched, ids: t.ids, Effects: eff, HasEffects: hasEff, ReplySeq: replySeq}
	t.touched = make(map[Order]map[any]struct{})
	t.ids = false
	return c
}

// Collection is the records of one message being built. It is used by
// one goroutine.
type Collection[E any] struct {
	t       *Tracker[E]
	touched map[Order]map[any]struct{}
	ids     bool
	recs    []*sentrypb.StateRecord

	// Effects are the effects of call ReplySeq when HasEffects (the
	// message is its reply).
	Effects    E
	HasEffects bool
	ReplySeq   uint64
}

// Touch adds obj to this message's objects (a derivation that needs
// obj's record to go with its own, or a committed effect).
func (c *Collection[E]) Touch(order Order, obj any) { touch(c.touched, order, obj) }

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
// changed, and returns the records in message order.
func (c *Collection[E]) Derive(derive Deriver[E], idsRecord func() *sentrypb.StateRecord) []*sentrypb.StateRecord {
	for len(c.touched) > 0 {
		lowest, first := Order(0), true
		for o := range c.touched {
			if first || o < lowest {
				lowest, first = o, false
			}
		}
		objs := c.touched[lowest]
		delete(c.touched, lowest)
		for obj := range objs {
			c.Add(derive(c, lowest, obj))
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
	return c.recs
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
