// Package replay is the remote sentry's replay capture: it collects which
// objects' replay records changed and turns them into the StateRecords
// sent to the client (sentry.proto's Recovery section, docs/ARCHITECTURE.md
// "Recovery").
//
// Kernel objects only say that they changed: Tracker.Touch(order, obj).
// Nothing is built at that moment. When the server next sends the client
// a message (a reply, or a push preceded by a StateUpdate), it takes the
// touched objects (Tracker.Take) and derives each one's record from the
// object's state at that moment, in one place: the Deriver the server
// passes to Collection.Derive. So an object changed twice between two
// messages is reported once, with its latest value, and the records of a
// message never lag behind what the message itself reveals.
//
// An object's derivation may need another object's record in the same
// message (the first record of an fd names a file description the client
// has not seen; a file's names its pipe): the Deriver touches it on the
// Collection, and objects are derived in ascending Order until none is
// left. The records are then put in a fixed order (pipes, files, fds,
// the rest; the id allocators' record last) that a reader folding them
// one by one could rely on; the client folds a whole message first.
//
// Effects of one call that must be committed with that call's own reply
// (pipe and socketpair counters, retained writes; a re-sent call must not apply twice)
// are registered per seq (SetEffects) and handed back by Take for that
// reply only, or by TakeEffects for a reply held back to go out with a
// later message (a batch of posted replies), whose touched objects that
// message's Take reports once for the whole batch, or by TakeEffectsIf
// for a caller that commits them itself with no record of their own (a
// posted write's packed reply, whose write record the client makes).
// Their type is the server's (the E of Tracker[E]).
//
// The Tracker also allocates the ids of objects that have no natural
// number (files, fd tables, fs contexts, signal handler tables, pipes):
// NewID, BumpID after a Restore, and a flag (IDsChanged) that makes the
// next message carry the allocators' record. That record reserves ids
// ahead (ReserveIDs: a restored server allocates past them), so a new
// object's id sets the flag only once the reserve is used up, not per
// object.
//
// What it owns: the set of touched objects, the per-call effects until
// their reply, the id allocator. A message's buffers (its touched set and
// the records being built) are the last message's, handed back by Derive:
// a message allocates only the records and the slice Derive returns. It does not know the server's types: an
// object is any comparable value (a pointer to a kernel object, or a key
// type), and the record of an object is the Deriver's.
//
// Dependencies: proto/sentrypb and sentry/statekey only; the flat server
// package implements Deriver. Lower layers of the server never import it.
//
// Lock order: Tracker.mu is a leaf lock (taken by Touch from anywhere,
// with any server lock held). Derive runs without it, under the locks
// the caller's Deriver needs (the server holds kernel.Kernel.sendMu and
// kernel.Kernel.Mu).
package replay
