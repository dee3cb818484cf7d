package readlease

// Two changes waiting for each other (breaksCycle).
//
// A holder's acknowledgment counts only once the calls its client posted
// before it ran (the server's glue: Received, then Acked). A posted call
// may itself be a change that waits for acknowledgments: client A's
// posted unlink of a file client B holds a lease on waits for B's, and
// B's posted unlink of a file A holds a lease on waits for A's. Each
// acknowledgment has arrived and is held behind its own client's posted
// change, which waits for the other's: without more, both wait until the
// leases expire. Creations in one directory never meet so (one client at
// a time posts them: OthersHold); changes of different files may.
//
// So a change of client A waiting for B's acknowledgment goes on without
// it when B's arrived (B's client dropped the revoked answers before it
// sent it), a change of B waits for A's acknowledgment, A's own arrived
// acknowledgment is held (by A's posted calls: this change, as far as
// the registry can tell), and A is the older holder: of the two changes,
// A's goes first, and B's follows once A's acknowledgment counts.

// Received records that the client's acknowledgment of every revocation
// up to epoch arrived; Acked counts it once the calls the client posted
// before it ran. Until then a change of another client waiting for this
// one may go on without it (breaksCycle).
func (h *Holder) Received(epoch uint64) {
	h.mu.Lock()
	if epoch > h.received && epoch <= h.epoch {
		h.received = epoch
	}
	h.mu.Unlock()
	h.reg.cycleChanged()
}

// noteWaiting counts a change of h's client that waits (d 1) or no
// longer waits (d -1) for o's acknowledgment. A nil h (a change no
// client made) counts nothing.
func (h *Holder) noteWaiting(o *Holder, d int) {
	if h == nil {
		return
	}
	h.mu.Lock()
	if h.waitingFor == nil {
		h.waitingFor = make(map[*Holder]int)
	}
	if h.waitingFor[o] += d; h.waitingFor[o] <= 0 {
		delete(h.waitingFor, o)
	}
	h.mu.Unlock()
	h.reg.cycleChanged()
}

// breaksCycle says whether a change of self's client, waiting for h's
// acknowledgment of epoch, goes on without it: h's has arrived, a change
// of h's client waits for self's, self's own arrived acknowledgment is
// held, and self is the older holder (see above). It takes h.mu, then
// self.mu, never both.
func breaksCycle(self, h *Holder, epoch uint64) bool {
	if self == nil || self == h || self.serial > h.serial {
		return false
	}
	h.mu.Lock()
	theirs := h.received >= epoch && h.waitingFor[self] > 0
	h.mu.Unlock()
	if !theirs {
		return false
	}
	self.mu.Lock()
	defer self.mu.Unlock()
	return self.received > self.acked
}

// cycleWatch returns a channel closed at the next change of what
// breaksCycle reads.
func (r *Registry) cycleWatch() <-chan struct{} {
	r.cycleMu.Lock()
	defer r.cycleMu.Unlock()
	return r.cycleCh
}

// cycleChanged wakes the waits watching (cycleWatch).
func (r *Registry) cycleChanged() {
	r.cycleMu.Lock()
	close(r.cycleCh)
	r.cycleCh = make(chan struct{})
	r.cycleMu.Unlock()
}
