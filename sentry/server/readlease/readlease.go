package readlease

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTTL is how long a lease lasts. It bounds how long a client may
// answer from a file that someone outside this server (the host, another
// server sharing the gofer) changed, and how long a change waits for a
// client that does not acknowledge its revocation.
const DefaultTTL = time.Second

// lifeTTLs is how many TTLs a lease lives at most from its grant, however
// often it is renewed (Holder.Renew): it bounds how long a client may
// answer from a file changed where this server does not see it.
const lifeTTLs = 10

// maxUnacked is how many revocations a client may leave unacknowledged
// until their leases expire before it is granted no more leases (a
// client that never acknowledges would make every change of a file it
// reads wait for the lease's expiry).
const maxUnacked = 3

// Key names an inode: the gofer's device and inode numbers.
type Key struct{ Dev, Ino uint64 }

// Version is what a change of a file's data or attributes changes: its
// size, mtime and ctime (not the atime, which reads move).
type Version struct {
	Size             uint64
	MtimeNs, CtimeNs int64
}

// Registry is the server's read leases, shared by its clients.
type Registry struct {
	ttl time.Duration
	// now is time.Now (tests move it). Immutable after New.
	now func() time.Time

	// mu protects the fields below.
	mu     sync.Mutex
	nextID uint64
	files  map[Key]*fileLeases
	// spare are entries gcLocked dropped from files, for entryLocked to
	// reuse (at most maxSpareEntries): a change of a file no client
	// leases makes and drops an entry per key (BeginChange: six an
	// inode), each posted chown, chmod or creation of a tar, and a run
	// of unlinks as many for each of its up to 256 inodes; a path grant
	// reuses those its pruning dropped (a listing's worth, in find).
	spare []*fileLeases
	// pathGen counts the changes of anything a path lease may cover
	// (every Changed, DirChanged, ChangedAll, ChangedPaths), and
	// pathChanges keeps the last pathChangeLog of them by count
	// (pathchanges.go): a path grant fails if one since its ticket
	// revoked one of its keys (BeginPath).
	pathGen     uint64
	pathChanges [pathChangeLog]pathChange
	// changing counts the changes announced and not yet ended
	// (BeginChange): while it is not 0, a path grant checks its keys.
	changing int
	// holders numbers the holders made (Holder.serial).
	holders uint64

	// cycleMu protects cycleCh, closed (and replaced) whenever what
	// breaksCycle reads changes. A leaf lock.
	cycleMu sync.Mutex
	cycleCh chan struct{}
	// cyclesBroken counts the waits breaksCycle ended (tests).
	cyclesBroken atomic.Uint64
}

// fileLeases are the leases on one inode (Registry.files). Protected by
// Registry.mu.
type fileLeases struct {
	// changes counts the changes seen; a grant begun at another count
	// fails.
	changes uint64
	// pending counts grants begun and not yet ended (the entry stays
	// while any is).
	pending int
	// changing counts the changes of the inode announced and not yet
	// ended (BeginChange): no lease is granted on it meanwhile (the
	// entry stays while any is).
	changing int
	// version is what the live leases were granted at.
	version Version
	// leases are the live leases, of every holder, in the order granted
	// (Grant, GrantPath, Owned.Grant append; revocations, forgetLocked
	// and Close take them off). Up to len(inline) of them sit in inline,
	// which leases slices while they fit (entryLocked): a key is mostly
	// leased to one client, once or, asked again past half its life,
	// twice, and a map per holder and key made find's listings' grants
	// 12 % of the server's CPU.
	leases []heldLease
	inline [2]heldLease
}

// heldLease is one live lease on an inode (fileLeases.leases): its
// holder, id and expiry as granted (which the holder's renewals extend:
// expiryLocked).
type heldLease struct {
	h      *Holder
	id     uint64
	expiry time.Time
}

// maxSpareEntries bounds Registry.spare (160 KB of entries): a run of
// unlinks' keys, most of them. At 64, an UnlinkMany of 64 files made
// 320 entries anew, a listing of 200 files 136.
const maxSpareEntries = 1024

