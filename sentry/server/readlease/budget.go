package readlease

import "time"

// A holder's leases are counted in two budgets, each bounded apart.
//
// Read leases (a file's data and attributes, and owned leases: data the
// client keeps) and path leases (a path's answer, a listing's entries)
// grow at different rates: make's lookups, and the listings that come
// with cold ones, bring thousands of path leases a second, while a client
// holds a read lease per file it reads, a few hundred. Counted together,
// the path leases filled the table a read grant checked (4,096) and each
// read grant then failed and released the oldest quarter of everything,
// path answers the client asked for among them. Counted apart, a full
// budget releases only its own oldest leases: a listing never costs a
// read lease, nor a read lease a path answer.
//
// A holder holds at most maxReadLeasesPerHolder + maxPathLeasesPerHolder
// leases (36,864; those released count until acknowledged).

// budget is a kind of lease counted against its own bound (budgetOf).
type budget uint8

const (
	// readBudget: read leases (Grant) and owned leases (Owned.Grant).
	readBudget budget = iota
	// pathBudget: path leases (GrantPath).
	pathBudget
	numBudgets
)

// maxReadLeasesPerHolder bounds one client's read and owned leases (a
// read grant beyond it is refused once expired leases are pruned, and
// releases the oldest quarter of them).
const maxReadLeasesPerHolder = 4096

// budgetLimits are the budgets' bounds.
var budgetLimits = [numBudgets]int{readBudget: maxReadLeasesPerHolder, pathBudget: maxPathLeasesPerHolder}

// budgetOf returns the budget a lease on k counts against.
func budgetOf(k Key) budget {
	if isPathKey(k) {
		return pathBudget
	}
	return readBudget
}

// budgetLeases are a holder's leases of one budget (Holder.budgets).
// Protected by Holder.mu (and Registry.mu where the holder's leases are
// changed: every caller holds both).
type budgetLeases struct {
	// held counts the holder's leases (Holder.leases) of this budget,
	// released ones included until forgotten.
	held int
	// granted are the leases in the order granted, which is the order
	// of their expiry (one TTL): pruneHolderLocked forgets the expired
	// ones from the front (those revoked since are skipped then);
	// released counts the front a release took (releaseLocked).
	granted  []grantedLease
	released int
}

// roomLocked says how many more leases of b h may hold. Precondition:
// h.mu.
func (h *Holder) roomLocked(b budget) int {
	return budgetLimits[b] - h.budgets[b].held
}

// addLocked records h's new lease id on k, expiring at expiry.
// Precondition: h.mu.
func (h *Holder) addLocked(id uint64, k Key, expiry time.Time) {
	h.leases[id] = k
	bl := &h.budgets[budgetOf(k)]
	bl.held++
	bl.granted = append(bl.granted, grantedLease{id, expiry})
}

// dropLocked takes lease id off h's leases (its entry in granted goes
// when pruned), if h holds it, and returns its key. Precondition: h.mu.
func (h *Holder) dropLocked(id uint64) (Key, bool) {
	k, ok := h.leases[id]
	if ok {
		delete(h.leases, id)
		h.budgets[budgetOf(k)].held--
	}
	return k, ok
}

// PathRoom says how many more path leases h may hold before a path
// grant releases its oldest (maxPathLeasesPerHolder), counting those it
// holds now (expired ones too, until a grant prunes them). Read leases
// do not count: they have a budget of their own.
func (h *Holder) PathRoom() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.roomLocked(pathBudget)
}

// pruneHolderLocked forgets h's expired leases, those at the front of
// each budget's granted (so that it costs the leases it forgets, not
// those h holds: a find holds two per file listed in the last second;
// renewals move every expiry alike, so the order stays), and the
// released ones the client acknowledged. Preconditions: r.mu and h.mu.
func (r *Registry) pruneHolderLocked(h *Holder, now time.Time) {
	for len(h.releases) > 0 && h.releases[0].epoch <= h.acked {
		for _, id := range h.releases[0].ids {
			r.forgetLocked(h, id)
		}
		h.releases = h.releases[1:]
	}
	for b := range h.budgets {
		bl := &h.budgets[b]
		n := 0
		for ; n < len(bl.granted); n++ {
			id := bl.granted[n].id
			if _, ok := h.leases[id]; ok && now.Before(h.expiryLocked(bl.granted[n].expiry)) {
				break
			}
			r.forgetLocked(h, id)
		}
		bl.granted = bl.granted[n:]
		bl.released = max(0, bl.released-n)
	}
}

// releaseLocked makes room in h's full budget b: it revokes h's n oldest
// leases of b not released yet, which stay (a change of their files
// still revokes them and waits) until the client acknowledges;
// pruneHolderLocked then forgets them. It says whether it queued a
// revocation (the caller kicks h once unlocked). One release per budget
// at a time: while one is not acknowledged, the grants that find the
// budget full only fail. Preconditions: r.mu and h.mu.
func (r *Registry) releaseLocked(h *Holder, b budget, n int) bool {
	for _, rl := range h.releases {
		if rl.budget == b {
			return false
		}
	}
	bl := &h.budgets[b]
	var ids []uint64
	for ; bl.released < len(bl.granted) && len(ids) < n; bl.released++ {
		id := bl.granted[bl.released].id
		if _, ok := h.leases[id]; ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return false
	}
	h.epoch++
	h.queued = append(h.queued, ids...)
	h.queuedWaited = true
	h.releases = append(h.releases, releasedLeases{epoch: h.epoch, budget: b, ids: ids})
	return true
}