// entryLocked returns k's entry, made (or a spare one reused, emptied)
// if it has none. Precondition: r.mu.
func (r *Registry) entryLocked(k Key) *fileLeases {
	if e := r.files[k]; e != nil {
		return e
	}
	var e *fileLeases
	if n := len(r.spare); n > 0 {
		// Emptied here, not when dropped: nothing may be left of the
		// key it was dropped from.
		e, r.spare = r.spare[n-1], r.spare[:n-1]
		*e = fileLeases{}
	} else {
		e = new(fileLeases)
	}
	e.leases = e.inline[:0]
	r.files[k] = e
	return e
}

// addLease records h's lease id on e, expiring at expiry. Precondition:
// r.mu.
func (e *fileLeases) addLease(h *Holder, id uint64, expiry time.Time) {
	e.leases = append(e.leases, heldLease{h: h, id: id, expiry: expiry})
}

// setLeases makes kept, a prefix of e.leases' array, e's leases, and
// clears the rest (no holder stays reachable from a dropped lease).
// Precondition: r.mu.
func (e *fileLeases) setLeases(kept []heldLease) {
	clear(e.leases[len(kept):])
	if len(kept) == 0 {
		// Back to inline: a heap array the key outgrew goes.
		kept = e.inline[:0]
	}
	e.leases = kept
}

// dropLease takes h's lease id off e, if it is there. Pruning forgets a
// holder's oldest leases first, at the front: in a long list (a large
// file's read windows) the front goes without moving the rest.
// Precondition: r.mu.
func (e *fileLeases) dropLease(h *Holder, id uint64) {
	ls := e.leases
	for i := range ls {
		if ls[i].id != id || ls[i].h != h {
			continue
		}
		switch {
		case len(ls) == 1:
			e.setLeases(ls[:0])
		case i == 0 && len(ls) > len(e.inline):
			ls[0] = heldLease{}
			e.leases = ls[1:]
		default:
			copy(ls[i:], ls[i+1:])
			e.setLeases(ls[:len(ls)-1])
		}
		return
	}
}

// dropHolderLocked takes h's leases off e, and off h (dropLocked), with
// no revocation. Preconditions: r.mu and h.mu.
func (e *fileLeases) dropHolderLocked(h *Holder) {
	kept := e.leases[:0]
	for _, l := range e.leases {
		if l.h == h {
			h.dropLocked(l.id)
			continue
		}
		kept = append(kept, l)
	}
	e.setLeases(kept)
}

// New returns an empty registry whose leases last ttl (DefaultTTL if 0).
func New(ttl time.Duration) *Registry {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Registry{ttl: ttl, now: time.Now, files: make(map[Key]*fileLeases), cycleCh: make(chan struct{})}
}

// SetClock replaces the registry's clock (tests).
func (r *Registry) SetClock(now func() time.Time) {
	r.mu.Lock()
	r.now = now
	r.mu.Unlock()
}

// clock returns the registry's time.
func (r *Registry) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now()
}

// TTL is the lifetime of a lease not renewed.
func (r *Registry) TTL() time.Duration { return r.ttl }

// Life is the longest a lease lives from its grant, renewed or not.
func (r *Registry) Life() time.Duration { return lifeTTLs * r.ttl }

// Renew extends every lease of h not revoked until a TTL from now (at
// most its life): the client's heartbeat arrived. The answer to it,
// sent after every revocation decided before (the server's send path
// takes them first), tells the client that its leases not revoked by
// then hold a TTL after it sent the heartbeat, which is no later than
// the server's renewal.
func (h *Holder) Renew() {
	now := h.reg.clock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.After(h.renewedAt) {
		h.renewedAt = now
	}
}

// expiryLocked is when a lease of h granted to expire at exp (one TTL
// after its grant) ends: the last renewal plus a TTL, if later, but no
// later than its life. Precondition: h.mu.
func (h *Holder) expiryLocked(exp time.Time) time.Time {
	if h.renewedAt.IsZero() {
		return exp
	}
	r := h.reg
	renewed := h.renewedAt.Add(r.ttl)
	if life := exp.Add(r.Life() - r.ttl); renewed.After(life) {
		renewed = life
	}
	if renewed.After(exp) {
		return renewed
	}
	return exp
}

// Holder is one client's side of the registry.
type Holder struct {
	reg *Registry
	// kick asks the server to send the queued revocations (Take); it
	// must not block. urgent false says they are all the holder's own
	// (Taken.Own): nothing waits for them, and the reply of the call
	// that made the change takes them along. Immutable.
	kick func(urgent bool)
	// serial orders holders for breaksCycle. Immutable.
	serial uint64
	// pathGrants count h's path grants by outcome. Atomic.
	pathGrants pathGrantCounts

	// mu protects the fields below.
	mu sync.Mutex
	// leases are the live leases' inodes by id (addLocked, dropLocked).
	leases map[uint64]Key
	// budgets are the leases of each budget, in the order granted, and
	// how many h holds (budget.go).
	budgets [numBudgets]budgetLeases
	// epoch numbers the revocations decided; queued are those not yet
	// taken for sending; acked is the highest the client acknowledged;
	// ackCh is closed (and replaced) at each acknowledgment.
	epoch  uint64
	queued []uint64
	acked  uint64
	ackCh  chan struct{}
	// queuedWaited says a queued revocation is not the holder's own: a
	// change of another client (which waits for the acknowledgment), a
	// release (kept until acknowledged), a change outside this server.
	queuedWaited bool
	// received is the highest epoch whose acknowledgment arrived
	// (Received), which Acked counts once the calls the client posted
	// before it ran; waitingFor counts, per holder, the changes of h's
	// client waiting for that holder's acknowledgment (finish).
	received   uint64
	waitingFor map[*Holder]int
	// unacked counts the revocations whose wait ended by expiry;
	// disabled refuses grants (beyond maxUnacked, or closed).
	unacked  int
	disabled bool
	// pausedUntil is when grants resume after PauseGrants.
	pausedUntil time.Time
	// renewedAt is when the client's last renewal arrived (Renew; zero:
	// none): every lease of h not revoked lives until renewedAt plus the
	// TTL, at most its life (expiryLocked).
	renewedAt time.Time
	// releases are the revocations that made room in a full budget
	// (releaseLocked), in epoch order: their leases stay (a change of
	// them still revokes and waits) until the client acknowledged them.
	releases []releasedLeases

	// idle are h's idle leases (idle.go), under their own lock.
	idle idleLeases
}

// releasedLeases are the leases of budget one release revoked
// (Holder.releases).
type releasedLeases struct {
	epoch  uint64
	budget budget
	ids    []uint64
}

// grantedLease is a lease's id and expiry (budgetLeases.granted).
type grantedLease struct {
	id     uint64
	expiry time.Time
}

// PauseGrants makes Disabled true for d: what a grant needs failed (the
// gofer is away), and trying again at once would only slow the calls
// that grant.
func (h *Holder) PauseGrants(d time.Duration) {
	now := h.reg.clock()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pausedUntil = now.Add(d)
}

// NewHolder returns a client's holder; kick is called (without locks
// held) when revocations are queued for it, urgent unless they are all
// the holder's own (Holder.kick).
func (r *Registry) NewHolder(kick func(urgent bool)) *Holder {
	r.mu.Lock()
	r.holders++
	serial := r.holders
	r.mu.Unlock()
	return &Holder{reg: r, kick: kick, serial: serial, leases: make(map[uint64]Key), ackCh: make(chan struct{})}
}

// Ticket is a grant in progress (Begin).
type Ticket struct {
	key     Key
	changes uint64
	ok      bool
}

// Begin starts a grant on k: the caller then reads what the lease
// carries and ends it with Grant or Abort. A change of k in between makes
// the grant fail.
func (r *Registry) Begin(k Key) Ticket {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entryLocked(k)
	e.pending++
	return Ticket{key: k, changes: e.changes, ok: true}
}

// Abort ends a grant begun with Begin without granting.
func (r *Registry) Abort(t Ticket) {
	if !t.ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.files[t.key]; e != nil {
		e.pending--
		r.gcLocked(t.key, e)
	}
}

// Grant ends t by granting h a lease on its file, whose data and
// attributes were read at version v after Begin. It fails (ok false) if
// the file changed since Begin, if h holds too many leases or may hold
// none. It returns the lease's id, h's revocation epoch, and the lease's
// expiry.
func (r *Registry) Grant(h *Holder, t Ticket, v Version) (id, epoch uint64, expiry time.Time, ok bool) {
	if !t.ok {
		return 0, 0, time.Time{}, false
	}
	var revoked []revocation
	defer func() { r.notify(revoked) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.files[t.key]
	if e == nil {
		return 0, 0, time.Time{}, false
	}
	e.pending--
	defer r.gcLocked(t.key, e)
	if e.changes != t.changes || e.changing > 0 {
		return 0, 0, time.Time{}, false
	}
	now := r.now()
	if r.liveLocked(e, now, nil) && e.version != v {
		// Granted at another version: the file changed outside this
		// server (it would have revoked them). The earlier holders
		// learn it now; this grant goes on.
		revoked = r.revokeLocked(nil, e, now, nil)
		e.changes++
		t.changes = e.changes
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disabled {
		return 0, 0, time.Time{}, false
	}
	if h.roomLocked(readBudget) <= 0 {
		r.pruneHolderLocked(h, now)
		if h.roomLocked(readBudget) <= 0 {
			if r.releaseLocked(h, readBudget, maxReadLeasesPerHolder/4) {
				revoked = addRevocation(revoked, revocation{h: h})
			}
			return 0, 0, time.Time{}, false
		}
	}
	r.nextID++
	id = r.nextID
	expiry = now.Add(r.ttl)
	e.addLease(h, id, expiry)
	e.version = v
	h.addLocked(id, t.key, expiry)
	return id, h.epoch, expiry, true
}

// Live returns the live lease of h on k that expires last, if any (the
// server then need not send the file again: another description of it
// may use that lease).
func (r *Registry) Live(h *Holder, k Key) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.files[k]
	if e == nil {
		return 0, false
	}
	now := r.now()
	var best uint64
	var last time.Time
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range e.leases {
		if l.h != h {
			continue
		}
		if exp := h.expiryLocked(l.expiry); now.Before(exp) && exp.After(last) {
			best, last = l.id, exp
		}
	}
	return best, best != 0
}

// liveLocked says whether e has a lease not yet expired of a holder
// other than except (nil: of any holder). Precondition: r.mu.
func (r *Registry) liveLocked(e *fileLeases, now time.Time, except *Holder) bool {
	for _, l := range e.leases {
		if l.h == except {
			continue
		}
		l.h.mu.Lock()
		live := now.Before(l.h.expiryLocked(l.expiry))
		l.h.mu.Unlock()
		if live {
			return true
		}
	}
	return false
}

// forgetLocked drops h's lease id, if h still holds it (a revocation
// took it off already). Preconditions: r.mu and h.mu.
func (r *Registry) forgetLocked(h *Holder, id uint64) {
	k, ok := h.dropLocked(id)
	if !ok {
		return
	}
	if e := r.files[k]; e != nil {
		e.dropLease(h, id)
		r.gcLocked(k, e)
	}
}

// gcLocked drops e (k's entry) when nothing is left in it, and keeps it
// for entryLocked to reuse. Precondition: r.mu.
func (r *Registry) gcLocked(k Key, e *fileLeases) {
	if e.pending == 0 && e.changing == 0 && len(e.leases) == 0 && r.files[k] == e {
		delete(r.files, k)
		if len(r.spare) < maxSpareEntries {
			r.spare = append(r.spare, e)
		}
	}
}

// revocation is what one holder must be told and waited for. own says
// the holder is the changing client (nothing waits for it). A change's
// revocations are one per holder (addRevocation).
type revocation struct {
	h      *Holder
	epoch  uint64
	expiry time.Time
	own    bool
}

// addRevocation adds rv to revs, merged into its holder's if revs has
// one: a change waits once per holder, for its latest epoch (an
// acknowledgment covers every epoch up to it) until its latest expiry,
// and kicks it once, urgent unless all of it is its own (a kick has all
// it queued sent). So a change of many keys collects as many
// revocations as holders, few: they fit an array on its stack.
func addRevocation(revs []revocation, rv revocation) []revocation {
	for i := range revs {
		if w := &revs[i]; w.h == rv.h {
			w.epoch = max(w.epoch, rv.epoch)
			if rv.expiry.After(w.expiry) {
				w.expiry = rv.expiry
			}
			w.own = w.own && rv.own
			return revs
		}
	}
	return append(revs, rv)
}

// revokeLocked takes every lease off e, queues their revocation on
// their holders and adds each holder's to out (addRevocation: a change
// of many keys collects them in one slice); self is the changing client
// (HolderOf of the change's context; nil: none), whose revocation is its
// own (Taken.Own). Precondition: r.mu.
func (r *Registry) revokeLocked(out []revocation, e *fileLeases, now time.Time, self *Holder) []revocation {
	return r.revokeButLocked(out, e, now, nil, self)
}

// revokeButLocked is revokeLocked but for the leases of holder keep
// (nil: none), which stay. Precondition: r.mu.
func (r *Registry) revokeButLocked(out []revocation, e *fileLeases, now time.Time, keep, self *Holder) []revocation {
	ls := e.leases
	for i := range ls {
		// Each holder's at its first lease; a nil holder is a lease
		// taken so.
		h := ls[i].h
		if h == nil || h == keep {
			continue
		}
		queued := 0
		var last time.Time
		h.mu.Lock()
		for j := i; j < len(ls); j++ {
			if ls[j].h != h {
				continue
			}
			// The expiry as renewed so far: a renewal after this one
			// no longer moves it (the lease is no longer h's).
			if exp := h.expiryLocked(ls[j].expiry); now.Before(exp) {
				h.queued = append(h.queued, ls[j].id)
				queued++
				if exp.After(last) {
					last = exp
				}
			}
			h.dropLocked(ls[j].id)
			ls[j].h = nil
		}
		if queued > 0 {
			h.epoch++
			own := h == self
			h.queuedWaited = h.queuedWaited || !own
			out = addRevocation(out, revocation{h: h, epoch: h.epoch, expiry: last, own: own})
		}
		h.mu.Unlock()
	}
	kept := ls[:0]
	for _, l := range ls {
		if l.h != nil {
			kept = append(kept, l)
		}
	}
	e.setLeases(kept)
	return out
}

// notify kicks the holders of revs (no lock held).
func (r *Registry) notify(revs []revocation) {
	for _, rv := range revs {
		if rv.h.kick != nil {
			rv.h.kick(!rv.own)
		}
	}
}

// Changed says that k's data or attributes changed through this server
// (or may have): every lease on it is revoked, and Changed returns once
// each holder acknowledged or its leases expired, except for the holder
// HolderOf(ctx) names (the caller's own client), whose revocation only
// has to be sent before the change's reply. It returns how many holders'
// waits ended by expiry (one wait per holder).
func (r *Registry) Changed(ctx context.Context, k Key) int {
	return r.ChangedMany(ctx, []Key{k})
}

// ChangedMany is Changed of each of inodes (a run of unlinks: rm -r's
// up to 256 of a directory), as one: under one lock, each inode its own
// path change (pathchanges.go: a path grant fails on the keys of the
// inodes revoked, as after one Changed each), then one wait per holder
// for all of its revocations (as one Changed's keys), where a Changed
// each took the lock, read the context and waited once an inode.
func (r *Registry) ChangedMany(ctx context.Context, inodes []Key) int {
	c := changeOf(ctx)
	// On the stack while they fit: nothing keeps them past finish.
	var buf [4]revocation
	revs := buf[:0]
	r.mu.Lock()
	now := r.now()
	for _, k := range inodes {
		// On the stack: changeKeysLocked keeps none of them.
		var kbuf [2 + numPathKinds]Key
		keys := append(kbuf[:0], k)
		if !isPathKey(k) {
			// Path keys name the inode number alone: a file of another
			// device with the same number only loses its answers too.
			keys = appendInodePathKeys(keys, k.Ino)
		}
		revs = r.changeKeysLocked(c, keys, now, revs)
	}
	r.mu.Unlock()
	return r.finish(ctx, revs)
}

// change is what a change's context says (changeOf): read once a change,
// not once a key (each a walk of the context's values).
type change struct {
	// self is HolderOf the context.
	self *Holder
	// ownedWrite: WithOwnedWrite marked it.
	ownedWrite bool
}

func changeOf(ctx context.Context) change {
	return change{self: HolderOf(ctx), ownedWrite: ownedWriteOf(ctx)}
}

// changeKeys revokes every lease on keys (see Changed) but the
// caller's own on a directory's complete names (PathComplete); a write
// through an owned claim's description that its holder applied to its
// copy (WithOwnedWrite) leaves the owned key (OwnedKey) alone.
func (r *Registry) changeKeys(ctx context.Context, keys []Key) int {
	r.mu.Lock()
	revs := r.changeKeysLocked(changeOf(ctx), keys, r.now(), nil)
	r.mu.Unlock()
	return r.finish(ctx, revs)
}

// changeKeysLocked is changeKeys' change, one path change (a log entry)
// for keys, under r.mu: it appends the revocations to wait for to revs.
// Precondition: r.mu.
func (r *Registry) changeKeysLocked(c change, keys []Key, now time.Time, revs []revocation) []revocation {
	r.notePathChangeLocked(c.self, keys, false)
	for _, key := range keys {
		e := r.files[key]
		if e == nil || (key.Dev == ownedDev && c.ownedWrite) {
			continue
		}
		e.changes++
		var keep *Holder
		if kind, ok := PathKindOf(key); ok && kind == PathComplete {
			keep = c.self
		}
		revs = r.revokeButLocked(revs, e, now, keep, c.self)
		r.gcLocked(key, e)
	}
	return revs
}

// appendInodePathKeys appends to keys the path keys of every kind of
// inode number ino, and its owned key (owned.go): every change of an
// inode revokes them.
func appendInodePathKeys(keys []Key, ino uint64) []Key {
	for kind := range numPathKinds {
		keys = append(keys, PathKey(kind, ino))
	}
	return append(keys, OwnedKey(ino))
}

// ChangedAll is Changed for every inode (a change whose inode the caller
// cannot tell).
func (r *Registry) ChangedAll(ctx context.Context) int {
	self := HolderOf(ctx)
	r.mu.Lock()
	var revs []revocation
	now := r.now()
	r.notePathChangeLocked(self, nil, true)
	for k, e := range r.files {
		e.changes++
		revs = r.revokeLocked(revs, e, now, self)
		r.gcLocked(k, e)
	}
	r.mu.Unlock()
	return r.finish(ctx, revs)
}

// Observed says that k's attributes are v (learnt from the gofer): if
// leases on k were granted at another version, the file changed outside
// this server, and they are revoked (as Changed).
func (r *Registry) Observed(ctx context.Context, k Key, v Version) int {
	r.mu.Lock()
	e := r.files[k]
	if e == nil || len(e.leases) == 0 || e.version == v {
		r.mu.Unlock()
		return 0
	}
	r.mu.Unlock()
	return r.Changed(ctx, k)
}

// finish sends revs and waits for their acknowledgments (see Changed).
func (r *Registry) finish(ctx context.Context, revs []revocation) int {
	if len(revs) == 0 {
		return 0
	}
	r.notify(revs)
	self := HolderOf(ctx)
	// One wait per holder (addRevocation): a change of several keys is
	// one revocation to wait for, not one per key.
	expired := 0
	for _, rv := range revs {
		h := rv.h
		if h == self {
			continue
		}
		self.noteWaiting(h, 1)
		if !h.wait(ctx, rv.epoch, rv.expiry, r, self) {
			expired++
		}
		self.noteWaiting(h, -1)
	}
	return expired
}

// wait waits until epoch is acknowledged (true) or expiry passes (false;
// the leases are void by then anyway).
func (h *Holder) wait(ctx context.Context, epoch uint64, expiry time.Time, r *Registry, self *Holder) bool {
	for {
		cycle := r.cycleWatch()
		h.mu.Lock()
		if h.acked >= epoch {
			h.mu.Unlock()
			return true
		}
		ch := h.ackCh
		h.mu.Unlock()
		if breaksCycle(self, h, epoch) {
			r.cyclesBroken.Add(1)
			return true
		}
		r.mu.Lock()
		left := expiry.Sub(r.now())
		r.mu.Unlock()
		if left <= 0 {
			break
		}
		var done <-chan struct{}
		if ctx != nil {
			done = ctx.Done()
		}
		t := time.NewTimer(left)
		select {
		case <-ch:
			t.Stop()
			continue
		case <-cycle:
			t.Stop()
			continue
		case <-t.C:
		case <-done:
			t.Stop()
		}
		break
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.acked >= epoch {
		return true
	}
	if h.unacked++; h.unacked >= maxUnacked {
		h.disabled = true
	}
	return false
}

// Taken is the revocations queued for a holder, as one LeaseRevoke: the
// latest epoch and every lease id. Own says they are all the holder's
// own (revoked by changes its client's calls made): no change waits for
// their acknowledgment, so the client need send none, and the reply of
// the call that made the change may carry them (it goes after the
// change was made, as every later message).
type Taken struct {
	Epoch uint64
	IDs   []uint64
	Own   bool
}

// Take returns the revocations queued for h (ok false when none is
// queued). The caller sends them before, or with, the next message to
// the client.
func (h *Holder) Take() (t Taken, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.queued) == 0 {
		return Taken{}, false
	}
	t = Taken{Epoch: h.epoch, IDs: h.queued, Own: !h.queuedWaited}
	h.queued, h.queuedWaited = nil, false
	return t, true
}

// Acked records the client's acknowledgment of every revocation up to
// epoch. An epoch never decided is ignored (a client cannot acknowledge
// ahead).
func (h *Holder) Acked(epoch uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if epoch <= h.acked || epoch > h.epoch {
		return
	}
	h.acked = epoch
	close(h.ackCh)
	h.ackCh = make(chan struct{})
}

// Disabled says whether h is granted no leases now (it left revocations
// unacknowledged, was closed, or its grants are paused).
func (h *Holder) Disabled() bool {
	now := h.reg.clock()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.disabled || now.Before(h.pausedUntil)
}

// Close drops h's leases (its client is gone): nothing waits for it any
// more, and it is granted none.
func (h *Holder) Close() {
	h.closeIdle()
	r := h.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, k := range h.leases {
		if e := r.files[k]; e != nil {
			// All of h's on k at once (the range skips those dropped).
			e.dropHolderLocked(h)
			r.gcLocked(k, e)
		}
		h.dropLocked(id)
	}
	h.budgets = [numBudgets]budgetLeases{}
	h.releases = nil
	h.disabled = true
	h.acked = h.epoch
	close(h.ackCh)
	h.ackCh = make(chan struct{})
}

// holderKey marks a context with the client whose call it serves.
type holderKey struct{}

// WithHolder returns ctx naming h as the client its calls serve.
func WithHolder(ctx context.Context, h *Holder) context.Context {
	return context.WithValue(ctx, holderKey{}, h)
}

// HolderOf returns the holder WithHolder put in ctx, or nil.
func HolderOf(ctx context.Context) *Holder {
	if ctx == nil {
		return nil
	}
	h, _ := ctx.Value(holderKey{}).(*Holder)
	return h
}
